#!/usr/bin/env bash
# Prints what a release payload puts on a router (size, the shared libraries it still needs)
# and fails when it is over the budget: all of tcflow's run-time files <= 4 MiB per arch.
#   tools/release_report.sh ARCH PAYLOAD.tar
set -euo pipefail
arch=$1
payload=$2
budget=$((4 * 1024 * 1024))

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
tar -C "$dir" -xf "$payload"
bin=$dir/usr/sbin/tcflow
total=$(find "$dir" -type f -printf '%s\n' | awk '{s += $1} END {print s}')
needed=$(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')
echo "release $arch: $(file -b "$bin" | cut -d, -f1-2)"
echo "release $arch: tcflow $(stat -c %s "$bin") bytes stripped; all run-time files $total bytes" \
     "(budget $budget); needs: $needed"
if ((total > budget)); then
  echo "release $arch: OVER BUDGET by $((total - budget)) bytes" >&2
  exit 1
fi
