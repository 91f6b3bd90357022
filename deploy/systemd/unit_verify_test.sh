#!/bin/bash
# systemd-analyze verify on deploy/systemd/tcflowd.service (and with the netns drop-in).
# The unit names /usr/sbin/tcflow, which a build machine does not have: verify checks that
# ExecStart's binary exists, so the file is verified as shipped (the only complaint allowed
# is that missing binary) and as a copy pointing at the built binary (no complaint at all).
# Also: systemd-analyze security --offline rates the sandbox.
set -u
unit="$1" dropin="$2" tcflow="$(readlink -f "$3")"
tmp="${TEST_TMPDIR:-$(mktemp -d)}/systemd"
rm -rf "$tmp" && mkdir -p "$tmp/tcflowd.service.d"
fail=0

grep -qx 'Type=notify' "$unit" || { echo "FAIL: not Type=notify"; fail=1; }
grep -qx 'ExecReload=/usr/sbin/tcflow flowctl reload' "$unit" || { echo "FAIL: ExecReload"; fail=1; }
grep -qx 'Restart=on-failure' "$unit" || { echo "FAIL: Restart"; fail=1; }

# As shipped.
out=$(systemd-analyze verify "$unit" 2>&1)
rest=$(printf '%s\n' "$out" | grep -v '^$' | grep -v 'Command /usr/sbin/tcflow is not executable')
if [ -x /usr/sbin/tcflow ]; then rest="$out"; fi
if [ -n "$rest" ]; then echo "FAIL: verify (as shipped) says:"; echo "$rest"; fail=1; fi

# With the built binary.
sed "s|/usr/sbin/tcflow|$tcflow|g" "$unit" > "$tmp/tcflowd.service"
out=$(cd "$tmp" && systemd-analyze verify ./tcflowd.service 2>&1)
rc=$?
if [ $rc -ne 0 ] || [ -n "$out" ]; then echo "FAIL: verify rc=$rc:"; echo "$out"; fail=1; fi
cp "$dropin" "$tmp/tcflowd.service.d/netns.conf"
out=$(cd "$tmp" && systemd-analyze verify ./tcflowd.service 2>&1)
rc=$?
if [ $rc -ne 0 ] || [ -n "$out" ]; then echo "FAIL: verify with drop-in rc=$rc:"; echo "$out"; fail=1; fi
# The drop-in verified on its own as a unit fragment too (a [Service]-only file).
cp "$dropin" "$tmp/dropin.service"
printf 'ExecStart=%s tcflowd\n' "$tcflow" >> "$tmp/dropin.service"
out=$(cd "$tmp" && systemd-analyze verify ./dropin.service 2>&1)
rc=$?
if [ $rc -ne 0 ] || [ -n "$out" ]; then echo "FAIL: drop-in as a unit rc=$rc:"; echo "$out"; fail=1; fi

# Sandbox rating: 0 (locked down) .. 10 (exposed); ours must stay "OK" (below 5).
sec=$(cd "$tmp" && systemd-analyze security --offline=yes --no-pager ./tcflowd.service 2>&1)
level=$(printf '%s\n' "$sec" | sed -n 's/.*Overall exposure level for tcflowd.service: \([0-9.]*\).*/\1/p')
echo "systemd-analyze security: exposure $level"
if [ -z "$level" ] || ! awk -v l="$level" 'BEGIN { exit !(l < 5.0) }'; then
  echo "FAIL: exposure level '$level'"; printf '%s\n' "$sec" | tail -20; fail=1
fi
[ $fail -eq 0 ] && echo PASS
exit $fail
