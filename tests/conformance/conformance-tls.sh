#!/bin/sh
# The conformance suite against apitokend over HTTPS (issuer https://...).
CONFORMANCE_TLS=1
. "$top_srcdir/tests/conformance/conformance.sh"
