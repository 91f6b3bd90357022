#!/bin/sh
# The dashboard passes dashboard_check.py (structure, every expression parses with promtool,
# tcflow metric names only); a broken copy of it is refused with the right reasons, so the
# check itself is known to bite. Arguments: dashboard_check.py, the dashboard JSON.
set -eu
PY=/usr/bin/python3
check=$1
dash=$2
"$PY" "$check" "$dash"
broken=${TEST_TMPDIR:-/tmp}/broken-dashboard.json
"$PY" - "$dash" "$broken" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
ps = [p for p in d["panels"] if p["type"] != "row"]
ps[1]["id"] = ps[0]["id"]                                   # duplicate id
ps[2]["targets"][0]["expr"] = "sum(rate(tcflow_packets_total[5m])"  # unbalanced
ps[3]["targets"] = []                                       # no query
ps[4]["targets"][0]["expr"] = "rate(node_network_receive_bytes_total[5m])"
d["templating"]["list"] = [v for v in d["templating"]["list"] if v["name"] != "interface"]
json.dump(d, open(sys.argv[2], "w"))
PYEOF
out=$("$PY" "$check" "$broken" || true)
for want in "also used by" "does not parse" "no query" "is not a tcflow metric" "no \`interface\` query variable"; do
  case "$out" in
    *"$want"*) ;;
    *) echo "FAIL: broken dashboard not refused with '$want':"; echo "$out"; exit 1 ;;
  esac
done
if "$PY" "$check" "$broken" >/dev/null; then echo "FAIL: broken dashboard accepted"; exit 1; fi
printf '{"panels": [' > "$broken"
if "$PY" "$check" "$broken" >/dev/null; then echo "FAIL: invalid JSON accepted"; exit 1; fi
echo PASS
