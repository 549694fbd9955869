"""Losses, DCLL sampling and its schedule, the VGG builders and the LR schedule."""
from __future__ import annotations

import math

import pytest
import torch

from training.jitter import _hsv_to_rgb, _rgb_to_hsv, color_jitter, random_gaussian_blur
from training.losses import (DCLL_LAYERS, PERCEPTUAL_LAYERS, DCLLoss, DCLLSchedule, PerceptualLoss, RainMambaLoss,
                             charbonnier_loss, dcll_schedule, gather_patches, sample_dcll)
from training.schedule import make_scheduler, warmup_poly_lr
from training.vgg import VGGWeightsError, build_vgg_features, load_vgg_features


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ------------------------------------------------------------------------------------------ basics
def test_charbonnier_matches_formula():
    a, b = torch.rand(2, 3, 3, 8, 8), torch.rand(2, 3, 3, 8, 8)
    expected = torch.sqrt((a - b) ** 2 + 1e-12).mean()
    assert torch.allclose(charbonnier_loss(a, b), expected)
    assert charbonnier_loss(a, a).item() == pytest.approx(1e-6, rel=1e-3)  # sqrt(eps)


# ---------------------------------------------------------------------------------------- schedule
@pytest.mark.parametrize("distance, expected", [
    ((96, 60), {0.0: (0, 96), 0.5: (6, 67), 1.0: (12, 60)}),
    ((56, 48), {0.0: (0, 56), 0.5: (6, 48), 1.0: (12, 48)}),
])
def test_dcll_schedule_values(distance, expected):
    for progress, (positive, negative) in expected.items():
        assert dcll_schedule(progress, distance) == DCLLSchedule(positive, negative)


def test_dcll_schedule_is_monotone_and_clamped():
    steps = [dcll_schedule(p / 20, (96, 60)) for p in range(21)]
    assert all(a.positive_range <= b.positive_range for a, b in zip(steps, steps[1:]))
    assert all(a.negative_distance >= b.negative_distance for a, b in zip(steps, steps[1:]))
    assert dcll_schedule(2.0, (96, 60)) == dcll_schedule(1.0, (96, 60))


# ---------------------------------------------------------------------------------------- sampling
def _rain_batch(b=2, t=3, h=96, w=96, box=(40, 56, 20, 36)):
    """lq differs from gt only inside ``box`` (y0, y1, x0, x1) of every frame."""
    gt = torch.rand(b, t, 3, h, w)
    lq = gt.clone()
    y0, y1, x0, x1 = box
    lq[..., y0:y1, x0:x1] = (lq[..., y0:y1, x0:x1] + 0.5) % 1.0
    return lq, gt


@pytest.mark.parametrize("progress", [0.0, 0.5, 1.0])
def test_dcll_sampling_follows_schedule(progress):
    lq, gt = _rain_batch()
    schedule = dcll_schedule(progress, (40, 24))
    s = sample_dcll(lq, gt, 50, schedule, _gen(1), patch=16)
    n = 2 * 3 * 50
    assert s.anchor_y.shape == (n,) and s.patch == 16
    # anchors come from the pixels where |gt - lq| is above its mean (the box)
    assert ((s.anchor_y >= 40) & (s.anchor_y < 56) & (s.anchor_x >= 20) & (s.anchor_x < 36)).all()
    # positives: neighbouring frame, offset within +-positive_range, inside the frame
    assert ((s.positive_frame - s.frame).abs() <= 1).all()
    assert ((s.positive_y - s.anchor_y).abs() <= schedule.positive_range).all()
    assert ((s.positive_x - s.anchor_x).abs() <= schedule.positive_range).all()
    assert (s.positive_y >= 0).all() and (s.positive_y <= 96 - 16).all()
    # negatives: farther than d_neg on at least one axis, any frame of the window
    far = torch.maximum((s.negative_y - s.anchor_y).abs(), (s.negative_x - s.anchor_x).abs())
    assert (far > schedule.negative_distance).all()
    assert (s.negative_y <= 96 - 16).all() and (s.negative_x <= 96 - 16).all()
    assert set(s.negative_frame.tolist()) <= {0, 1, 2}
    # every (sample, frame) gets its samples
    assert torch.bincount(s.batch * 3 + s.frame).tolist() == [50] * 6
    if schedule.positive_range == 0:
        assert torch.equal(s.positive_y, s.anchor_y) and torch.equal(s.positive_x, s.anchor_x)
    else:
        assert (s.positive_y != s.anchor_y).any()


def test_dcll_sampling_uniform_without_rain_and_fallback_when_too_small():
    gt = torch.rand(1, 2, 3, 48, 48)
    s = sample_dcll(gt.clone(), gt, 200, DCLLSchedule(0, 100), _gen(2), patch=16)
    # no pixel above the mean difference: anchors uniform over the valid corners
    assert s.anchor_y.min() >= 0 and s.anchor_y.max() <= 32 and s.anchor_y.unique().numel() > 10
    # no corner is 100 px away in a 48 px frame: negatives fall back to the farthest corners
    far = torch.maximum((s.negative_y - s.anchor_y).abs(), (s.negative_x - s.anchor_x).abs())
    best = torch.maximum(torch.maximum(s.anchor_y, 32 - s.anchor_y), torch.maximum(s.anchor_x, 32 - s.anchor_x))
    assert torch.equal(far, best)


def test_dcll_sampling_is_reproducible():
    lq, gt = _rain_batch()
    a = sample_dcll(lq, gt, 5, DCLLSchedule(4, 30), _gen(7))
    b = sample_dcll(lq, gt, 5, DCLLSchedule(4, 30), _gen(7))
    assert all(torch.equal(getattr(a, f), getattr(b, f)) for f in ("anchor_y", "negative_x", "positive_frame"))


def test_gather_patches_picks_the_right_pixels():
    video = torch.arange(2 * 3 * 3 * 20 * 20, dtype=torch.float32).reshape(2, 3, 3, 20, 20)
    patches = gather_patches(video, torch.tensor([1, 0]), torch.tensor([2, 0]), torch.tensor([3, 0]),
                             torch.tensor([5, 4]), 4)
    assert torch.equal(patches[0], video[1, 2, :, 3:7, 5:9])
    assert torch.equal(patches[1], video[0, 0, :, 0:4, 4:8])


# ------------------------------------------------------------------------------------ VGG + losses
def _random_vgg(depth: int, layers: int) -> torch.nn.Sequential:
    torch.manual_seed(depth)
    return build_vgg_features(depth, layers).requires_grad_(False).eval()


def test_vgg_layers_use_torchvision_indices():
    keys = set(build_vgg_features(16, PERCEPTUAL_LAYERS).state_dict())
    assert keys == {f"{i}.{p}" for i in (0, 2, 5, 7, 10, 12, 14) for p in ("weight", "bias")}
    assert set(build_vgg_features(19, DCLL_LAYERS).state_dict()) == {"0.weight", "0.bias", "2.weight", "2.bias"}


def test_vgg_loads_torchvision_and_official_naming(tmp_path):
    ref = _random_vgg(16, PERCEPTUAL_LAYERS)
    tv = {f"features.{k}": v for k, v in ref.state_dict().items()}
    tv["classifier.0.weight"] = torch.zeros(2, 2)
    torch.save(tv, tmp_path / "vgg16.pth")
    loaded = load_vgg_features(16, PERCEPTUAL_LAYERS, tmp_path / "vgg16.pth")
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in ref.state_dict().items())
    assert not any(p.requires_grad for p in loaded.parameters())

    ref19 = _random_vgg(19, DCLL_LAYERS).state_dict()
    official = {"state_dict": {
        "generator.conv_last.weight": torch.zeros(1),
        **{f"PerceptualLoss.vgg_layers.{k}": v for k, v in ref.state_dict().items()},
        "ContrastLoss.l1.loss_net1.0.weight": ref19["0.weight"], "ContrastLoss.l1.loss_net1.0.bias": ref19["0.bias"],
        **{f"ContrastLoss.l1.loss_net3.{k}": v for k, v in ref19.items()}}}
    torch.save(official, tmp_path / "VRDS.pth")
    assert torch.equal(load_vgg_features(16, PERCEPTUAL_LAYERS, tmp_path / "VRDS.pth")[14].weight, ref[14].weight)
    assert torch.equal(load_vgg_features(19, DCLL_LAYERS, tmp_path / "VRDS.pth")[2].weight, ref19["2.weight"])


def test_vgg_missing_or_wrong_weights_are_clear(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    with pytest.raises(VGGWeightsError, match="vgg16-397923af.pth"):
        load_vgg_features(16, PERCEPTUAL_LAYERS)
    torch.save({"features.0.weight": torch.zeros(3, 3, 3, 3)}, tmp_path / "bad.pth")
    with pytest.raises(VGGWeightsError, match="lacks VGG19 tensors"):
        load_vgg_features(19, DCLL_LAYERS, tmp_path / "bad.pth")
    torch.save({"features.0.weight": torch.zeros(64, 3, 5, 5), "features.0.bias": torch.zeros(64)}, tmp_path / "s.pth")
    with pytest.raises(VGGWeightsError, match="shape"):
        load_vgg_features(19, 1, tmp_path / "s.pth")


def test_perceptual_loss_zero_on_identical_and_differentiable():
    loss = PerceptualLoss(_random_vgg(16, PERCEPTUAL_LAYERS))
    x = torch.rand(2, 3, 32, 32)
    assert loss(x, x).item() == 0.0
    y = torch.rand(2, 3, 32, 32, requires_grad=True)
    value = loss(y, x)
    value.backward()
    assert value.item() > 0 and y.grad.abs().sum() > 0


def test_dcll_and_total_loss():
    lq, gt = _rain_batch(b=1, t=3, h=64, w=64, box=(10, 40, 10, 40))
    out = gt.clone().requires_grad_(True)
    dcll = DCLLoss(_random_vgg(19, DCLL_LAYERS), num_samples=3, negative_distance=(24, 16))
    value = dcll(out, gt, lq, 0.5, _gen(3))
    value.backward()
    assert torch.isfinite(value) and value.item() >= 0 and out.grad.abs().sum() > 0
    # a static clean video, output == gt, p = 0 (positive patch == anchor patch): the loss is exactly zero
    still = gt[:, :1].expand_as(gt).contiguous()
    assert dcll(still, still, lq, 0.0, _gen(3)).item() == 0.0

    total_fn = RainMambaLoss(PerceptualLoss(_random_vgg(16, PERCEPTUAL_LAYERS)), dcll)
    total, terms = total_fn(out, gt, lq, 0.5, _gen(3))
    assert set(terms) == {"charbonnier", "perceptual", "dcll"}
    assert total.item() == pytest.approx(sum(t.item() for t in terms.values()), rel=1e-5)
    only_pixel, terms = RainMambaLoss(None, None)(out, gt, lq, 0.5, _gen(3))
    assert set(terms) == {"charbonnier"}


# -------------------------------------------------------------------------------------- jitter
def test_hsv_round_trip_and_jitter_ranges():
    x = torch.rand(6, 3, 16, 16)
    assert torch.allclose(_hsv_to_rgb(_rgb_to_hsv(x)), x, atol=1e-5)
    y = color_jitter(x, _gen(0))
    assert y.shape == x.shape and y.min() >= 0 and y.max() <= 1 and not torch.allclose(x, y)
    blurred = random_gaussian_blur(x, _gen(0))
    assert blurred.shape == x.shape
    flat = torch.full((2, 3, 16, 16), 0.25)
    assert torch.allclose(random_gaussian_blur(flat, _gen(1)), flat, atol=1e-6)  # blur keeps constants


# -------------------------------------------------------------------------------------- LR schedule
def test_warmup_poly_lr():
    base, total, warm = 4e-4, 1000, 100
    assert warmup_poly_lr(0, base, total, warm) == pytest.approx(base * 1e-6, rel=1e-3)
    assert warmup_poly_lr(warm, base, total, warm) == pytest.approx((base - 1e-9) * 0.9 + 1e-9)
    assert warmup_poly_lr(total, base, total, warm) == pytest.approx(1e-9)
    after = [warmup_poly_lr(i, base, total, warm) for i in range(warm, total + 1, 50)]
    assert all(a > b for a, b in zip(after, after[1:]))
    assert warmup_poly_lr(50, base, total, 0) == pytest.approx((base - 1e-9) * 0.95 + 1e-9)

    opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=base)
    sched = make_scheduler(opt, total, warm)
    seen = []
    for _ in range(5):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert seen == pytest.approx([warmup_poly_lr(i, base, total, warm) for i in range(5)], rel=1e-9)
    assert not math.isnan(seen[-1])
