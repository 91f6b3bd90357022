#!/usr/bin/env bash
# Runs every test of tcflow on a Debian 12 machine, as root. Sets up what it needs first.
#   - all tests on this machine's kernel (unit tests, then the BPF verifier and namespace
#     tests one at a time);
#   - the arm64 build, and the arm64 unit tests under qemu-user;
#   - the release payload of both architectures: no exec imports, within the size budget.
set -euo pipefail
cd "$(dirname "$0")/.."

tools/bootstrap.sh

bazel_flags=()
if [[ -n ${CI:-} ]]; then
  bazel_flags+=(--color=no --curses=no --show_progress_rate_limit=60)
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
run() {
  echo "+ bazel $*"
  bazel "$@" 2>&1 | tee -a "$log" || status=1
}

# Unit tests in parallel; then the kernel tests one at a time, so timing-sensitive checks
# (idle timeouts, hot-plug within 1 s, concurrent drains) do not compete with each other
# for the machine's cores.
run test "${bazel_flags[@]}" --test_tag_filters=-kernel //...
run test "${bazel_flags[@]}" --test_tag_filters=kernel --local_test_jobs=1 //...
run test "${bazel_flags[@]}" --config=arm64 //...
# The router payload itself: no exec-family import in the release binaries of both arches.
run test "${bazel_flags[@]}" --config=release //tests:netlink_noexec_test
run test "${bazel_flags[@]}" --config=release --config=arm64 //tests:netlink_noexec_test
run build "${bazel_flags[@]}" --config=release //tools:payload
tools/release_report.sh amd64 "$(bazel info --config=release bazel-bin)/tools/tcflow-payload.tar" || status=1
run build "${bazel_flags[@]}" --config=release --config=arm64 //tools:payload
tools/release_report.sh arm64 \
  "$(bazel info --config=release --config=arm64 bazel-bin)/tools/tcflow-payload.tar" || status=1

# One closing line for the whole run, counted from Bazel's per-test result lines.
passed=$(grep -cE '^//\S+\s+(\(cached\) )?PASSED' "$log" || true)
failed=$(grep -cE '^//\S+\s+(FAILED|TIMEOUT|NO STATUS|FAILED TO BUILD)' "$log" || true)
echo "$passed passed, $failed failed"
exit "$status"
