# Sourced by the benchmarks that use the test helpers, after they set
# $here (their own folder), with their BUILD_DIR argument:
#     . "$here/bench-dirs.sh" "${1:-}"
# The build folder is that argument, else $top_builddir, else the current
# folder; both folders are exported for tests/lib.sh, then sourced.
top_srcdir=${top_srcdir:-$(cd "$here/../.." && pwd)}
top_builddir=${1:-${top_builddir:-$(pwd)}}
top_builddir=$(cd "$top_builddir" && pwd) || exit 1
export top_srcdir top_builddir
. "$top_srcdir/tests/lib.sh"
