#!/usr/bin/env bash
# The README's main job. Today: sets up the machine, builds the router-image payload for
# amd64 and arm64 (release: optimised, stripped, static but for glibc) and says where it is.
set -euo pipefail
cd "$(dirname "$0")/.."

tools/bootstrap.sh

for arch in amd64 arm64; do
  flags=(--config=release)
  [[ $arch == arm64 ]] && flags+=(--config=arm64)
  bazel build "${flags[@]}" //tools:payload //bpf:tcflow
  bin=$(bazel info "${flags[@]}" bazel-bin 2>/dev/null)
  mkdir -p "dist/$arch"
  cp -f "$bin/tools/tcflow-payload.tar" "dist/$arch/tcflow-payload.tar"
  tools/release_report.sh "$arch" "dist/$arch/tcflow-payload.tar"
done

echo
echo "Router-image payloads (extract into the image's root; usr/sbin/{tcflow,flowctl,tcflowd}):"
for arch in amd64 arm64; do
  echo "  $PWD/dist/$arch/tcflow-payload.tar"
done
echo "The BPF object (the same for both; it is also embedded in the binary):"
echo "  $(bazel info --config=release bazel-bin 2>/dev/null)/bpf/tcflow.bpf.o"
