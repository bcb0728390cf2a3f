#!/usr/bin/env bash
# Install the Debian 12 packages apitoken needs to build, test and run.
# Installs only what is missing; needs root (or sudo) only then.
set -euo pipefail

packages=(
	build-essential autoconf automake libtool pkg-config
	libssl-dev zlib1g-dev libcjson-dev libdb-dev check libmicrohttpd-dev
	libcurl4-openssl-dev liboauth2-dev libpam0g-dev
	curl ca-certificates openssl python3 python3-aiosmtpd
	libpam-wrapper libpamtest0-dev pamtester
	apache2 libapache2-mod-oauth2 libapache2-mod-auth-openidc
	wrk valgrind clang-format strace
	libbsd-dev clang libclang-rt-14-dev
	chromium apache2-utils
	libcjose-dev python3-jwt python3-cryptography
	libsystemd-dev
)
# The browser tests' npm packages (tests/web/) need Node.js and npm.  A
# machine may already have both from elsewhere (NodeSource's nodejs ships
# npm and conflicts with Debian's npm package): take Debian's only if the
# commands are missing.
command -v node >/dev/null 2>&1 || packages+=(nodejs)
command -v npm >/dev/null 2>&1 || packages+=(npm)

missing=()
for p in "${packages[@]}"; do
	# A Node.js that brings its own npm (NodeSource's nodejs) conflicts
	# with Debian's npm package: only the command is needed.
	if [ "$p" = npm ] && command -v npm >/dev/null 2>&1; then
		continue
	fi
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[ "$status" = "install ok installed" ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing: ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
