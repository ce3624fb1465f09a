#!/usr/bin/env bash
# Builds vibee's `cuda` feature on a machine without the LLVM 23 bundle.
#
# cubecl-cuda 0.11.3 always compiles its LLVM (pliron → NVPTX) backend beside the CUDA C++
# one, and that backend's build script links LLVM 23 from `tracel-llvm-bundler`, which it
# downloads from github.com; Debian ships LLVM ≤ 22. vibee selects the C++ backend
# (`cubecl/cuda-cpp`: kernels go to NVRTC at run time), which never calls LLVM. This script
# builds with `DOCS_RS=1` (the two build scripts then skip LLVM) and links every binary
# against stubs of the LLVM C API symbols the unused backend's crates reference: a stub that
# is ever called prints its name and aborts. Use it for device checks, not for releases.
#
# Usage: scripts/cuda_nvrtc_build.sh <cargo build target selectors>...
#   e.g. scripts/cuda_nvrtc_build.sh --example kernels --test device_program
# Binaries land in $CARGO_TARGET_DIR (default /var/tmp/vibee-cuda-target)/release. The
# linker wrapper is part of every crate's fingerprint: keep this target dir for this script.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { echo "usage: $0 --example NAME | --test NAME ..." >&2; exit 2; }
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/vibee-cuda-target}"
export DOCS_RS=1
stubs="$CARGO_TARGET_DIR/llvm-stubs"
mkdir -p "$stubs"
cat > "$stubs/cc-with-stubs" <<EOF
#!/bin/sh
# Links with the LLVM stubs once they exist; before that, leaves LLVM symbols unresolved.
if [ -f "$stubs/stubs.o" ]; then exec cc "\$@" "$stubs/stubs.o"; fi
exec cc "\$@" -Wl,--unresolved-symbols=ignore-all
EOF
chmod +x "$stubs/cc-with-stubs"
export CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER="$stubs/cc-with-stubs"
build() { cargo build --release --features wgpu,cuda "$@"; }

if [ ! -f "$stubs/stubs.o" ]; then
  build "$@"
  deps="$CARGO_TARGET_DIR/release/deps"
  {
    echo '#include <stdio.h>'
    echo '#include <stdlib.h>'
    echo 'static void missing(const char *name) {'
    echo '  fprintf(stderr, "LLVM symbol %s called in a build without LLVM\n", name);'
    echo '  abort();'
    echo '}'
    nm -u "$deps"/libcubecl_llvm-*.rlib "$deps"/libpliron_llvm-*.rlib "$deps"/libllvm_sys-*.rlib \
      2>/dev/null | awk '{print $2}' | grep -E '^(LLVM|cubecl_)' | sort -u |
      while read -r sym; do echo "void $sym(void) { missing(\"$sym\"); }"; done
  } > "$stubs/stubs.c"
  cc -O1 -fPIC -c "$stubs/stubs.c" -o "$stubs/stubs.o"
  # Relink what the first pass linked without the stubs.
  rm -f "$CARGO_TARGET_DIR"/release/examples/* "$CARGO_TARGET_DIR"/release/vibee
  find "$CARGO_TARGET_DIR/release/deps" -maxdepth 1 -type f -executable ! -name '*.*' -delete
fi
build "$@"
