"""Compiler options shared by BUILD files."""

# --config=release compiles for size (-Os) to keep the router payload within budget; the
# per-record hot paths (drain, flow cache, IPFIX encoding and sending) stay at -O2. A target's
# copts come after --copt on the command line, so this wins for those targets.
HOT_PATH_COPTS = select({
    "//platforms:opt": ["-O2"],
    "//conditions:default": [],
})
