"""The native plugin: builds, registers core.rainmamba, forwards to Python, reports errors as vs.Error;
a .vpy without any import of the package works under vspipe; `pip install .` puts it where R74+ autoloads."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
import vapoursynth as vs

import models
from models.engine import Derainer
from tests.vsrainmamba.helpers import build_wheel, clip_from_array, clip_to_array, shots_video
from vsrainmamba import derain
from vsrainmamba.build import AUTOLOAD_SUBDIR, plugin_filename


LOAD_FRESH = """
import vapoursynth as vs
core = vs.core
before = {p.namespace for p in core.plugins()}
# An installed copy may be autoloaded already: load this file beside it under another identity.
extra = dict(forcens="rmfresh", forceid="test.rmfresh") if "rainmamba" in before else {}
core.std.LoadPlugin(PATH, **extra)
added = [p for p in core.plugins() if p.namespace not in before]
print(" ".join(f.name for p in added for f in p.functions()))
"""


def functions_registered_by(plugin: Path) -> list[str]:
    """The function names that loading ``plugin`` adds to a fresh core, in a fresh Python."""
    code = LOAD_FRESH.replace("PATH", repr(str(plugin)))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd="/")
    assert done.returncode == 0, done.stderr
    return sorted(done.stdout.split())


def autoloaded_namespaces() -> list[str]:
    """Plugin namespaces of a fresh core in a fresh Python that imports nothing else."""
    code = "import vapoursynth as vs; print(' '.join(p.namespace for p in vs.core.plugins()))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd="/")
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_the_built_plugin_registers_the_rainmamba_namespace(plugin_dir):
    assert [p.name for p in plugin_dir.iterdir()] == [plugin_filename()]
    assert functions_registered_by(plugin_dir / plugin_filename()) == ["BridgeConnect", "Derain"]


def test_plugin_and_python_api_give_the_same_clip(plugin_core, tiny_checkpoint):
    clip = clip_from_array(shots_video([5], height=32, width=32), props={"Custom": 1})
    through_plugin = plugin_core.rainmamba.Derain(clip, model=str(tiny_checkpoint), device_index=-1, fp16=False)
    direct = derain(clip, model=tiny_checkpoint, device_index=-1)
    assert np.array_equal(clip_to_array(through_plugin), clip_to_array(direct))
    assert dict(through_plugin.get_frame(4).props) == dict(clip.get_frame(4).props)
    # bf16 reaches the engine as a boolean: the same as the Python API's, different from float32
    half = plugin_core.rainmamba.Derain(clip, model=str(tiny_checkpoint), device_index=-1, bf16=True)
    half_direct = derain(clip, model=tiny_checkpoint, device_index=-1, bf16=True)
    assert np.array_equal(clip_to_array(half), clip_to_array(half_direct))
    assert not np.array_equal(clip_to_array(half), clip_to_array(direct))
    assert np.abs(clip_to_array(half) - clip_to_array(direct)).max() < 0.05


@pytest.mark.parametrize("arguments, message", [
    ({"mode": "slow"}, "Derain: mode must be 'fast' or 'official', got 'slow'."),
    ({"tile": [33, 32]}, "Derain: tile=[33, 32] is not allowed"),
    ({"sc_threshold": -1.0}, "Derain: sc_threshold must be a number from 0 to 1"),
    ({"model": "/nonexistent/w.pth"}, "Derain: "),  # the core's own sentence, naming the path
])
def test_plugin_errors_are_one_readable_vs_error(plugin_core, tiny_checkpoint, arguments, message):
    clip = vs.core.std.BlankClip(width=32, height=32, format=vs.RGBS, length=3)
    arguments = {"model": str(tiny_checkpoint), "device_index": -1, **arguments}
    with pytest.raises(vs.Error) as error:
        plugin_core.rainmamba.Derain(clip, **arguments)
    text = str(error.value)
    assert text.startswith(message) and "Traceback" not in text and "\n" not in text
    if "/nonexistent" in arguments["model"]:
        assert "/nonexistent/w.pth" in text


VPY = """
import json
import numpy as np
import vapoursynth as vs
core = vs.core
core.num_threads = 2
video = np.load({video!r})
blank = core.std.BlankClip(width=video.shape[3], height=video.shape[2], length=len(video), format=vs.RGBS)

def fill(n, f):
    out = f.copy()
    for p in range(3):
        np.copyto(np.asarray(out[p]), video[n, p])
    return out

clip = core.std.SetFrameProps(core.std.ModifyFrame(blank, blank, fill), Custom="yes")
clip = core.rainmamba.Derain(clip, model={model!r}, device_index=-1)
yuv = core.resize.Point(clip, format=vs.YUV420P8, matrix=1)
errors = []
for bad in (dict(clip=yuv.std.RemoveFrameProps("_Matrix")), dict(clip=clip, stride=0)):
    try:
        core.rainmamba.Derain(model={model!r}, **bad)
    except vs.Error as error:
        errors.append(str(error))
info = dict(frames=clip.num_frames, width=clip.width, height=clip.height, format=clip.format.name,
            yuv_format=core.rainmamba.Derain(yuv, model={model!r}, device_index=-1).format.name,
            rgb24_format=core.rainmamba.Derain(core.resize.Point(clip, format=vs.RGB24),
                                               model={model!r}, device_index=-1).format.name,
            errors=errors)
print("INFO " + json.dumps(info))
clip.set_output()
"""


def test_vspipe_runs_a_script_that_does_not_import_the_package(vspipe, tmp_path, tiny_checkpoint):
    video = shots_video([7], height=32, width=40)
    np.save(tmp_path / "video.npy", video)
    script = VPY.format(video=str(tmp_path / "video.npy"), model=str(tiny_checkpoint))
    assert "vsrainmamba" not in script
    done = vspipe(script, str(tmp_path / "out.raw"))
    assert done.returncode == 0, done.stderr
    info = json.loads(next(line[5:] for line in done.stdout.splitlines() if line.startswith("INFO ")))
    assert info["frames"] == 7 and (info["width"], info["height"]) == (40, 32) and info["format"] == "RGBS"
    assert info["yuv_format"] == "YUV420P8" and info["rgb24_format"] == "RGB24"
    assert info["errors"][0].startswith("Derain: the clip is YUV but its first frame has no _Matrix prop")
    assert info["errors"][1] == "Derain: stride must be an integer >= 1, got 0."
    frames = np.fromfile(tmp_path / "out.raw", dtype=np.float32).reshape(video.shape)[:, [2, 0, 1]]  # vspipe: GBR
    expected = Derainer(models.load(tiny_checkpoint), device="cpu")(torch.from_numpy(video)).numpy()
    # Another process may use another number of torch threads: equal up to float rounding.
    np.testing.assert_allclose(frames, expected, rtol=0, atol=1e-6)


def test_a_broken_python_package_is_reported_by_the_plugin(vspipe, tmp_path):
    broken = tmp_path / "broken" / "vsrainmamba"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text("raise ImportError('torch is missing')\n")
    script = ("import vapoursynth as vs\n"
              "vs.core.rainmamba.Derain(vs.core.std.BlankClip(format=vs.RGBS)).set_output()\n")
    done = vspipe(script, "--info", python_path=(tmp_path / "broken",))
    assert done.returncode != 0
    assert ("Derain: cannot import the Python package vsrainmamba (is it installed in the Python that runs "
            "this script?): torch is missing") in done.stderr


def test_a_wheel_puts_the_plugin_where_vapoursynth_autoloads_it(tmp_path):
    wheel, _ = build_wheel(tmp_path)
    assert "none-any" not in wheel.name  # a platform wheel: it holds a compiled library
    member = (AUTOLOAD_SUBDIR / plugin_filename()).as_posix()
    with zipfile.ZipFile(wheel) as archive:
        assert member in archive.namelist()
        archive.extract(member, tmp_path / "unpacked")
    assert functions_registered_by(tmp_path / "unpacked" / member) == ["BridgeConnect", "Derain"]


def test_an_installed_package_is_autoloaded_without_import():
    """After `pip install .` the plugin sits in VapourSynth's autoload folder and registers by itself.

    Editable installs and source checkouts keep it elsewhere (skipped there); CI sets
    RAINMAMBA_REQUIRE_PLUGIN=1 so that a plugin missing from a regular install fails instead.
    """
    library = Path(vs.__file__).parent / AUTOLOAD_SUBDIR.relative_to("vapoursynth") / plugin_filename()
    if not library.is_file():
        message = f"{library} is missing: vsrainmamba is installed in editable mode, or without a C compiler"
        if os.environ.get("RAINMAMBA_REQUIRE_PLUGIN") == "1":
            pytest.fail(message)
        pytest.skip(message)
    assert "rainmamba" in autoloaded_namespaces()
