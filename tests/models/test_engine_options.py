"""The options layer: one parse of the engine settings, errors in the caller's spelling, one device rule."""
from __future__ import annotations

import dataclasses

import pytest
import torch

from models.options import CLI, PYTHON, EngineOptions, OptionError, Spelling, parse_pair, resolve_device

WIDTH_FIRST = Spelling(names={"tile_overlap": "tile_pad", "device": "device_index"}, width_first=True,
                       overlap_frames=False, cpu="device_index=-1")


def test_pairs_in_each_spelling_become_height_width():
    assert parse_pair(16, "tile") == (16, 16)
    assert parse_pair((16, 32), "tile") == (16, 32)
    assert parse_pair([64, 32], "tile", WIDTH_FIRST) == (32, 64)
    assert parse_pair("16x32", "tile", CLI) == parse_pair("16,32", "tile", CLI) == (16, 32)
    assert parse_pair("24", "tile", CLI) == (24, 24)
    assert parse_pair((3, 8, 4), "tile_overlap", with_frames=True) == (3, 8, 4)


@pytest.mark.parametrize("spelling, value, message", [
    (PYTHON, (1, 2, 3), "tile must be an int >= 0 or an (H, W) pair of them, got (1, 2, 3)."),
    (WIDTH_FIRST, [64], "tile must be an int >= 0 or a [width, height] pair of them, got [64]."),
    (CLI, "big", "--tile must be an int >= 0 or an HxW pair of them, got 'big'."),
])
def test_bad_pairs_name_the_option_as_spelled(spelling, value, message):
    with pytest.raises(OptionError) as error:
        parse_pair(value, "tile", spelling)
    assert str(error.value) == message


def test_settings_are_quoted_as_typed_before_and_after_the_network_is_known():
    with pytest.raises(OptionError, match=r"^tile=\[64, 60\] is not allowed"):
        EngineOptions.parse(tile=[64, 60], spelling=WIDTH_FIRST, device="cpu")
    options = EngineOptions.parse(tile=[64, 16], tile_overlap=200, spelling=WIDTH_FIRST, device="cpu")
    assert options.tile == (16, 64)
    with pytest.raises(OptionError, match=r"^tile=\[64, 16\] is not allowed: .* at least 32"):
        options.fit(5, (256, 256), (2, 32, 32), min_size=32)
    options = EngineOptions.parse(tile_overlap=200, spelling=WIDTH_FIRST, device="cpu")
    with pytest.raises(OptionError) as error:
        options.fit(5, (128, 256), (2, 32, 32), min_size=32)
    assert str(error.value) == "tile_pad=200 must be smaller than the tile (tile=[256, 128] from the preset)."
    cli = EngineOptions.parse(tile="16x64", device="cpu", spelling=CLI)
    with pytest.raises(OptionError, match=r"^--tile 16x64 is not allowed"):
        cli.fit(5, (256, 256), (2, 32, 32), min_size=32)


def test_the_stride_follows_the_mode_and_the_temporal_overlap():
    fit = lambda **kw: EngineOptions.parse(device="cpu", **kw).fit(5, (64, 64), (2, 8, 8), 32)  # noqa: E731
    assert fit().stride == 5
    assert fit(mode="official").stride == 3
    assert fit(mode="official", tile_overlap=(4, 8, 8)).stride == 1
    assert fit(mode="official", stride=2).stride == 2
    with pytest.raises(OptionError, match="stride must be an integer from 1 to T=5, got 6"):
        fit(stride=6)


def test_dtypes_and_their_spellings():
    assert EngineOptions.parse(dtype="bf16", device="cpu").dtype == torch.bfloat16
    assert EngineOptions.parse(device="cpu").dtype == torch.float32
    flags = dataclasses.replace(CLI, dtypes={"float16": "--fp16", "bfloat16": "--bf16", "float32": "neither"})
    with pytest.raises(OptionError, match=r"^--fp16 needs a CUDA GPU; on the CPU use --bf16 or neither\.$"):
        EngineOptions.parse(dtype="float16", device="cpu", spelling=flags)
    with pytest.raises(OptionError, match=r"^Unsupported --dtype int8: use float32"):
        EngineOptions.parse(dtype="int8", device="cpu", spelling=CLI)


def test_the_device_rule_without_a_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device(None) == resolve_device("auto") == resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(OptionError, match=r"^device='cuda' asks for CUDA but torch sees no GPU: pass device='cpu'"):
        resolve_device("cuda")
    with pytest.raises(OptionError, match=r"^device_index=2 asks for CUDA GPU 2 but torch sees no GPU: "
                                          r"pass device_index=-1"):
        resolve_device(2, spelling=WIDTH_FIRST)
    with pytest.raises(OptionError, match=r"^--device cuda:1 asks for CUDA GPU 1 .*pass --device cpu"):
        resolve_device("cuda:1", spelling=CLI)


def test_the_device_rule_with_gpus(monkeypatch):
    """No device, "auto" and a bare "cuda" are this process's GPU: cuda:0, or the local rank's under torchrun."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    assert resolve_device(None) == resolve_device("auto") == resolve_device("cuda") == torch.device("cuda:0")
    assert resolve_device(None, local_rank=5) == resolve_device("cuda", local_rank=5) == torch.device("cuda:1")
    assert resolve_device("cuda:3", local_rank=5) == resolve_device(3) == torch.device("cuda:3")
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(OptionError, match=r"asks for CUDA GPU 4 but torch sees only 4 GPU\(s\), numbered from 0"):
        resolve_device(4)
    with pytest.raises(OptionError, match="is not a GPU index"):
        resolve_device(-1)
    with pytest.raises(OptionError, match="device must be"):
        resolve_device(True)
