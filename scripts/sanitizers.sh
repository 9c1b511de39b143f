#!/usr/bin/env bash
# Runs the socket-layer tests (unit and lab) against an AddressSanitizer + UBSan build of the
# native addon. A finding aborts the process under test, so the run fails. Run as root (the lab
# part uses raw sockets and namespaces); .ci/run calls it after npm test.
#
# The build goes to build/asan/vipd_native.node (gcc, the same flags as binding.gyp plus the
# sanitizers); the tests load it through VIPD_NATIVE_ADDON. Node itself is not instrumented, so
# the runtimes are preloaded, and leak checking is off (V8's own allocations are not ours).
set -euo pipefail
root=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
cd "$root"
nodedir=${npm_config_nodedir:-$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")}
[[ -f $nodedir/include/node/node_api.h ]] || {
  echo "sanitizers: no Node headers in $nodedir/include/node (set npm_config_nodedir)" >&2
  exit 1
}
for lib in libasan.so libubsan.so; do
  [[ -f $(gcc -print-file-name=$lib) ]] || {
    echo "sanitizers: gcc has no $lib (Debian: libgcc-12-dev, part of build-essential)" >&2
    exit 1
  }
done
mkdir -p build/asan
gcc -std=gnu11 -shared -fPIC -O1 -g -fno-omit-frame-pointer \
  -fsanitize=address,undefined -fno-sanitize-recover=undefined \
  -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers -fvisibility=hidden \
  -DNAPI_VERSION=8 -I"$nodedir/include/node" native/vipd_native.c -o build/asan/vipd_native.node
export VIPD_NATIVE_ADDON=$root/build/asan/vipd_native.node
export LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so)"
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:halt_on_error=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
exec npx vitest run test/unit/sys test/lab/sys-socket.test.ts "$@"
