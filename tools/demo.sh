#!/usr/bin/env bash
# The README's main job, as root on Debian 12:
#   1. sets up the machine (tools/bootstrap.sh) and builds the router payload for amd64 and
#      arm64 (release: optimised, stripped, static but for glibc) into dist/;
#   2. builds a throw-away namespace router h1 -- rt -- h2 (veth, dual stack, rt forwards),
#      runs the amd64 payload's tcflowd on both of rt's legs, exporting IPFIX to two
#      collectors inside rt: `flowctl collect` and nfdump's nfcapd;
#   3. pushes ping, ping6, UDP and TCP traffic from h1 to h2 through rt, ends tcflowd with
#      SIGTERM (every flow exported as forced end), and shows the flows as both collectors
#      decoded them;
#   4. removes everything it created, also on Ctrl-C or a failure.
# Traffic goes only to the addresses this script gives the namespaces it creates.
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
cp -f "$(bazel info --config=release bazel-bin 2>/dev/null)/bpf/tcflow.bpf.o" dist/tcflow.bpf.o
echo
echo "Router payloads (extract into the image's root: usr/sbin/{tcflow,flowctl,tcflowd}):"
echo "  $PWD/dist/amd64/tcflow-payload.tar"
echo "  $PWD/dist/arm64/tcflow-payload.tar"
echo "The BPF object (the same for both CPUs; also embedded in the binaries): $PWD/dist/tcflow.bpf.o"
echo

# --- The namespace router demo ---------------------------------------------------------------
id=$$
h1=tcdemo-h1-$id rt=tcdemo-rt-$id h2=tcdemo-h2-$id
work=$(mktemp -d /tmp/tcflow-demo.XXXXXX)
tar -C "$work" -xf dist/amd64/tcflow-payload.tar
tcflow=$work/usr/sbin/tcflow
pids=()

cleanup() {
  set +e
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
  sleep 0.3
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null; done
  for ns in "$h1" "$rt" "$h2"; do ip netns del "$ns" 2>/dev/null; done
  if [[ -n ${TCFLOW_DEMO_KEEP:-} ]]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'echo; echo "interrupted: cleaning up"; exit 130' INT TERM

nsexec() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

echo "== namespace router: $h1 -- $rt -- $h2"
for ns in "$h1" "$rt" "$h2"; do ip netns add "$ns"; nsexec "$ns" ip link set lo up; done
ip link add h1-eth0 netns "$h1" type veth peer name rt-h1 netns "$rt"
ip link add h2-eth0 netns "$h2" type veth peer name rt-h2 netns "$rt"
nsexec "$h1" ip addr add 10.201.1.2/24 dev h1-eth0
nsexec "$h1" ip addr add fd00:201:1::2/64 dev h1-eth0 nodad
nsexec "$rt" ip addr add 10.201.1.1/24 dev rt-h1
nsexec "$rt" ip addr add fd00:201:1::1/64 dev rt-h1 nodad
nsexec "$rt" ip addr add 10.201.2.1/24 dev rt-h2
nsexec "$rt" ip addr add fd00:201:2::1/64 dev rt-h2 nodad
nsexec "$h2" ip addr add 10.201.2.2/24 dev h2-eth0
nsexec "$h2" ip addr add fd00:201:2::2/64 dev h2-eth0 nodad
for l in "$h1:h1-eth0" "$rt:rt-h1" "$rt:rt-h2" "$h2:h2-eth0"; do nsexec "${l%%:*}" ip link set "${l#*:}" up; done
nsexec "$h1" ip route add default via 10.201.1.1
nsexec "$h1" ip -6 route add default via fd00:201:1::1
nsexec "$h2" ip route add default via 10.201.2.1
nsexec "$h2" ip -6 route add default via fd00:201:2::1
nsexec "$rt" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1

cat > "$work/tcflow.conf" <<EOF
# The demo router's config: both legs, both directions; two collectors on rt's loopback.
interfaces { include: "rt-h1" include: "rt-h2" }
table { drain_interval_ms: 200 }
flow_cache { idle_timeout_s: 3 active_timeout_s: 30 }
collector { name: "flowctl-collect" address: "127.0.0.1" port: 4739 template_refresh_s: 10 }
collector { name: "nfcapd" address: "127.0.0.1" port: 9995 template_refresh_s: 10 }
metrics { enabled: false }
daemon { control_socket: "$work/control.sock" bpffs_pin_path: "/sys/fs/bpf/tcflow-demo-$id" }
EOF
echo "== config ($work/tcflow.conf):"
sed 's/^/   /' "$work/tcflow.conf"
"$tcflow" flowctl config check "$work/tcflow.conf"

mkdir -p "$work/nfcapd"
ip netns exec "$rt" nfcapd -w "$work/nfcapd" -b 127.0.0.1 -p 9995 >"$work/nfcapd.log" 2>&1 &
pids+=($!)
ip netns exec "$rt" "$tcflow" flowctl collect --listen 127.0.0.1:4739 -o table >"$work/collect.txt" 2>&1 &
pids+=($!)
sleep 1  # both collectors listening before tcflowd sends its templates
ip netns exec "$rt" "$tcflow" tcflowd -c "$work/tcflow.conf" >"$work/tcflowd.log" 2>&1 &
tcflowd_pid=$!
pids+=($tcflowd_pid)
for _ in $(seq 50); do [[ -S $work/control.sock ]] && break; sleep 0.1; done
sleep 0.5
echo "== tcflowd is running in $rt:"
nsexec "$rt" "$tcflow" flowctl status --socket "$work/control.sock" | sed 's/^/   /'

echo "== traffic h1 -> h2 through rt: ping, ping6, 100 UDP datagrams, a 2 s TCP transfer"
nsexec "$h1" ping -q -c 5 -i 0.2 10.201.2.2 | tail -2 | sed 's/^/   /'
nsexec "$h1" ping -q -c 5 -i 0.2 fd00:201:2::2 | tail -2 | sed 's/^/   /'
ip netns exec "$h2" socat -u UDP4-RECV:5001,bind=10.201.2.2 OPEN:/dev/null >/dev/null 2>&1 &
pids+=($!)
sleep 0.3
# 100 datagrams from one socket: one write each.
nsexec "$h1" bash -c 'exec 3>/dev/udp/10.201.2.2/5001; for i in $(seq 100); do echo "datagram $i" >&3; done'
ip netns exec "$h2" iperf3 -s -1 -B 10.201.2.2 >/dev/null 2>&1 &
pids+=($!)
sleep 0.5
nsexec "$h1" iperf3 -c 10.201.2.2 -t 2 | grep -E 'sender|receiver' | sed 's/^/   /'

echo "== the flows tcflowd holds now (flowctl dump):"
nsexec "$rt" "$tcflow" flowctl dump --socket "$work/control.sock" | sed 's/^/   /'

echo "== SIGTERM: tcflowd exports every flow (forced end), detaches and exits"
kill -TERM "$tcflowd_pid"
wait "$tcflowd_pid" && echo "   tcflowd exited 0"
sleep 1

echo "== what flowctl collect decoded: the demo's flows (h1 <-> h2), one record per leg and direction"
printf '   %-5s %-42s %-42s %3s %3s %-7s %9s %12s %s\n' PROTO SRC DST IN OUT DIR PKTS BYTES END
grep ' data ' "$work/collect.txt" | grep -E '10\.201\.|fd00:201:' | awk '
  { delete f; for (i = 1; i <= NF; i++) if (split($i, kv, "=") == 2) f[kv[1]] = kv[2]
    src = ("sourceIPv4Address" in f) ? f["sourceIPv4Address"] : f["sourceIPv6Address"]
    dst = ("destinationIPv4Address" in f) ? f["destinationIPv4Address"] : f["destinationIPv6Address"]
    pr = f["protocolIdentifier"]; name = (pr == 6) ? "tcp" : (pr == 17) ? "udp" : (pr == 1) ? "icmp" : (pr == 58) ? "icmp6" : pr
    if (pr == 6 || pr == 17) { src = src ":" f["sourceTransportPort"]; dst = dst ":" f["destinationTransportPort"] }
    split("? idle active end-of-flow forced lack-of-resources", reason, " ")
    printf "   %-5s %-42s %-42s %3s %3s %-7s %9s %12s %s\n", name, src, dst, f["ingressInterface"],
           f["egressInterface"], f["flowDirection"] == 0 ? "ingress" : "egress",
           f["packetDeltaCount"], f["octetDeltaCount"], reason[f["flowEndReason"] + 1] }'
echo "   (IPv6 neighbour discovery and MLD flows of the namespaces were exported too; not shown.)"
echo "== what nfdump reads from nfcapd's files (the same flows, decoded by nfdump):"
kill -TERM "${pids[0]}" 2>/dev/null || true  # nfcapd writes its file on SIGTERM
sleep 1
nfdump -R "$work/nfcapd" -q -o 'fmt:%pr %sap -> %dap %in %out %pkt %byt' 'net 10.201.0.0/16 or net fd00:201::/32' |
  sed 's/^/   /'
echo
echo "demo done; cleaning up"
