#!/usr/bin/python3
"""Checks tcflow's Grafana dashboard.

  dashboard_check.py DASHBOARD.json [--promtool PATH] [--scrape METRICS.txt]

Structure: valid JSON, schemaVersion >= 36, a `datasource` variable and `instance` and
`interface` query variables, unique panel ids, every (non-row) panel bound to ${datasource}
with a grid position and at least one query, every query with an expression.
Expressions: each one (Grafana variables replaced by plain values) must parse: they are
written as recording rules into a temporary rules file and checked with `promtool check
rules`. Every metric name they use is a tcflow_ metric (or `up`).
--scrape: every metric name used must appear in that scrape of tcflowd's /metrics.
Prints one line per problem and exits 1 if there is any.
"""
import json
import os
import re
import subprocess
import sys
import tempfile

KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool",
            "and", "or", "unless", "inf", "nan", "atan2"}


def substitute(expr):
    """Grafana's variables -> values PromQL accepts."""
    expr = re.sub(r"\$__(rate_interval|interval|range)\b", "5m", expr)
    expr = re.sub(r"\$\{?__range_s\}?", "300", expr)
    return re.sub(r"\$\{?(\w+)(:\w+)?\}?", ".*", expr)


def metric_names(expr):
    """Metric names in a PromQL expression: identifiers that are not functions, keywords,
    label names (in {...} or in by/on/... (...)), strings or durations."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    e = re.sub(r"\{[^}]*\}", " ", e)
    e = re.sub(r"\[[^\]]*\]", " ", e)
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    names = set()
    for m in re.finditer(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)\b(\s*\()?", e):
        name, call = m.group(1), m.group(2)
        if call or name in KEYWORDS:
            continue
        names.add(name)
    return names


def scrape_names(path):
    names = set()
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            names.add(re.split(r"[{\s]", line, 1)[0])
    return names


def all_panels(panels):
    for p in panels:
        yield p
        yield from all_panels(p.get("panels", []))


def main(argv):
    args = argv[1:]
    promtool = "/usr/bin/promtool"
    scrape = None
    if "--promtool" in args:
        i = args.index("--promtool")
        promtool = args[i + 1]
        del args[i:i + 2]
    if "--scrape" in args:
        i = args.index("--scrape")
        scrape = args[i + 1]
        del args[i:i + 2]
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    problems = []
    try:
        with open(args[0]) as f:
            dash = json.load(f)
    except (OSError, ValueError) as e:
        print(f"{args[0]}: not valid JSON: {e}")
        return 1

    if not isinstance(dash.get("schemaVersion"), int) or dash["schemaVersion"] < 36:
        problems.append(f"schemaVersion {dash.get('schemaVersion')!r} < 36")
    if not dash.get("title") or not dash.get("uid"):
        problems.append("dashboard without title or uid")
    variables = {v.get("name"): v for v in dash.get("templating", {}).get("list", [])}
    if variables.get("datasource", {}).get("type") != "datasource" or \
            variables["datasource"].get("query") != "prometheus":
        problems.append("no `datasource` variable of type datasource (prometheus)")
    for name in ("instance", "interface"):
        v = variables.get(name)
        if v is None or v.get("type") != "query" or not v.get("definition"):
            problems.append(f"no `{name}` query variable")

    exprs = []  # (panel title, refId, expr)
    ids = {}
    for v in variables.values():
        if v.get("type") == "query":
            exprs.append((f"variable {v['name']}", "-", v["definition"]))
    for p in all_panels(dash.get("panels", [])):
        pid, title = p.get("id"), p.get("title", "?")
        if not isinstance(pid, int):
            problems.append(f"panel {title!r}: no integer id")
        elif pid in ids:
            problems.append(f"panel {title!r}: id {pid} also used by {ids[pid]!r}")
        else:
            ids[pid] = title
        gp = p.get("gridPos", {})
        if not all(isinstance(gp.get(k), int) for k in ("h", "w", "x", "y")):
            problems.append(f"panel {title!r}: incomplete gridPos")
        if p.get("type") == "row":
            continue
        if p.get("datasource", {}).get("uid") != "${datasource}":
            problems.append(f"panel {title!r}: datasource is not ${{datasource}}")
        targets = p.get("targets", [])
        if not targets:
            problems.append(f"panel {title!r}: no query")
        refs = set()
        for t in targets:
            ref = t.get("refId")
            if not ref or ref in refs:
                problems.append(f"panel {title!r}: missing or repeated refId {ref!r}")
            refs.add(ref)
            if not t.get("expr", "").strip():
                problems.append(f"panel {title!r} query {ref}: no expr")
            else:
                exprs.append((title, ref, t["expr"]))

    # label_values(metric{...}, label) is Grafana's, not PromQL: check the selector part.
    checked = []
    for title, ref, expr in exprs:
        m = re.match(r"\s*label_values\((.*),\s*\w+\s*\)\s*$", expr, re.S)
        checked.append((title, ref, m.group(1) if m else expr))

    # Every expression parses: promtool check rules on one recording rule per expression.
    with tempfile.TemporaryDirectory() as tmp:
        rules = os.path.join(tmp, "dashboard_rules.yml")
        with open(rules, "w") as f:
            f.write("groups:\n  - name: dashboard\n    rules:\n")
            for i, (title, ref, expr) in enumerate(checked):
                f.write(f"      - record: dashboard:expr_{i}\n")
                f.write(f"        expr: {json.dumps(substitute(expr))}\n")
        r = subprocess.run([promtool, "check", "rules", rules], capture_output=True, text=True)
        if r.returncode != 0:
            # One by one, to name the culprit.
            for i, (title, ref, expr) in enumerate(checked):
                one = os.path.join(tmp, f"one_{i}.yml")
                with open(one, "w") as f:
                    f.write("groups:\n  - name: one\n    rules:\n")
                    f.write(f"      - record: dashboard:expr\n        expr: {json.dumps(substitute(expr))}\n")
                r1 = subprocess.run([promtool, "check", "rules", one], capture_output=True, text=True)
                if r1.returncode != 0:
                    problems.append(f"panel {title!r} query {ref}: does not parse: {expr}\n"
                                    f"    {(r1.stdout + r1.stderr).strip()}")
            if not problems:
                problems.append("promtool check rules failed: " + (r.stdout + r.stderr).strip())

    used = {}
    for title, ref, expr in checked:
        for name in metric_names(expr):
            used.setdefault(name, f"{title!r} {ref}")
            if not (name.startswith("tcflow_") or name == "up"):
                problems.append(f"panel {title!r} query {ref}: {name} is not a tcflow metric")
    if not used:
        problems.append("no metric names found in the expressions")
    if scrape:
        have = scrape_names(scrape)
        for name, where in sorted(used.items()):
            if name not in have:
                problems.append(f"panel {where}: metric {name} is not in the scrape {scrape}")

    for p in problems:
        print(p)
    if problems:
        return 1
    print(f"OK: {len(ids)} panels, {len(checked)} expressions, {len(used)} metric names"
          + (f", all in {scrape}" if scrape else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
