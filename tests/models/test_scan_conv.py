"""The causal depthwise conv in half precision against a float64 reference, forward and backward.

Tolerances are those of the causal-conv1d package's own tests: output and input gradient
(rtol, atol) = (3e-3, 5e-3) in float16 and (1e-2, 5e-2) in bfloat16; weight and bias gradients
(1e-3, 1e-3) whatever the input dtype, since the weights stay float32 and are accumulated in float32.
"""
from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F

from models import scan

TOLERANCES = {torch.float16: (3e-3, 5e-3), torch.bfloat16: (1e-2, 5e-2)}
WEIGHT_TOLERANCE = (1e-3, 1e-3)
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
GRID = list(itertools.product([64, 5], [1, 2, 8, 130, 372], [2, 3, 4]))   # dim, seqlen, width


def _reference(x, weight, bias, activation, reverse):
    """The formula in float64: out[t] = bias + sum_k weight[k] x[t - (K-1) + k], left zero padding."""
    x = x.flip(-1) if reverse else x
    width = weight.shape[1]
    out = F.conv1d(F.pad(x, (width - 1, 0)), weight[:, None, :], bias, groups=weight.shape[0])
    out = F.silu(out) if activation else out
    return out.flip(-1) if reverse else out


def _close(got, want, tolerance, what):
    rtol, atol = tolerance
    excess = ((got.double() - want).abs() - rtol * want.abs()).max().item()   # torch.allclose's test
    assert excess <= atol, f"{what}: |error| - rtol*|reference| reaches {excess:.3g}, above atol {atol}"


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", list(TOLERANCES), ids=str)
@pytest.mark.parametrize("has_bias,activation,reverse", [(True, "silu", False), (False, None, False),
                                                         (True, None, True)])
def test_half_precision_conv_matches_float64_with_upstream_tolerances(device, dtype, has_bias, activation, reverse):
    for dim, seqlen, width in GRID:
        g = torch.Generator().manual_seed(dim * 1000 + seqlen * 10 + width)
        x = torch.randn(2, dim, seqlen, generator=g).to(device, dtype).requires_grad_()
        weight = torch.randn(dim, width, generator=g).to(device).requires_grad_()
        bias = torch.randn(dim, generator=g).to(device).requires_grad_() if has_bias else None
        upstream = torch.randn(2, dim, seqlen, generator=g).to(device, dtype)
        leaves = [t for t in (x, weight, bias) if t is not None]
        wide = [t.detach().double().requires_grad_() for t in leaves]
        want = _reference(wide[0], wide[1], wide[2] if has_bias else None, activation, reverse)
        with scan.use_scan_backend("torch"):   # the PyTorch conv, also on a GPU with causal_conv1d installed
            got = scan.causal_conv1d(x, weight, bias, activation=activation, reverse=reverse)
        case = f"dim {dim}, seqlen {seqlen}, width {width}, {dtype}"
        assert got.dtype == dtype
        _close(got, want, TOLERANCES[dtype], f"output ({case})")
        got_grads = torch.autograd.grad(got, leaves, upstream)
        want_grads = torch.autograd.grad(want, wide, upstream.double())
        for name, got_g, want_g in zip(("input", "weight", "bias"), got_grads, want_grads):
            assert got_g.dtype == (dtype if name == "input" else torch.float32)
            _close(got_g, want_g, TOLERANCES[dtype] if name == "input" else WEIGHT_TOLERANCE,
                   f"{name} gradient ({case})")


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
def test_the_cudnn_path_computes_in_float32_too(dtype):
    """The F.conv1d path (GPUs without causal_conv1d's kernel), here on CPU tensors."""
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 64, 130, generator=g).to(dtype).requires_grad_()
    weight = torch.randn(64, 4, generator=g).requires_grad_()
    bias = torch.randn(64, generator=g).requires_grad_()
    upstream = torch.randn(2, 64, 130, generator=g).to(dtype)
    wide = [t.detach().double().requires_grad_() for t in (x, weight, bias)]
    want = _reference(*wide, "silu", False)
    got = scan._causal_conv1d_gpu(x, weight, bias, "silu")
    assert got.dtype == dtype
    _close(got, want, TOLERANCES[dtype], "output")
    for name, got_g, want_g in zip(("input", "weight", "bias"), torch.autograd.grad(got, (x, weight, bias), upstream),
                                   torch.autograd.grad(want, wide, upstream.double())):
        _close(got_g, want_g, TOLERANCES[dtype] if name == "input" else WEIGHT_TOLERANCE, f"{name} gradient")
