"""Fixtures for the VapourSynth filter: stand-in and tiny networks, a freshly built plugin, vspipe runs."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import vapoursynth as vs

import models
from tests.vsrainmamba.helpers import REPO, WindowMeanNet


@pytest.fixture
def mean_net() -> WindowMeanNet:
    return WindowMeanNet()


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """The tiny preset with fixed random weights, saved as a project checkpoint."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "tiny.safetensors"
    models.save_checkpoint(models.build("tiny").eval(), path)
    return path


@pytest.fixture(scope="session")
def plugin_dir(tmp_path_factory) -> Path:
    """A folder holding the plugin compiled from the current source (never the source tree's build)."""
    from vsrainmamba.build import PluginBuildError, compile_plugin

    folder = tmp_path_factory.mktemp("plugin")
    try:
        compile_plugin(folder)
    except PluginBuildError as error:
        pytest.skip(f"cannot build the native plugin here: {error}")
    return folder


@pytest.fixture(scope="session")
def plugin_core(plugin_dir) -> vs.Core:
    """The current core with core.rainmamba registered (from the package folder or the fresh build)."""
    import vsrainmamba

    core = vs.core
    if not vsrainmamba.is_registered(core):
        core.std.LoadPlugin(str(next(plugin_dir.iterdir())))
    return core


def _venv_tool(name: str) -> str:
    """A command installed beside this Python (the venv's bin/), else the one on PATH."""
    exe = Path(sys.executable).with_name(name)
    return str(exe) if exe.exists() else name


@pytest.fixture
def vspipe(tmp_path, plugin_dir):
    """Run ``vspipe`` on a script text with the fresh plugin on VAPOURSYNTH_EXTRA_PLUGIN_PATH and the
    source tree (after ``python_path``) on PYTHONPATH."""

    def run(script: str, *args: str, python_path: tuple[Path, ...] = ()) -> subprocess.CompletedProcess:
        path = tmp_path / "script.vpy"
        path.write_text(script)
        python_path = [str(p) for p in (*python_path, REPO)] + [os.environ.get("PYTHONPATH", "")]
        env = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path / "xdg"), VAPOURSYNTH_EXTRA_PLUGIN_PATH=str(plugin_dir),
                   PYTHONPATH=os.pathsep.join(python_path), OMP_NUM_THREADS="1")
        if not (tmp_path / "xdg" / "vapoursynth" / "vapoursynth.toml").is_file():
            # vspipe finds its Python through this config file, which a fresh XDG_CONFIG_HOME lacks
            subprocess.run([_venv_tool("vapoursynth"), "config"], env=env, check=True, capture_output=True)
        command = [_venv_tool("vspipe"), str(path), *args]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)

    return run
