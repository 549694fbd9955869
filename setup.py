"""Build step for the native ``rainmamba`` VapourSynth plugin; all metadata lives in pyproject.toml.

A regular install (``pip install .``) compiles ``vsrainmamba/plugin/rainmamba_plugin.c`` into
``site-packages/vapoursynth/plugins/rainmamba/``, where VapourSynth R74+ autoloads it, so any ``.vpy``
script can call ``core.rainmamba.Derain``. An editable install (``pip install -e .``) compiles it into
``vsrainmamba/plugin/`` instead: ``import vsrainmamba`` loads it from there, and a script without that
import finds it through ``VAPOURSYNTH_EXTRA_PLUGIN_PATH``. Without a C compiler the install still
succeeds with a warning, and the Python API ``vsrainmamba.derain(clip)`` works as before.
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.dist import Distribution

ROOT = Path(__file__).resolve().parent


def _plugin_builder():
    # Loaded by path: importing the vsrainmamba package would pull in torch and vapoursynth at build time.
    spec = importlib.util.spec_from_file_location("_rainmamba_plugin_build", ROOT / "vsrainmamba" / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class BuildWithPlugin(build_py):
    """``build_py`` that also compiles the native plugin (optional: a failure is a loud warning)."""

    def run(self) -> None:
        super().run()
        builder = _plugin_builder()
        if getattr(self, "editable_mode", False):
            out_dir = ROOT / "vsrainmamba" / "plugin"
        else:
            out_dir = Path(self.build_lib) / builder.AUTOLOAD_SUBDIR
        try:
            path = builder.compile_plugin(out_dir)
        except builder.PluginBuildError as exc:
            print(f"WARNING: the rainmamba VapourSynth plugin was not built ({exc}). core.rainmamba.Derain will "
                  "be missing; vsrainmamba.derain(clip) still works from Python.", file=sys.stderr)
            return
        print(f"built the rainmamba VapourSynth plugin: {path}")


class PlatformDistribution(Distribution):
    """The wheel holds a compiled library, so it must carry a platform tag, not ``py3-none-any``."""

    def has_ext_modules(self) -> bool:
        return True


setup(cmdclass={"build_py": BuildWithPlugin}, distclass=PlatformDistribution)
