#!/bin/sh
# The DaemonSet passes daemonset_check.py; broken copies of it are refused for the right
# reasons, so the check itself is known to bite.
# Arguments: daemonset_check.py, tcflow-daemonset.yaml, tcflowd.service, the tcflow binary.
set -eu
PY=/usr/bin/python3
check=$1 manifest=$2 unit=$3 tcflow=$4
"$PY" "$check" "$manifest" "$unit" "$tcflow"
tmp=${TEST_TMPDIR:-/tmp}
fail=0
# expect MUTATION WORDS...: the check fails and its output mentions WORDS.
expect() {
  name=$1; shift
  "$PY" - "$manifest" "$tmp/broken.yaml" "$name" <<'PYEOF'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
kind = {d["kind"]: d for d in docs}
c = kind["DaemonSet"]["spec"]["template"]["spec"]["containers"][0]
m = sys.argv[3]
if m == "extra_cap":
    c["securityContext"]["capabilities"]["add"].append("SYS_ADMIN")
elif m == "privileged":
    c["securityContext"]["privileged"] = True
elif m == "probe_port":
    c["readinessProbe"]["httpGet"]["port"] = 9100
elif m == "no_bpffs":
    c["volumeMounts"] = [v for v in c["volumeMounts"] if v["mountPath"] != "/sys/fs/bpf"]
elif m == "bad_config":
    cm = kind["ConfigMap"]
    k = next(iter(cm["data"]))
    cm["data"][k] = cm["data"][k].replace("port: 4739", "port: 0")
elif m == "wrong_kind":
    kind["ServiceAccount"]["kind"] = "ServiceAcount"
yaml.safe_dump_all(docs, open(sys.argv[2], "w"))
PYEOF
  if out=$("$PY" "$check" "$tmp/broken.yaml" "$unit" "$tcflow"); then
    echo "FAIL: mutation $name passed the check"; fail=1; return
  fi
  for w in "$@"; do
    case "$out" in *"$w"*) ;; *) echo "FAIL: mutation $name: no '$w' in: $out"; fail=1 ;; esac
  done
}
expect extra_cap "CAP_SYS_ADMIN"
expect privileged "privileged"
expect probe_port "readinessProbe port 9100"
expect no_bpffs "bpffs"
expect bad_config "flowctl config check" "port"
expect wrong_kind "ServiceAcount"
printf '%s\n' "not: [valid" > "$tmp/unparsable.yaml"
if "$PY" "$check" "$tmp/unparsable.yaml" "$unit" "$tcflow" > /dev/null; then
  echo "FAIL: an unparsable file passed"; fail=1
fi
[ $fail -eq 0 ] && echo "PASS (and 7 broken copies refused)"
exit $fail
