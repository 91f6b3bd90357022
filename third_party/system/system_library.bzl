"""Wraps a library that Debian installs (for amd64, and as :arm64 multiarch) as a cc_library.

The compilers search Debian's multiarch directories themselves, so `-lNAME` finds the right
architecture. With `--config=release` the libraries are linked statically (glibc excepted).
"""

def system_library(name, libs, deps = [], group = False, **kwargs):
    """Declares a cc_library that links the system libraries `libs`.

    Args:
      name: target name.
      libs: library names without the `lib` prefix, in link order.
      deps: other system_library targets these libraries need (linked after them).
      group: link the static archives inside --start-group/--end-group (for library
        families with circular references, such as Abseil's).
      **kwargs: passed to cc_library (hdrs, visibility, ...).
    """
    dynamic = ["-Wl,--push-state,--as-needed"] + ["-l" + lib for lib in libs] + ["-Wl,--pop-state"]
    static_libs = ["-l:lib%s.a" % lib for lib in libs]
    if group:
        static_libs = ["-Wl,--start-group"] + static_libs + ["-Wl,--end-group"]
    native.cc_library(
        name = name,
        linkopts = select({
            "//platforms:static_link": static_libs,
            "//conditions:default": dynamic,
        }),
        deps = deps,
        **kwargs
    )
