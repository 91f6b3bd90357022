#!/bin/sh
# --run_under wrapper: runs an aarch64 test binary with qemu-user. The :arm64 multiarch
# packages put ld-linux-aarch64.so.1 and the libraries where the binary expects them.
exec /usr/bin/qemu-aarch64-static "$@"
