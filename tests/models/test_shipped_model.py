"""The default model shipped in models/weights: it loads without a warning and really removes rain."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import models
from models.registry import DEFAULT_MODEL_FILE


def test_shipped_weights_are_the_default_and_carry_their_provenance():
    assert DEFAULT_MODEL_FILE.is_file(), "the shipped default weights are missing from models/weights/"
    assert DEFAULT_MODEL_FILE.stat().st_size < 8 * 1024 * 1024
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        net = models.resolve_model(None)
    assert net.preset.name == "lite" and not net.training
    assert net.provenance["iterations"] > 0 and "data" in net.provenance


def test_shipped_model_removes_synthetic_rain():
    from training.scenes import procedural_scene
    from training.synth import RainParams, add_rain
    from training.metrics import psnr

    derain = models.Derainer(models.resolve_model(None), mode="fast")
    gains = []
    for seed in (101, 202):
        rng = np.random.default_rng(seed)
        clean = procedural_scene(5, 64, 64, rng)
        rainy = add_rain(clean, RainParams(), rng)
        out = derain((rainy.transpose(0, 3, 1, 2) * 255).round().astype(np.uint8)).transpose(0, 2, 3, 1)
        ref = (clean * 255).round()
        before = np.mean([psnr((f * 255).round(), c) for f, c in zip(rainy, ref)])
        after = np.mean([psnr(o.astype(np.float64), c) for o, c in zip(out, ref)])
        gains.append(after - before)
    assert np.mean(gains) > 1.0, f"the shipped model gains only {np.mean(gains):.2f} dB on synthetic rain"


def test_missing_shipped_weights_are_an_error_not_random_weights(tmp_path, monkeypatch):
    absent = tmp_path / "absent.safetensors"
    monkeypatch.setattr(models.registry, "DEFAULT_MODEL_FILE", absent)
    before = torch.get_rng_state()
    for model in (None, "default"):
        with pytest.raises(FileNotFoundError, match=r"shipped default weights are missing") as err:
            models.resolve_model(model)
        message = str(err.value)
        assert str(absent) in message and "reinstall" in message and "checkpoint file" in message
    assert torch.equal(torch.get_rng_state(), before)


def test_resolve_model_leaves_the_global_rng_alone(tmp_path, tiny_net, model_home):
    path = models.save_checkpoint(tiny_net, tmp_path / "tiny.safetensors")
    models.save_checkpoint(tiny_net, model_home / "tiny.safetensors")
    torch.manual_seed(1234)
    before = torch.get_rng_state()
    for model in (None, "default", "tiny", path, str(path), tiny_net):
        models.resolve_model(model)
        assert torch.equal(torch.get_rng_state(), before), f"resolve_model({model!r}) moved the global RNG"


def test_shipped_model_leaves_clean_input_alone():
    """Flat fields come out as they went in (the first default shifted mid grey by 25 codes, with a tint),
    and a rain-free plain scene stays far closer to its input than any rain removal changes."""
    from training.scenes import plain_scene

    derain = models.Derainer(models.resolve_model(None), mode="fast")
    for rgb in ((128, 128, 128), (170, 200, 235), (40, 60, 30)):
        field = np.broadcast_to(np.array(rgb, np.uint8)[None, :, None, None], (5, 3, 64, 96)).copy()
        shift = np.abs(derain(field).astype(np.int16) - field).mean()
        assert shift <= 2.0, f"a flat {rgb} field comes out {shift:.1f} codes off"
    clean = (plain_scene(5, 64, 96, np.random.default_rng(7)).transpose(0, 3, 1, 2) * 255).round().astype(np.uint8)
    error = np.abs(derain(clean).astype(np.int16) - clean).mean()
    assert error <= 2.0, f"a rain-free plain clip comes out {error:.1f} codes off on average"


def test_shipped_model_leaves_bright_flat_texture_alone():
    """Sunlit grass, bright and low in contrast, is not veiled rain: the sixth default darkened these crops of
    ship-eval's rain-free `camera` clip (a photo no training set contains) by 18 and 24 codes on average."""
    from training.heldout import DEFAULT_SEED, FAST_PAN, UNSEEN_PHOTO, clip_rng
    from training.render import make_scene, render_pair
    from training.scenes import CameraMotion

    rng = clip_rng(DEFAULT_SEED, 1000, 2)
    clean, _ = render_pair(make_scene(UNSEEN_PHOTO, 5, 480, 854, rng, CameraMotion(pan=FAST_PAN)), None, rng)
    derain = models.Derainer(models.resolve_model(None), mode="fast")
    for y, x in ((100, 400), (200, 500)):
        crop = np.ascontiguousarray(clean[:, y:y + 128, x:x + 192].transpose(0, 3, 1, 2))
        assert crop.mean() > 140 and crop.std() < 45               # the bright, flat grass this is about
        error = np.abs(derain(crop).astype(np.int16) - crop).mean()
        assert error <= 2.0, f"a rain-free crop of bright grass comes out {error:.1f} codes off on average"
