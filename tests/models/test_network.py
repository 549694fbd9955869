"""The network against the authors' tensor listings, their Hilbert curves, and an independent forward pass."""
from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch

import models
from models.hilbert import hilbert_curve, hilbert_raster_inverse, hilbert_raster_order
from tests.conftest import OFFICIAL_JSON, official_listing
from tests.models.reference_forward import rainmamba_forward


@pytest.mark.parametrize("preset", list(OFFICIAL_JSON))
def test_tensor_names_and_shapes_equal_the_official_ones(preset):
    listing = official_listing(preset)
    with torch.device("meta"):
        net = models.build(preset)
    ours = {k: list(v.shape) for k, v in net.state_dict().items()}
    assert len(listing["generator_state_dict"]) == 574
    assert ours == listing["generator_state_dict"]
    assert sum(p.numel() for p in net.parameters()) == listing["generator_param_count"]


@pytest.mark.parametrize("preset", list(OFFICIAL_JSON))
def test_hilbert_curves_reproduce_the_official_files_bit_for_bit(preset):
    for name, info in official_listing(preset)["hilbert_curves"].items():
        curve = hilbert_curve(*info["grid_T_H_W"])
        assert curve.dtype == torch.int64 and curve.numel() == info["length"]
        assert curve[:16].tolist() == info["first_16"], name
        assert hashlib.sha256(curve.numpy().astype("<i8").tobytes()).hexdigest() == info["sha256_of_int64_le_bytes"]


@pytest.mark.parametrize("grid", [(1, 1, 1), (1, 3, 5), (3, 7, 5), (5, 9, 13), (2, 16, 6), (7, 1, 8), (5, 17, 30)])
def test_hilbert_curve_is_a_cached_permutation_for_any_size(grid):
    curve = hilbert_curve(*grid)
    t, h, w = grid
    assert sorted(curve.tolist()) == list(range(t * h * w))
    assert hilbert_curve(*grid) is curve
    # the network's form: the same walk naming cells by raster index t*h*w + y*w + x, and its inverse
    order = hilbert_raster_order(*grid)
    cells = np.stack(np.unravel_index(curve.numpy(), (h, w, t)), axis=1)   # (y, x, t) along the curve
    assert order.tolist() == (cells[:, 2] * h * w + cells[:, 0] * w + cells[:, 1]).tolist()
    inverse = hilbert_raster_inverse(*grid)
    assert torch.equal(order[inverse], torch.arange(t * h * w)) and hilbert_raster_inverse(*grid) is inverse


@pytest.mark.parametrize("grid", [(2, 4, 4), (4, 8, 6), (2, 16, 6), (6, 10, 12)])
def test_hilbert_curve_steps_to_a_neighbour_on_even_grids(grid):
    t, h, w = grid
    cells = np.stack(np.unravel_index(hilbert_curve(*grid).numpy(), (h, w, t)), axis=1)
    assert np.abs(np.diff(cells, axis=0)).sum(axis=1).max() == 1


def test_tiny_preset_is_small():
    net = models.build("tiny")
    assert sum(p.numel() for p in net.parameters()) < 1_100_000


@pytest.mark.parametrize("shape", [(1, 5, 32, 40), (2, 3, 32, 48), (1, 1, 32, 32), (1, 7, 40, 56)])
def test_forward_keeps_shape_for_any_t_and_multiple_of_8(tiny_net, shape):
    b, t, h, w = shape
    with torch.no_grad():
        out = tiny_net(torch.rand(b, t, 3, h, w))
    assert out.shape == (b, t, 3, h, w)
    assert torch.isfinite(out).all()


def test_forward_rejects_sizes_that_are_not_multiples_of_8(tiny_net):
    with pytest.raises(ValueError, match="multiples of 8"):
        tiny_net(torch.rand(1, 2, 3, 36, 32))
    with pytest.raises(ValueError, match="at least 32"):
        tiny_net(torch.rand(1, 2, 3, 24, 32))


def _compare_with_reference(net, x, depths, blocks, residual=False):
    net = net.double().eval()
    sd = {k: v.double() for k, v in net.state_dict().items()}
    with torch.no_grad():
        ours = net(x.double())
        ref = rainmamba_forward(x.double(), sd, depths, blocks, residual)
    assert ours.shape == ref.shape
    torch.testing.assert_close(ours, ref, rtol=1e-9, atol=1e-9)


def _randomise(net):
    """Give every tensor non-trivial values (zero biases and unit gammas would hide mistakes)."""
    torch.manual_seed(1)
    with torch.no_grad():
        for name, p in net.named_parameters():
            if "A_log" in name or "A_b_log" in name:
                p.copy_(torch.log(torch.rand_like(p) * 4 + 0.5))
            else:
                p.add_(torch.randn_like(p) * 0.05)
    return net


def test_forward_equals_independent_reference_tiny():
    net = _randomise(models.build("tiny"))
    assert net.preset.arch.residual
    _compare_with_reference(net, torch.rand(2, 3, 3, 32, 40), net.preset.arch.encoder_depths, net.preset.arch.blocks,
                            True)


@pytest.mark.parametrize("preset,shape", [("rainsynall100", (1, 2, 3, 32, 32))])
def test_forward_equals_independent_reference_official_presets(preset, shape):
    net = _randomise(models.build(preset))
    _compare_with_reference(net, torch.rand(*shape), (3, 3, 9, 3), (2, 3, 2))


def test_mlp_without_autograd_gives_the_same_bits_as_with_it():
    """Inference runs GELU in place on the depthwise conv's output; training keeps the out-of-place GELU that
    autograd needs. Both give the same values, and gradients still flow."""
    from models.network import Mlp

    torch.manual_seed(0)
    mlp = Mlp(8, 32)
    tokens = torch.randn(2, 3 * 4 * 5, 8, requires_grad=True)
    with torch.no_grad():
        inference = mlp(tokens, (3, 4, 5))
    training = mlp(tokens, (3, 4, 5))
    assert torch.equal(inference, training.detach())
    training.sum().backward()
    assert tokens.grad is not None and mlp.fc1.weight.grad.abs().sum() > 0
