#!/bin/sh
# tests/gpu/prepare.sh: builds the GPU test programs and dscoder-engine for one architecture on this
# machine (nvcc needs no GPU) and gathers them and the libraries a bare GPU machine may lack (jansson,
# PCRE2) in build-gpu/ (ignored by git; the fixtures travel with the tree), for a GPU machine that has the
# CUDA toolkit but not this project's build dependencies. Then, on the GPU machine, from the root:
#     OUT=... bash tests/gpu/device-check.sh      (with build-gpu carried along)
# Usage: sh tests/gpu/prepare.sh [ARCH]   (default 90: H100/H200)
set -eu
arch=${1:-90}
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${DC_PREP_BUILD:-$root/../build-cuda-sm$arch}
dest=$root/build-gpu
progs="dscoder-engine tests/test-cuda-kernels tests/test-cuda-forward tests/test-forward tests/test-nccl tests/f32-maxdiff
	tests/test-batch tests/f32-compare"

[ -x "$root/configure" ] || (cd "$root" && autoreconf -fi)
mkdir -p "$build"
cd "$build"
[ -f Makefile ] || "$root/configure" -q --with-cuda --with-cuda-arch="$arch"
# only the programs this tree has (test-cuda-forward comes with the backend selection)
have=""
for p in $progs; do make -n "$p" >/dev/null 2>&1 && have="$have $p"; done
progs=$have
make -j2 $progs
rm -rf "$dest"
mkdir -p "$dest/bin/tests" "$dest/lib"
for p in $progs; do cp "$p" "$dest/bin/$p"; done
# shared libraries outside the CUDA toolkit and glibc that the programs need (jansson, PCRE2, libcurl
# and what it links, libmicrohttpd, ...): everything but the C library's own and the GPU's
ldd "$dest"/bin/dscoder-engine "$dest"/bin/tests/* | awk '/=>/ { print $3 }' | sort -u | while read -r lib; do
	case $lib in
	*/libc.so* | */libm.so* | */libpthread.so* | */libdl.so* | */librt.so* | */libresolv.so* | */ld-linux* | *libcuda* | \
	*libcublas* | *libnccl* | *libnvidia* | */libgcc_s* | */libstdc++*) ;;
	/*) cp -L "$lib" "$dest/lib/" ;;
	esac
done
git -C "$root" rev-parse --short HEAD >"$dest/commit" 2>/dev/null || true
du -sh "$dest"
