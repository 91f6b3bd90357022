"""C++ from .proto files with Debian's system protoc (no @com_google_protobuf needed)."""

def tcflow_cc_proto_library(name, srcs, deps = [], visibility = None):
    """Generates NAME's .pb.h/.pb.cc from `srcs` and wraps them in a cc_library.

    Imports are resolved from the workspace root, so `import "config/foo.proto";` works.
    """
    outs = []
    for src in srcs:
        base = src[:-len(".proto")]
        outs += [base + ".pb.h", base + ".pb.cc"]
    native.genrule(
        name = name + "_gen",
        srcs = srcs,
        outs = outs,
        cmd = "/usr/bin/protoc -I. --cpp_out=$(GENDIR) " +
              " ".join(["$(location %s)" % s for s in srcs]),
        message = "Generating C++ from %s" % ", ".join(srcs),
    )
    native.cc_library(
        name = name,
        srcs = [o for o in outs if o.endswith(".cc")],
        hdrs = [o for o in outs if o.endswith(".h")],
        deps = ["//third_party/system:protobuf"] + deps,
        visibility = visibility,
    )
