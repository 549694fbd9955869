"""Building the plugin: clear errors, and an install that still succeeds (Python API only) without a compiler."""
from __future__ import annotations

import zipfile

import pytest

from tests.vsrainmamba.helpers import build_wheel
from vsrainmamba.build import AUTOLOAD_SUBDIR, PluginBuildError, compile_plugin


def test_a_missing_compiler_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("CC", "no-such-cc")
    with pytest.raises(PluginBuildError, match="no C compiler found .*no-such-cc.*python -m vsrainmamba.build"):
        compile_plugin(tmp_path)


def test_without_a_compiler_the_wheel_builds_without_the_plugin_and_says_so(tmp_path):
    wheel, output = build_wheel(tmp_path, CC="no-such-cc")
    assert "WARNING: the rainmamba VapourSynth plugin was not built (no C compiler found" in output
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    assert not any(name.startswith(AUTOLOAD_SUBDIR.as_posix()) for name in names)
    assert "vsrainmamba/filter.py" in names
