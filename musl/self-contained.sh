#!/bin/sh
# Gathers, from Debian packages, what rustup's musl target ships as its
# "self-contained" objects, into DIR (rustc finds them there with -L, or in
# lib/rustlib/TARGET/lib/self-contained of its sysroot):
#
#   musl/self-contained.sh x86_64-unknown-linux-musl DIR
#
#   rcrt1.o crt1.o crti.o crtn.o libc.a   musl-dev (musl-dev:arm64 for aarch64), and its
#   libdl.a libpthread.a                  empty archives, which LLVM libunwind asks for (lld)
#   crtbeginS.o crtendS.o crtbegin.o ...  gcc (gcc-aarch64-linux-gnu for aarch64 on amd64)
#   libunwind.a                           LLVM's, libunwind-14-dev (for a foreign
#                                         architecture unpacked into
#                                         /usr/lib/llvm-14/lib/ARCH/, as the two
#                                         cannot be installed side by side)
# gcc's libgcc_eh cannot stand in for libunwind: it needs glibc's
# _dl_find_object. Fails, naming the file, if one is missing.
set -eu
target=${1:?usage: $0 ARCH-unknown-linux-musl DIR}
dir=${2:?usage: $0 ARCH-unknown-linux-musl DIR}
arch=${target%%-*}
case $arch in
x86_64 | aarch64) ;;
*) echo "self-contained.sh: unsupported target $target" >&2; exit 2 ;;
esac

musl=/usr/lib/$arch-linux-musl
if [ "$arch" = "$(uname -m)" ]; then
    gcc=$(dirname "$(gcc -print-libgcc-file-name)")
    unwind=/usr/lib/llvm-14/lib/libunwind.a
else
    gcc=$(dirname "$("$arch-linux-gnu-gcc" -print-libgcc-file-name)")
    unwind=/usr/lib/llvm-14/lib/$arch/libunwind.a
fi

mkdir -p "$dir"
for file in "$musl/rcrt1.o" "$musl/crt1.o" "$musl/crti.o" "$musl/crtn.o" "$musl/libc.a" "$musl/libdl.a" "$musl/libpthread.a" \
    "$gcc/crtbeginS.o" "$gcc/crtendS.o" "$gcc/crtbegin.o" "$gcc/crtend.o" "$unwind"; do
    [ -f "$file" ] || { echo "self-contained.sh: $file not found" >&2; exit 1; }
    cp -L "$file" "$dir/"
done
