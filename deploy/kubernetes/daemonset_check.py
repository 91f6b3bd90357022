"""Checks deploy/kubernetes/tcflow-daemonset.yaml against the systemd unit and tcflow itself.

usage: daemonset_check.py DAEMONSET.yaml TCFLOWD.service TCFLOW_BINARY
Prints one line per problem and exits 1 when there is any; prints OK and exits 0 otherwise.
"""
import os
import re
import subprocess
import sys
import tempfile

import yaml


def unit_caps(path):
    bounding, ambient = set(), set()
    for line in open(path):
        line = line.strip()
        for key, into in (("CapabilityBoundingSet=", bounding), ("AmbientCapabilities=", ambient)):
            if line.startswith(key):
                into.update(c.upper() for c in line[len(key):].split())
    return bounding, ambient


def config_value(text, block, field):
    """The first `field: "value"` (or bare value) inside `block { ... }` of a text-format config."""
    m = re.search(r"(?m)^\s*" + block + r"\s*\{(.*?)^\s*\}", text, re.S)
    if not m:
        return None
    body = re.sub(r"#.*", "", m.group(1))
    v = re.search(r"\b" + field + r'\s*:\s*("([^"]*)"|(\S+))', body)
    if not v:
        return None
    return v.group(2) if v.group(2) is not None else v.group(3)


def check(manifest, unit, tcflow):
    problems = []
    p = problems.append
    try:
        docs = [d for d in yaml.safe_load_all(open(manifest)) if d is not None]
    except yaml.YAMLError as e:
        return ["%s does not parse: %s" % (manifest, e)]
    kinds = {}
    for d in docs:
        if not isinstance(d, dict) or "kind" not in d or "apiVersion" not in d:
            p("a document without kind/apiVersion: %r" % (d,))
            continue
        kinds.setdefault(d["kind"], []).append(d)
    expected = {"Namespace": "v1", "ServiceAccount": "v1", "ConfigMap": "v1", "DaemonSet": "apps/v1"}
    for kind, api in expected.items():
        got = kinds.get(kind, [])
        if len(got) != 1:
            p("want exactly one %s, got %d" % (kind, len(got)))
        elif got[0]["apiVersion"] != api:
            p("%s: apiVersion %s, want %s" % (kind, got[0]["apiVersion"], api))
    for kind in kinds:
        if kind not in expected:
            p("unexpected kind %s" % kind)
    if problems:
        return problems
    ns = kinds["Namespace"][0]["metadata"]["name"]
    for kind in ("ServiceAccount", "ConfigMap", "DaemonSet"):
        if kinds[kind][0]["metadata"].get("namespace") != ns:
            p("%s is not in namespace %s" % (kind, ns))

    ds = kinds["DaemonSet"][0]
    spec = ds["spec"]
    pod = spec["template"]["spec"]
    labels = spec["template"]["metadata"].get("labels", {})
    for k, v in spec["selector"]["matchLabels"].items():
        if labels.get(k) != v:
            p("selector %s=%s does not match the pod labels" % (k, v))
    if spec.get("updateStrategy", {}).get("type") != "RollingUpdate":
        p("updateStrategy is not RollingUpdate")
    if pod.get("hostNetwork") is not True:
        p("hostNetwork is not true (tcflowd meters the node's interfaces)")
    if pod.get("serviceAccountName") != kinds["ServiceAccount"][0]["metadata"]["name"]:
        p("the pod does not use the ServiceAccount")
    containers = pod.get("containers", [])
    if len(containers) != 1:
        return problems + ["want one container, got %d" % len(containers)]
    c = containers[0]
    sc = c.get("securityContext", {})
    if sc.get("privileged") is not False:
        p("container must say privileged: false")
    if sc.get("allowPrivilegeEscalation") is not False:
        p("allowPrivilegeEscalation must be false")
    caps = sc.get("capabilities", {})
    if [x.upper() for x in caps.get("drop", [])] != ["ALL"]:
        p("capabilities.drop must be [ALL], got %r" % caps.get("drop"))
    added = {"CAP_" + x.upper().replace("CAP_", "") for x in caps.get("add", [])}
    bounding, ambient = unit_caps(unit)
    if not bounding or bounding != ambient:
        p("unit: CapabilityBoundingSet %s != AmbientCapabilities %s" % (sorted(bounding), sorted(ambient)))
    if added != bounding:
        p("container capabilities %s != the unit's %s" % (sorted(added), sorted(bounding)))
    res = c.get("resources", {})
    for kind in ("requests", "limits"):
        for r in ("cpu", "memory"):
            if r not in res.get(kind, {}):
                p("resources.%s.%s missing" % (kind, r))

    # The config: from the ConfigMap, mounted where the command reads it.
    cm = kinds["ConfigMap"][0]
    if len(cm.get("data", {})) != 1:
        return problems + ["the ConfigMap should hold exactly one config file"]
    conf_name, conf = next(iter(cm["data"].items()))
    cmd = c.get("command", []) + c.get("args", [])
    if "-c" not in cmd or cmd.index("-c") + 1 >= len(cmd):
        return problems + ["the command has no -c CONFIG: %r" % cmd]
    conf_path = cmd[cmd.index("-c") + 1]
    if cmd[1:2] != ["tcflowd"]:
        p("the command does not run tcflowd: %r" % cmd)
    vols = {v["name"]: v for v in pod.get("volumes", [])}
    mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}
    conf_dir, conf_file = os.path.split(conf_path)
    m = mounts.get(conf_dir)
    if not m or vols.get(m["name"], {}).get("configMap", {}).get("name") != cm["metadata"]["name"]:
        p("%s is not the ConfigMap's mount" % conf_dir)
    elif conf_file != conf_name:
        p("the command reads %s, the ConfigMap holds %s" % (conf_file, conf_name))

    # bpffs: a hostPath /sys/fs/bpf mounted over the config's pin path's parent.
    pin = config_value(conf, "daemon", "bpffs_pin_path") or "/sys/fs/bpf/tcflow"
    bpffs = mounts.get(os.path.dirname(pin))
    if not bpffs or vols.get(bpffs["name"], {}).get("hostPath", {}).get("path") != "/sys/fs/bpf":
        p("bpffs (%s) is not mounted from the host's /sys/fs/bpf" % os.path.dirname(pin))
    elif bpffs.get("readOnly"):
        p("bpffs is mounted read-only (tcflowd pins its tables there)")
    sock = config_value(conf, "daemon", "control_socket") or "/run/tcflow/control.sock"
    run = mounts.get(os.path.dirname(sock))
    if not run or "hostPath" not in vols.get(run["name"], {}):
        p("%s (control socket, crash state) is not a hostPath mount" % os.path.dirname(sock))

    # Probes and scrape annotations on the config's metrics address.
    listen = config_value(conf, "metrics", "listen") or "127.0.0.1:9739"
    enabled = config_value(conf, "metrics", "enabled")
    if enabled == "false":
        p("metrics are disabled in the config: no /healthz or /ready to probe")
    host, _, port = listen.rpartition(":")
    host = host.strip("[]")
    port = int(port)
    for name, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/ready")):
        g = c.get(name, {}).get("httpGet")
        if not g:
            p("%s is not an httpGet probe" % name)
            continue
        if g.get("path") != path:
            p("%s path %s, want %s" % (name, g.get("path"), path))
        if g.get("port") != port:
            p("%s port %s, the config listens on %d" % (name, g.get("port"), port))
        if g.get("host") != "127.0.0.1":
            p("%s host %s, want 127.0.0.1" % (name, g.get("host")))
        if host not in ("127.0.0.1", "0.0.0.0"):
            p("the config listens on %s: the probes' 127.0.0.1 does not reach it" % host)
    ann = spec["template"]["metadata"].get("annotations", {})
    if ann.get("prometheus.io/scrape") != "true" or ann.get("prometheus.io/port") != str(port) \
            or ann.get("prometheus.io/path", "/metrics") != "/metrics":
        p("prometheus annotations do not point at port %d /metrics: %r" % (port, ann))
    if host.startswith("127."):
        p("the config listens on loopback only: Prometheus cannot scrape it")
    ports = [x.get("containerPort") for x in c.get("ports", [])]
    if port not in ports:
        p("containerPort %d not declared" % port)

    # tcflow's own validation of the config.
    with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as f:
        f.write(conf)
    r = subprocess.run([tcflow, "flowctl", "config", "check", f.name],
                       capture_output=True, text=True)
    os.unlink(f.name)
    if r.returncode != 0:
        p("flowctl config check refuses the ConfigMap's config:\n" + r.stdout + r.stderr)
    return problems


def main():
    if len(sys.argv) != 4:
        print(__doc__)
        return 2
    problems = check(*sys.argv[1:])
    for x in problems:
        print("FAIL:", x)
    if not problems:
        print("OK")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
