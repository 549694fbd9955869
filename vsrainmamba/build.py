"""Compile the native ``rainmamba`` VapourSynth plugin (``plugin/rainmamba_plugin.c``).

Used three ways: by ``setup.py`` at install time, by ``python -m vsrainmamba.build`` to (re)build the
plugin in place in a source checkout, and by tests that build it into a temporary folder. It needs only
the standard library, setuptools (for the platform's C compiler driver) and the ``VapourSynth4.h``
header that the ``vapoursynth`` wheel ships; ``setup.py`` loads this file by path, so it must not import
the rest of the package.

    python -m vsrainmamba.build              # into vsrainmamba/plugin/ (what `import vsrainmamba` loads)
    python -m vsrainmamba.build --out DIR    # anywhere else, e.g. a folder on VAPOURSYNTH_EXTRA_PLUGIN_PATH
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import sys
import tempfile
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
PLUGIN_SOURCE = PACKAGE_DIR / "plugin" / "rainmamba_plugin.c"
PLUGIN_NAME = "rainmamba"
# Where a regular install puts the plugin, relative to site-packages: VapourSynth R74+ autoloads it there.
AUTOLOAD_SUBDIR = Path("vapoursynth") / "plugins" / PLUGIN_NAME


class PluginBuildError(RuntimeError):
    """The plugin could not be compiled; the message says why and what to do."""


def _compiler():
    try:
        from setuptools._distutils.ccompiler import new_compiler
        from setuptools._distutils.sysconfig import customize_compiler
    except ImportError:  # pragma: no cover - very old or very new setuptools
        from distutils.ccompiler import new_compiler  # type: ignore[no-redef]
        from distutils.sysconfig import customize_compiler  # type: ignore[no-redef]
    compiler = new_compiler()
    customize_compiler(compiler)
    return compiler


def plugin_filename() -> str:
    """The plugin's file name on this platform (``librainmamba.so``, ``.dylib``, ``rainmamba.dll``)."""
    return _compiler().library_filename(PLUGIN_NAME, lib_type="shared")


def vapoursynth_include_dir() -> Path:
    """The folder holding ``VapourSynth4.h``: ``$VAPOURSYNTH_INCLUDE``, else the ``vapoursynth`` wheel's."""
    candidates = [Path(os.environ["VAPOURSYNTH_INCLUDE"])] if os.environ.get("VAPOURSYNTH_INCLUDE") else []
    spec = importlib.util.find_spec("vapoursynth")  # no import: that would load libvapoursynth
    if spec is not None and spec.origin:
        candidates.append(Path(spec.origin).parent / "include")
    candidates += [Path(sys.prefix) / "include" / "vapoursynth", Path("/usr/include/vapoursynth"),
                   Path("/usr/local/include/vapoursynth")]
    for folder in candidates:
        if (folder / "VapourSynth4.h").is_file():
            return folder
    raise PluginBuildError("VapourSynth4.h was not found: install the `vapoursynth` wheel (R74 or newer) in "
                           "this Python, or set VAPOURSYNTH_INCLUDE to the folder that holds the header.")


def _check_compiler_present(compiler) -> None:
    executable = getattr(compiler, "compiler_so", None)
    if executable and shutil.which(executable[0]) is None:
        raise PluginBuildError(f"no C compiler found (looked for `{executable[0]}`): install one (e.g. gcc or "
                               "clang) or set CC, then rebuild with `python -m vsrainmamba.build`.")


def compile_plugin(out_dir: str | os.PathLike) -> Path:
    """Compile the plugin into ``out_dir`` and return its path; :class:`PluginBuildError` on failure."""
    out_dir = Path(out_dir)
    compiler = _compiler()
    _check_compiler_present(compiler)
    include = vapoursynth_include_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / compiler.library_filename(PLUGIN_NAME, lib_type="shared")
    libraries = [] if sys.platform == "win32" else ["dl"]
    extra = [] if compiler.compiler_type == "msvc" else ["-std=c11", "-fvisibility=hidden"]
    with tempfile.TemporaryDirectory(prefix="rainmamba-build-") as scratch:
        try:
            objects = compiler.compile([str(PLUGIN_SOURCE)], output_dir=scratch, include_dirs=[str(include)],
                                       extra_postargs=extra)
            # Link to a scratch name first: replacing a loaded plugin in place would crash running hosts.
            staged = Path(scratch) / target.name
            compiler.link_shared_object(objects, str(staged), libraries=libraries,
                                        export_symbols=["VapourSynthPluginInit2"])
        except Exception as exc:  # distutils' CompileError/LinkError carry the compiler's own message
            raise PluginBuildError(f"compiling the rainmamba plugin failed: {exc}") from exc
        tmp_target = target.with_name(target.name + ".tmp")
        shutil.copyfile(staged, tmp_target)
        os.replace(tmp_target, target)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vsrainmamba.build", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=PACKAGE_DIR / "plugin",
                        help="output folder (default: the package's plugin/ folder, loaded by `import vsrainmamba`)")
    args = parser.parse_args(argv)
    try:
        path = compile_plugin(args.out)
    except PluginBuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
