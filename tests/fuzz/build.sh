#!/bin/sh
# Build the libFuzzer targets of tests/fuzz/ with clang (ASan + UBSan +
# libFuzzer).  Needs a configured build folder for config.h.
#
# usage: tests/fuzz/build.sh [BUILD_DIR [OUT_DIR]]
#   BUILD_DIR  a folder where configure ran (default: $top_builddir, or .)
#   OUT_DIR    where the fuzzers go (default: BUILD_DIR/tests/fuzz/bin)
#   CC         clang (default: clang)
# Prints the list of targets built.  Exit 77 if clang or libFuzzer is
# missing (apt-get install clang libclang-rt-14-dev).
set -eu
src=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-${top_builddir:-.}}" && pwd)
out=${2:-$build/tests/fuzz/bin}
CC=${FUZZ_CC:-clang}
[ -f "$build/config.h" ] || { echo "no config.h in $build (run configure)" >&2; exit 2; }
command -v "$CC" >/dev/null 2>&1 || { echo "no $CC" >&2; exit 77; }
mkdir -p "$out/obj"
probe="$out/obj/probe"
printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n)\n{ (void)d; (void)n; return 0; }\n' >"$probe.c"
"$CC" -fsanitize=fuzzer,address,undefined "$probe.c" -o "$probe" \
	>/dev/null 2>&1 || { echo "$CC cannot link libFuzzer" >&2; exit 77; }

pc="libcjson libmicrohttpd libcrypto libssl zlib liboauth2 libcurl"
cflags="-g -O1 -fno-omit-frame-pointer -std=c11 -Wall -Wextra -Werror
	-Wno-unused-command-line-argument
	-fsanitize=address,undefined -fno-sanitize-recover=undefined
	-I$build -I$src/core/include -I$src/plugin/include
	$(pkg-config --cflags $pc)"
libs="$(pkg-config --libs $pc) -ldb -lpthread"

# The code under test, instrumented for coverage but without a main.
# (Every core/*.c: the harnesses link what libapitoken holds.)
lib_srcs="$(cd "$src" && ls core/*.c) introspect/form.c
	introspect/local_request.c introspect/uses_batch.c
	plugin/options.c plugin/local.c
	plugin/remote.c plugin/validate.c"
objs=
for s in $lib_srcs; do
	o="$out/obj/$(echo "$s" | tr / _ | sed 's/\.c$/.o/')"
	if [ ! -f "$o" ] || [ "$src/$s" -nt "$o" ]; then
		# shellcheck disable=SC2086
		"$CC" $cflags -fsanitize=fuzzer-no-link -c "$src/$s" -o "$o"
	fi
	objs="$objs $o"
done
rm -f "$out/obj/libunder.a"
# shellcheck disable=SC2086
ar rcs "$out/obj/libunder.a" $objs

for h in "$src"/tests/fuzz/fuzz_*.c; do
	name=$(basename "$h" .c)
	# shellcheck disable=SC2086
	"$CC" $cflags -fsanitize=fuzzer "$h" "$out/obj/libunder.a" $libs \
		-o "$out/$name"
	echo "$name"
done
