"""Rules that build eBPF objects with clang and embed them with `bpftool gen skeleton`.

The object is compiled for `-target bpfel` regardless of the target platform: the same
little-endian object serves amd64 and arm64, and it is embedded into the binaries that load
it, so nothing is looked up on disk at run time.
"""

BpfToolchainInfo = provider(
    doc = "Paths of the host tools that build BPF objects.",
    fields = {
        "clang": "clang that supports -target bpf",
        "bpftool": "bpftool with `gen skeleton`",
        "llvm_strip": "llvm-strip, to drop DWARF while keeping BTF",
        "system_includes": "directories added with -idirafter (asm/ headers of the build machine)",
    },
)

def _bpf_toolchain_impl(ctx):
    return [platform_common.ToolchainInfo(bpf = BpfToolchainInfo(
        clang = ctx.attr.clang,
        bpftool = ctx.attr.bpftool,
        llvm_strip = ctx.attr.llvm_strip,
        system_includes = ctx.attr.system_includes,
    ))]

bpf_toolchain = rule(
    implementation = _bpf_toolchain_impl,
    attrs = {
        "bpftool": attr.string(mandatory = True),
        "clang": attr.string(mandatory = True),
        "llvm_strip": attr.string(mandatory = True),
        "system_includes": attr.string_list(),
    },
)

_TOOLCHAIN = "//platforms/bpf:toolchain_type"

def _bpf_object_impl(ctx):
    tc = ctx.toolchains[_TOOLCHAIN].bpf
    out = ctx.actions.declare_file(ctx.label.name + ".bpf.o")
    unstripped = ctx.actions.declare_file(ctx.label.name + ".bpf.debug.o")
    args = [
        "-target",
        "bpfel",
        # v3: 32-bit jumps and atomic fetch-and-add whose result is used.
        "-mcpu=v3",
        "-O2",
        "-g",
        "-Wall",
        "-Werror",
        "-fno-stack-protector",
        "-I.",
        "-I" + ctx.bin_dir.path,
    ]
    for inc in tc.system_includes:
        args += ["-idirafter", inc]
    args += ctx.attr.copts
    args += ["-c", ctx.file.src.path, "-o", unstripped.path]
    ctx.actions.run(
        executable = tc.clang,
        arguments = args,
        inputs = [ctx.file.src] + ctx.files.hdrs,
        outputs = [unstripped],
        mnemonic = "BpfCompile",
        progress_message = "Compiling BPF object %s" % out.short_path,
    )
    # DWARF is not needed at run time; BTF (in .BTF/.BTF.ext) is kept by `-g` stripping.
    stripped = ctx.actions.declare_file(ctx.label.name + ".bpf.stripped.o")
    ctx.actions.run(
        executable = tc.llvm_strip,
        arguments = ["-g", unstripped.path, "-o", stripped.path],
        inputs = [unstripped],
        outputs = [stripped],
        mnemonic = "BpfStrip",
    )
    # libbpf's static linker resolves .BTF.ext's ELF relocations (a quarter of the object),
    # which the binary would otherwise embed for nothing.
    ctx.actions.run(
        executable = tc.bpftool,
        arguments = ["gen", "object", out.path, stripped.path],
        inputs = [stripped],
        outputs = [out],
        mnemonic = "BpfLink",
        progress_message = "Linking BPF object %s" % out.short_path,
    )
    return [DefaultInfo(files = depset([out]))]

bpf_object = rule(
    implementation = _bpf_object_impl,
    attrs = {
        "copts": attr.string_list(),
        "hdrs": attr.label_list(allow_files = [".h"]),
        "src": attr.label(allow_single_file = [".c"], mandatory = True),
    },
    toolchains = [_TOOLCHAIN],
    doc = "Compiles one .bpf.c file into NAME.bpf.o.",
)

def _bpf_skeleton_impl(ctx):
    tc = ctx.toolchains[_TOOLCHAIN].bpf
    out = ctx.actions.declare_file(ctx.attr.skeleton_name + ".skel.h")
    ctx.actions.run_shell(
        command = '"$1" gen skeleton "$2" name "$3" > "$4"',
        arguments = [tc.bpftool, ctx.file.obj.path, ctx.attr.skeleton_name, out.path],
        inputs = [ctx.file.obj],
        outputs = [out],
        mnemonic = "BpfSkeleton",
        progress_message = "Generating BPF skeleton %s" % out.short_path,
    )
    return [DefaultInfo(files = depset([out]))]

bpf_skeleton = rule(
    implementation = _bpf_skeleton_impl,
    attrs = {
        "obj": attr.label(allow_single_file = [".o"], mandatory = True),
        "skeleton_name": attr.string(mandatory = True),
    },
    toolchains = [_TOOLCHAIN],
    doc = "Embeds a BPF object into a C header (`bpftool gen skeleton`).",
)

def bpf_program(name, src, hdrs = [], copts = [], deps = [], visibility = None):
    """A BPF object NAME.bpf.o plus a cc_library NAME_skel exposing NAME.skel.h.

    The skeleton's C name is NAME (functions NAME__open(), NAME__load(), ...).
    """
    bpf_object(name = name, src = src, hdrs = hdrs, copts = copts, visibility = visibility)
    bpf_skeleton(name = name + "_skel_gen", obj = ":" + name, skeleton_name = name)
    native.cc_library(
        name = name + "_skel",
        hdrs = [":" + name + "_skel_gen"],
        deps = ["//third_party/system:libbpf"] + deps,
        visibility = visibility,
    )
