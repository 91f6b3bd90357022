#!/bin/sh
# The alert rules are valid (promtool check rules) and every alert behaves as its unit tests
# say (promtool test rules). Arguments: the rules file, the unit-test file.
set -eu
PROMTOOL=${PROMTOOL:-/usr/bin/promtool}
if [ ! -x "$PROMTOOL" ]; then
  echo "FAIL: $PROMTOOL missing (Debian package prometheus; tools/bootstrap.sh installs it)" >&2
  exit 1
fi
rules=$1
tests=$2
"$PROMTOOL" check rules "$rules"
# promtool resolves rule_files relative to the test file; both sit side by side in runfiles.
"$PROMTOOL" test rules "$tests"
# Every alert in the rules has at least one test case in the unit tests.
for alert in $(sed -n 's/^ *- alert: *\([A-Za-z0-9_]*\).*/\1/p' "$rules"); do
  if ! grep -q "alertname: $alert\$" "$tests"; then
    echo "FAIL: alert $alert has no unit test in $tests" >&2
    exit 1
  fi
done
echo "PASS"
