"""The scan backends against the per-step reference, and the choice between them."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from models import backends, scan
from models.backends import mamba_cuda, numba_cpu
from models.scan import (available_backends, causal_conv1d, choose_backend, selective_scan, selective_scan_ref,
                         use_scan_backend)
from models.backends.chunked import selective_scan_chunked

NAMES = ("u", "delta", "A", "B", "C", "D", "z", "delta_bias")


def make_inputs(batch=2, dim=5, length=23, n_state=4, dtype=torch.float64, seed=0, positive_delta=False,
                device="cpu"):
    """Random scan inputs with mamba_ssm's shapes, in the order of NAMES."""
    g = torch.Generator().manual_seed(seed)

    def rand(*shape):
        return torch.randn(*shape, generator=g, dtype=torch.float64)

    delta = rand(batch, dim, length)
    inputs = {
        "u": rand(batch, dim, length), "delta": delta.abs() * 0.5 if positive_delta else delta,
        "A": -torch.rand(dim, n_state, generator=g, dtype=torch.float64) * 3 - 0.1,
        "B": rand(batch, n_state, length), "C": rand(batch, n_state, length), "D": rand(dim),
        "z": rand(batch, dim, length), "delta_bias": rand(dim) * 0.5,
    }
    return {k: v.to(device=device, dtype=dtype) for k, v in inputs.items()}


def grads(fn, inputs, softplus, upstream):
    leaves = {k: v.detach().clone().requires_grad_(True) for k, v in inputs.items()}
    y = fn(**leaves, delta_softplus=softplus)
    got = torch.autograd.grad(y, list(leaves.values()), upstream, allow_unused=True, materialize_grads=True)
    return y.detach(), dict(zip(leaves, got))


def assert_close_rel(actual, expected, rtol, what=""):
    """Max error relative to the largest magnitude of the expected tensor (scan outputs span decades)."""
    scale = expected.abs().max().clamp_min(1e-12)
    err = (actual.double() - expected.double()).abs().max() / scale
    assert err <= rtol, f"{what}: relative error {err:.3g} > {rtol:g}"


# -- the chunked PyTorch scan -----------------------------------------------------------------------

@pytest.mark.parametrize("length,chunk", [(23, 4), (37, 5), (16, 4), (5, 16), (1, 4), (130, 3)])
@pytest.mark.parametrize("softplus", [True, False])
def test_chunked_matches_reference_forward_and_backward_float64(length, chunk, softplus):
    inputs = make_inputs(length=length, positive_delta=not softplus)
    upstream = torch.randn(2, 5, length, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    y_ref, g_ref = grads(selective_scan_ref, inputs, softplus, upstream)
    y, g = grads(lambda **kw: selective_scan_chunked(**kw, chunk=chunk), inputs, softplus, upstream)
    torch.testing.assert_close(y, y_ref, rtol=1e-10, atol=1e-10)
    for name in NAMES:
        torch.testing.assert_close(g[name], g_ref[name], rtol=1e-9, atol=1e-9, msg=f"gradient of {name}")


def test_chunked_without_optional_inputs_matches_reference():
    inputs = make_inputs(length=29, positive_delta=True)
    args = [inputs[k] for k in ("u", "delta", "A", "B", "C")]
    torch.testing.assert_close(selective_scan_chunked(*args, chunk=4), selective_scan_ref(*args))


def test_chunked_no_grad_path_equals_grad_path():
    inputs = make_inputs(length=41)
    with torch.no_grad():
        y_nograd = selective_scan_chunked(**inputs, delta_softplus=True, chunk=4)
    y_grad, _ = grads(lambda **kw: selective_scan_chunked(**kw, chunk=4), inputs, True,
                      torch.ones(2, 5, 41, dtype=torch.float64))
    torch.testing.assert_close(y_nograd, y_grad, rtol=0, atol=1e-12)


def test_chunked_stays_finite_with_huge_decay():
    """delta*A of -1000 per step: a scan that divides by the decay would overflow to inf/nan."""
    inputs = make_inputs(length=64, dtype=torch.float32)
    inputs["delta"] = inputs["delta"].abs() * 60 + 20
    inputs["A"] = inputs["A"] * 10
    y = selective_scan_chunked(**inputs, delta_softplus=True, chunk=16)
    assert torch.isfinite(y).all()
    assert_close_rel(y, selective_scan_ref(**inputs, delta_softplus=True), 1e-5, "huge decay")


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_chunked_half_inputs_use_a_float32_state(dtype):
    inputs = make_inputs(length=300, dtype=dtype)
    y = selective_scan_chunked(**inputs, delta_softplus=True, chunk=16)
    assert y.dtype == dtype
    expected = selective_scan_ref(**{k: v.float() for k, v in inputs.items()}, delta_softplus=True)
    assert_close_rel(y.float(), expected, 1e-2, str(dtype))


# -- the numba kernel -------------------------------------------------------------------------------

needs_numba = pytest.mark.skipif(not numba_cpu.available(),
                                 reason=f"numba scan unavailable: {numba_cpu.unavailable_reason()}")


@needs_numba
@pytest.mark.parametrize("dim,length,softplus", [(5, 23, True), (32, 50, True), (20, 17, False), (16, 1, True)])
def test_numba_matches_reference_float32(dim, length, softplus):
    inputs = make_inputs(dim=dim, length=length, dtype=torch.float32, positive_delta=not softplus)
    expected = selective_scan_ref(**{k: v.double() for k, v in inputs.items()}, delta_softplus=softplus)
    y = numba_cpu.selective_scan_numba(**inputs, delta_softplus=softplus)
    assert y.dtype == torch.float32 and y.shape == expected.shape
    assert_close_rel(y, expected, 2e-6, "numba vs reference")


@needs_numba
def test_numba_reads_strided_views_like_contiguous_tensors():
    """The layer hands over transposed / sliced views (as bimamba does); they are read without a copy."""
    inputs = make_inputs(dim=24, length=19, dtype=torch.float32)
    expected = numba_cpu.selective_scan_numba(**inputs, delta_softplus=True)
    xz = torch.cat([inputs["u"], inputs["z"]], dim=1).transpose(1, 2).contiguous().transpose(1, 2)
    views = dict(inputs, u=xz[:, :24], z=xz[:, 24:],
                 delta=inputs["delta"].transpose(1, 2).contiguous().transpose(1, 2),
                 B=inputs["B"].transpose(1, 2).contiguous().transpose(1, 2))
    assert not views["z"].is_contiguous() and not views["delta"].is_contiguous()
    torch.testing.assert_close(numba_cpu.selective_scan_numba(**views, delta_softplus=True), expected,
                               rtol=0, atol=0)


def _token_major(t: torch.Tensor) -> torch.Tensor:
    """The same (B, D, L) values as a view of a token-major (B, L, D) tensor, as the layer lays them out on a CPU."""
    return t.transpose(1, 2).contiguous().transpose(1, 2)


@needs_numba
def test_token_major_views_are_read_in_place_and_other_layouts_copied():
    """The kernels read (B, L, W) rows: a column slice of a wider projection (z of in_proj's output, B and C
    of x_proj's) is the parent's memory and the column of its first channel, for every batch item."""
    xz = torch.randn(3, 11, 10)                           # (B, L, 2D), D = 5
    for col, view in ((0, xz[..., :5]), (5, xz[..., 5:]), (2, xz[..., 2:7])):
        rows, found = numba_cpu._rows_in_place(view.transpose(1, 2))
        assert found == col and rows.shape == (3, 11, 10) and rows.flags.c_contiguous
        assert np.shares_memory(rows, xz.numpy())
        assert np.array_equal(rows[:, :, col:col + 5], view.numpy())
    tail = torch.randn(40)[4:].view(2, 3, 6)[..., 3:]     # the last columns of a view that ends its storage
    rows, col = numba_cpu._rows_in_place(tail.transpose(1, 2))
    assert np.array_equal(rows[:, :, col:col + 3], tail.numpy())
    channel_major = torch.randn(3, 5, 11)
    assert numba_cpu._rows_in_place(channel_major) is None
    assert numba_cpu._rows_in_place(_token_major(channel_major).double()) is None
    rows, col = numba_cpu._rows(channel_major, 16)        # copied, padded to whole blocks of lanes with zeros
    assert col == 0 and rows.shape == (3, 11, 16) and not rows[..., 5:].any()
    assert np.array_equal(rows[..., :5], channel_major.transpose(1, 2).numpy())


@needs_numba
@pytest.mark.parametrize("dim", [16, 32, 20])
@pytest.mark.parametrize("reverse", [False, True])
def test_numba_scan_gives_the_same_bits_in_either_layout(dim, reverse):
    """Token-major inputs (read in place) and channel-major ones (copied) give identical outputs, with and
    without ``out`` (added into in place when it is token-major too); whole and partial blocks of lanes."""
    inputs = make_inputs(dim=dim, length=37, n_state=16, dtype=torch.float32)
    token = {k: _token_major(v) if v.dim() == 3 else v for k, v in inputs.items()}
    expected = numba_cpu.selective_scan_numba(**inputs, delta_softplus=True, reverse=reverse)
    got = numba_cpu.selective_scan_numba(**token, delta_softplus=True, reverse=reverse)
    assert torch.equal(got, expected)
    start = torch.randn(2, 37, dim)
    buffer = start.clone()
    returned = numba_cpu.selective_scan_numba(**token, delta_softplus=True, reverse=reverse,
                                              out=buffer.transpose(1, 2))
    assert returned.data_ptr() == buffer.data_ptr()
    assert torch.equal(buffer, start + expected.transpose(1, 2))
    wide = {k: v.double() for k, v in inputs.items()}
    reference = _flipped_reference(wide, True) if reverse else selective_scan_ref(**wide, delta_softplus=True)
    assert_close_rel(expected, reference, 1e-5, "either layout")


@needs_numba
def test_the_layer_hands_the_cpu_kernels_token_major_views(monkeypatch):
    """On a CPU, BiMamba's conv and scan inputs are views of token-major tensors (channels adjacent), which the
    kernels read with one vector load per step; its output equals the per-step reference's."""
    from models import bimamba

    seen = []
    real_scan = bimamba.selective_scan
    monkeypatch.setattr(bimamba, "selective_scan", lambda u, delta, A, B, C, D, z, **kw: seen.append(
        (u, delta, B, C, z)) or real_scan(u, delta, A, B, C, D, z, **kw))
    torch.manual_seed(0)
    layer = bimamba.BiMamba(16).eval()
    tokens = torch.randn(2, 30, 16)
    with torch.inference_mode():
        got = layer(tokens)
        with use_scan_backend("ref"):
            expected = layer(tokens)
    assert len(seen) == 4
    for tensors in seen[:2]:
        assert all(t.stride(1) == 1 for t in tensors)
        assert all(numba_cpu._rows_in_place(t) is not None for t in tensors)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


@needs_numba
def test_numba_without_optional_inputs_and_with_bfloat16():
    inputs = make_inputs(dim=7, length=30, dtype=torch.float32, positive_delta=True)
    args = [inputs[k] for k in ("u", "delta", "A", "B", "C")]
    assert_close_rel(numba_cpu.selective_scan_numba(*args), selective_scan_ref(*args), 2e-6, "bare scan")
    half = {k: v.bfloat16() for k, v in inputs.items()}
    y = numba_cpu.selective_scan_numba(**half, delta_softplus=True)
    assert y.dtype == torch.bfloat16
    assert_close_rel(y.float(), selective_scan_ref(**{k: v.float() for k, v in half.items()},
                                                   delta_softplus=True), 1e-2, "bfloat16")


@needs_numba
def test_numba_kernels_use_as_many_threads_as_torch():
    """``torch.set_num_threads`` (``--threads``) is one knob: numba's pool would otherwise use every core."""
    import numba

    inputs = make_inputs(dim=32, length=20, dtype=torch.float32)
    before = torch.get_num_threads()
    try:
        for threads in (1, numba.config.NUMBA_NUM_THREADS):
            torch.set_num_threads(threads)
            numba.set_num_threads(numba.config.NUMBA_NUM_THREADS if threads == 1 else 1)
            numba_cpu.selective_scan_numba(**inputs, delta_softplus=True)
            assert numba.get_num_threads() == threads
    finally:
        torch.set_num_threads(before)
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)


@needs_numba
def test_numba_kernels_use_wide_vectors_on_avx512():
    """LLVM's prefer-256-bit tuning of Intel AVX-512 CPUs is turned off for the scan kernels."""
    import os

    import llvmlite.binding as llvm
    import numba

    numba_cpu.available()
    if not llvm.get_host_cpu_features().get("avx512f"):
        pytest.skip("no AVX-512 on this CPU")
    if "-prefer-256-bit" not in os.environ.get("NUMBA_CPU_FEATURES", "-prefer-256-bit"):
        pytest.skip("NUMBA_CPU_FEATURES was set by the user")
    assert numba.config.CPU_FEATURES.endswith(",-prefer-256-bit")


# -- choosing a backend -----------------------------------------------------------------------------

@pytest.fixture
def auto_backend(monkeypatch):
    monkeypatch.delenv(scan.ENV_VAR, raising=False)


def spy_backends(monkeypatch):
    """Replace each backend's forward by a recorder that still computes the result."""
    calls: list[str] = []
    for name in backends.BACKENDS:
        module = backends.get(name)
        def recorder(*args, _name=name, _fn=module.forward, **kwargs):
            calls.append(_name)
            return _fn(*args, **kwargs)
        monkeypatch.setattr(module, "forward", recorder)
    return calls


@needs_numba
def test_dispatch_uses_numba_on_cpu_with_and_without_grad(auto_backend, monkeypatch):
    """No grad: the inference kernel. Grad: the numba forward/backward pair (same backend name)."""
    calls = spy_backends(monkeypatch)
    inputs = make_inputs(dtype=torch.float32, length=12)
    with torch.no_grad():
        y_fast = selective_scan(**inputs, delta_softplus=True)
    leaves = {k: v.clone().requires_grad_(True) for k, v in inputs.items()}
    y_train = selective_scan(**leaves, delta_softplus=True)
    assert calls == ["numba", "numba"]
    assert_close_rel(y_fast, y_train.detach(), 1e-5, "inference kernel vs training kernel")
    upstream = torch.randn(2, 5, 12, generator=torch.Generator().manual_seed(2))
    got = torch.autograd.grad(y_train, list(leaves.values()), upstream)
    _, expected = grads(lambda **kw: selective_scan_chunked(**kw), {k: v.double() for k, v in inputs.items()},
                        True, upstream.double())
    for name, g in zip(leaves, got):
        assert_close_rel(g, expected[name], 1e-4, f"gradient of {name}")


def test_training_scan_without_gate_or_skip_matches_reference(auto_backend):
    """z and D are optional in every backend, also when gradients are needed."""
    inputs = make_inputs(dtype=torch.float32, length=10, positive_delta=True)
    bare = {k: inputs[k].clone().requires_grad_(True) for k in ("u", "delta", "A", "B", "C")}
    y = selective_scan(**bare)
    assert_close_rel(y.detach(), selective_scan_ref(**{k: v.detach() for k, v in bare.items()}), 1e-5, "no z, no D")
    y.sum().backward()
    assert all(torch.isfinite(t.grad).all() for t in bare.values())


def test_dispatch_rules(auto_backend):
    u = torch.zeros(1, 4, 8)
    cpu_fast = "numba" if numba_cpu.available() else "torch"
    assert choose_backend(u, needs_grad=False) == cpu_fast
    assert choose_backend(u, needs_grad=True) == cpu_fast
    assert choose_backend(u.double(), needs_grad=False) == "torch"   # numba computes in float32
    assert {"torch", "ref"} <= set(available_backends())
    assert ("numba" in available_backends()) == numba_cpu.available()
    assert ("cuda" in available_backends()) == mamba_cuda.available()


def test_environment_variable_forces_a_backend(monkeypatch):
    calls = spy_backends(monkeypatch)
    inputs = make_inputs(dtype=torch.float32, length=9)
    monkeypatch.setenv(scan.ENV_VAR, "ref")
    with torch.no_grad():
        y = selective_scan(**inputs, delta_softplus=True)
    assert calls == ["ref"]
    monkeypatch.setenv(scan.ENV_VAR, "torch")
    with torch.no_grad():
        assert_close_rel(selective_scan(**inputs, delta_softplus=True), y, 1e-5, "forced torch")
    assert calls == ["ref", "torch"]


def test_forcing_a_backend_that_cannot_run_is_a_clear_error(monkeypatch):
    inputs = make_inputs(dtype=torch.float32, length=6)
    monkeypatch.setenv(scan.ENV_VAR, "cuda")
    with pytest.raises(RuntimeError, match="'cuda' was forced but cannot run"):
        selective_scan(**inputs)
    monkeypatch.setenv(scan.ENV_VAR, "numba")
    with pytest.raises(RuntimeError, match="computes in float32"):
        selective_scan(**{k: v.double() for k, v in inputs.items()})
    monkeypatch.setenv(scan.ENV_VAR, "fastest")
    with pytest.raises(ValueError, match="RAINMAMBA_SCAN='fastest' is not a scan backend"):
        selective_scan(**inputs)


def test_context_manager_overrides_the_environment(monkeypatch):
    monkeypatch.setenv(scan.ENV_VAR, "cuda")
    u = torch.zeros(1, 4, 8)
    with use_scan_backend("ref"):
        assert choose_backend(u) == "ref"
    with use_scan_backend("auto"):
        assert choose_backend(u) in ("numba", "torch")
    with pytest.raises(ValueError, match="Unknown scan backend"):
        with use_scan_backend("fortran"):
            pass


def test_bad_shapes_are_one_clear_error():
    inputs = make_inputs(dtype=torch.float32, length=10)
    inputs["B"] = inputs["B"][:, :, :9]
    with pytest.raises(ValueError, match=r"B must have shape \(2, 4, 10\)"):
        selective_scan(**inputs)
    with pytest.raises(ValueError, match="u must be"):
        selective_scan(torch.zeros(4, 10), torch.zeros(4, 10), torch.zeros(4, 2), torch.zeros(2, 10),
                       torch.zeros(2, 10))


# -- scanning backwards ----------------------------------------------------------------------------

def _flipped_reference(inputs, softplus):
    """The reverse scan by definition: flip every sequence input along L, scan, flip the output back."""
    flipped = {k: (v.flip(-1) if k in ("u", "delta", "B", "C", "z") else v) for k, v in inputs.items()}
    return selective_scan_ref(**flipped, delta_softplus=softplus).flip(-1)


@pytest.mark.parametrize("backend", ["ref", "torch", "numba"])
@pytest.mark.parametrize("with_grad", [False, True])
def test_reverse_scan_equals_the_flipped_forward_scan(backend, with_grad):
    if backend == "numba" and not numba_cpu.available():
        pytest.skip(numba_cpu.unavailable_reason())
    inputs = make_inputs(dim=20, length=29, dtype=torch.float32 if backend == "numba" else torch.float64)
    expected = _flipped_reference({k: v.double() for k, v in inputs.items()}, True)
    assert not torch.allclose(expected, selective_scan_ref(**inputs, delta_softplus=True).double(), atol=1e-3)
    leaves = {k: v.clone().requires_grad_(with_grad) for k, v in inputs.items()}
    with use_scan_backend(backend), torch.set_grad_enabled(with_grad):
        y = selective_scan(**leaves, delta_softplus=True, reverse=True)
    assert_close_rel(y, expected, 1e-5 if backend == "numba" else 1e-10, f"{backend} reverse scan")
    if with_grad:  # gradients flow back through the reversal to the unflipped inputs
        upstream = torch.randn(y.shape, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
        got = torch.autograd.grad(y, list(leaves.values()), upstream.to(y.dtype))
        _, want = grads(lambda **kw: _flipped_reference(kw, kw.pop("delta_softplus")),
                        {k: v.double() for k, v in inputs.items()}, True, upstream)
        for name, g in zip(leaves, got):
            assert_close_rel(g, want[name], 1e-4 if backend == "numba" else 1e-9, f"gradient of {name}")


@needs_numba
@pytest.mark.parametrize("reverse", [False, True])
def test_numba_scan_gives_the_same_bits_in_blocks_of_16_32_and_64_channels(reverse, monkeypatch):
    """Each block width is its own compiled kernel; every width computes each channel the same way."""
    from models.backends import numba_kernel

    inputs = make_inputs(batch=1, dim=128, length=29, n_state=16, dtype=torch.float32, positive_delta=True)
    outputs = {}
    for lanes in numba_kernel.LANE_WIDTHS:
        monkeypatch.setattr(numba_kernel, "lanes_for", lambda batch, dim, threads, _lanes=lanes: _lanes)
        outputs[lanes] = numba_cpu.selective_scan_numba(**inputs, delta_softplus=True, reverse=reverse)
    assert all(torch.equal(outputs[lanes], outputs[16]) for lanes in outputs)
    wide = {k: v.double() for k, v in inputs.items()}
    reference = _flipped_reference(wide, True) if reverse else selective_scan_ref(**wide, delta_softplus=True)
    assert_close_rel(outputs[64], reference, 1e-5, "64-channel blocks")


@needs_numba
def test_each_scan_width_compiles_once_for_the_rows_it_is_meant_for():
    """The widths compile on first call: whatever layout, optional input or ``out`` a caller uses, the wrapper
    hands each kernel the same C-contiguous float32 types (a second signature would be a slow, silent recompile)."""
    from numba.core import sigutils

    from models.backends import numba_kernel

    for dim in (16, 64, 128, 20):
        inputs = make_inputs(batch=1, dim=dim, length=19, n_state=16, dtype=torch.float32, positive_delta=True)
        token = {k: _token_major(v) if v.dim() == 3 else v for k, v in inputs.items()}
        for given in (inputs, token, {k: v for k, v in inputs.items() if k not in ("z", "D", "delta_bias")}):
            numba_cpu.selective_scan_numba(**given, delta_softplus=True)
        numba_cpu.selective_scan_numba(**token, reverse=True, out=torch.zeros(1, 19, dim).transpose(1, 2))
    expected = tuple(sigutils.normalize_signature(numba_kernel.SCAN_SIGNATURE)[0])
    for lanes, kernel in numba_kernel.scan_kernels.items():
        assert kernel.signatures == [expected], f"{lanes}-channel kernel compiled for {kernel.signatures}"


def test_the_scan_runs_the_widest_blocks_that_keep_every_thread_busy():
    from models.backends.numba_kernel import lanes_for

    assert lanes_for(1, 64, 2) == 32 and lanes_for(1, 128, 2) == 64 and lanes_for(1, 256, 2) == 64
    assert lanes_for(1, 64, 4) == 16 and lanes_for(1, 64, 8) == 16 and lanes_for(4, 64, 4) == 64
    assert lanes_for(1, 48, 1) == 16 and lanes_for(2, 96, 2) == 32 and lanes_for(1, 16, 2) == 16


@needs_numba
def test_numba_reverse_scan_reads_strided_views():
    """The reversed numpy views combine with transposed inputs (the layer hands the kernel views)."""
    inputs = make_inputs(dim=17, length=40, dtype=torch.float32)
    strided = dict(inputs, u=inputs["u"].transpose(1, 2).contiguous().transpose(1, 2),
                   delta=inputs["delta"].transpose(1, 2).contiguous().transpose(1, 2))
    with torch.no_grad(), use_scan_backend("numba"):
        y = selective_scan(**strided, delta_softplus=True, reverse=True)
    assert_close_rel(y, _flipped_reference({k: v.double() for k, v in inputs.items()}, True), 1e-5, "strided")


@pytest.mark.parametrize("backend", ["ref", "torch", "numba"])
@pytest.mark.parametrize("reverse", [False, True])
def test_a_scan_adds_into_out_exactly_as_a_separate_sum(backend, reverse):
    """``out=``: y added into a transposed (B, L, D) buffer, bit for bit the sum of a separate y, on every backend;
    the numba kernel adds as it writes (no y of its own)."""
    if backend == "numba" and not numba_cpu.available():
        pytest.skip(numba_cpu.unavailable_reason())
    dtype = torch.float32 if backend == "numba" else torch.float64
    inputs = make_inputs(dim=19, length=33, dtype=dtype)
    start = torch.randn(2, 33, 19, generator=torch.Generator().manual_seed(3), dtype=dtype)
    buffer = start.clone()
    with torch.no_grad(), use_scan_backend(backend):
        y = selective_scan(**inputs, delta_softplus=True, reverse=reverse)
        got = selective_scan(**inputs, delta_softplus=True, reverse=reverse, out=buffer.transpose(1, 2))
    assert got.data_ptr() == buffer.data_ptr() and not torch.equal(buffer, start)
    assert torch.equal(buffer, start + y.transpose(1, 2))


def test_a_scan_adds_into_out_with_gradients_and_refuses_a_wrong_out(auto_backend):
    inputs = make_inputs(dim=6, length=12, dtype=torch.float32)
    leaves = {k: v.clone().requires_grad_(True) for k, v in inputs.items()}
    buffer = torch.zeros(2, 12, 6)
    out = selective_scan(**leaves, delta_softplus=True, out=buffer.transpose(1, 2))
    y = selective_scan(**leaves, delta_softplus=True)
    upstream = torch.randn(2, 6, 12, generator=torch.Generator().manual_seed(2))
    got = torch.autograd.grad(out, list(leaves.values()), upstream)
    want = torch.autograd.grad(y, list(leaves.values()), upstream)
    for name, g, w in zip(leaves, got, want):
        torch.testing.assert_close(g, w, msg=f"gradient of {name}")
    with pytest.raises(ValueError, match="out must have u's shape"):
        selective_scan(**inputs, out=torch.zeros(2, 6, 11))


# -- causal conv1d ---------------------------------------------------------------------------------

def test_causal_conv1d_is_causal_and_matches_the_formula():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(2, 3, 9, generator=g, dtype=torch.float64)
    w = torch.randn(3, 4, generator=g, dtype=torch.float64)
    b = torch.randn(3, generator=g, dtype=torch.float64)
    out = causal_conv1d(x, w, b, activation="silu")
    xp = F.pad(x, (3, 0))
    expected = sum(w[None, :, k, None] * xp[:, :, k:k + 9] for k in range(4)) + b[None, :, None]
    torch.testing.assert_close(out, F.silu(expected))
    x2 = x.clone()
    x2[..., 5:] += 1.0                      # the future must not change the past
    torch.testing.assert_close(causal_conv1d(x2, w, b)[..., :5], causal_conv1d(x, w, b)[..., :5])
    with pytest.raises(ValueError, match="activation"):
        causal_conv1d(x, w, b, activation="relu")


@pytest.mark.parametrize("length", [9, 3, 1])
def test_reverse_causal_conv1d_equals_the_flipped_conv(length):
    g = torch.Generator().manual_seed(6)
    x = torch.randn(2, 3, length, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.randn(3, 4, generator=g, dtype=torch.float64)
    b = torch.randn(3, generator=g, dtype=torch.float64)
    ours = causal_conv1d(x, w, b, activation="silu", reverse=True)
    expected = causal_conv1d(x.flip(-1), w, b, activation="silu").flip(-1)
    torch.testing.assert_close(ours, expected)
    upstream = torch.randn(2, 3, length, generator=g, dtype=torch.float64)
    torch.testing.assert_close(torch.autograd.grad(ours, x, upstream)[0],
                               torch.autograd.grad(expected, x, upstream)[0])


@pytest.mark.parametrize("length", [9, 2])
def test_causal_conv1d_gradients_match_conv1d(length):
    """The CPU path (shifted multiply-adds) against F.conv1d on a padded input, values and gradients."""
    g = torch.Generator().manual_seed(4)
    x = torch.randn(2, 3, length, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.randn(3, 4, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(3, generator=g, dtype=torch.float64, requires_grad=True)
    upstream = torch.randn(2, 3, length, generator=g, dtype=torch.float64)
    ours = causal_conv1d(x, w, b, activation="silu")
    theirs = F.silu(F.conv1d(F.pad(x, (3, 0)), w[:, None, :], b, groups=3))
    torch.testing.assert_close(ours, theirs)
    for got, expected in zip(torch.autograd.grad(ours, (x, w, b), upstream),
                             torch.autograd.grad(theirs, (x, w, b), upstream)):
        torch.testing.assert_close(got, expected)


@needs_numba
@pytest.mark.parametrize("length,width", [(130, 4), (5, 3), (2, 4), (1, 2)])
@pytest.mark.parametrize("reverse", [False, True])
def test_inference_conv_runs_in_the_compiled_kernel_and_matches_the_formula(length, width, reverse, monkeypatch):
    """No gradient on a CPU: one numba pass (conv + SiLU), float32, on strided views too; equal to the
    float64 formula within float32 rounding."""
    g = torch.Generator().manual_seed(7)
    xz = torch.randn(length, 2, 12, generator=g).permute(1, 2, 0)          # (B, 2D, L) view, not contiguous
    x = xz[:, :6]
    w, b = torch.randn(6, width, generator=g), torch.randn(6, generator=g)
    calls = []
    monkeypatch.setattr(numba_cpu, "causal_conv1d_numba",
                        lambda *a, _f=numba_cpu.causal_conv1d_numba: calls.append(1) or _f(*a))
    for bias in (b, None):
        for activation in ("silu", None):
            with torch.no_grad():
                got = causal_conv1d(x, w, bias, activation=activation, reverse=reverse)
            xs = x.double().flip(-1) if reverse else x.double()
            want = F.conv1d(F.pad(xs, (width - 1, 0)), w.double()[:, None, :],
                            None if bias is None else bias.double(), groups=6)
            want = F.silu(want) if activation else want
            want = want.flip(-1) if reverse else want
            assert got.dtype == torch.float32
            torch.testing.assert_close(got.double(), want, rtol=1e-6, atol=1e-6)
    assert len(calls) == 4
    with use_scan_backend("torch"), torch.no_grad():   # forcing a PyTorch backend keeps the conv in PyTorch
        causal_conv1d(x, w, b, activation="silu", reverse=reverse)
    assert len(calls) == 4
    tokens = xz.transpose(1, 2).contiguous()             # (B, L, 2D): x a column slice, read in place
    with torch.no_grad():
        in_place = causal_conv1d(tokens.transpose(1, 2)[:, :6], w, b, activation="silu", reverse=reverse)
        copied = causal_conv1d(x, w, b, activation="silu", reverse=reverse)
    assert torch.equal(in_place, copied) and in_place.stride(1) == 1   # token-major out, as the scan reads it


# -- the benchmark command ------------------------------------------------------------------------

def test_bench_command_times_the_scan_and_writes_json(tmp_path):
    import json

    from click.testing import CliRunner

    from models.bench import bench_command
    out = tmp_path / "bench.json"
    result = CliRunner().invoke(bench_command, ["--device", "cpu", "--scan-length", "64", "--presets", "none",
                                                "--repeat", "1", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "speedup_vs_ref" in result.output
    data = json.loads(out.read_text())
    rows = {r["backend"]: r for r in data["results"] if r["section"] == "scan"}
    assert {"ref", "torch"} <= set(rows)
    assert rows["torch"]["max_rel_err_vs_ref"] < 1e-5 and rows["torch"]["speedup_vs_ref"] > 0
    assert data["machine"]["cpu_cores"] >= 1


def test_bench_command_rejects_bad_options_clearly():
    from click.testing import CliRunner

    from models.bench import bench_command
    result = CliRunner().invoke(bench_command, ["--device", "cpu", "--sizes", "huge", "--no-scan"])
    assert result.exit_code == 2 and "'huge' is not a frame size" in result.output


# -- the CUDA kernels, when this machine has them -----------------------------------------------------

def _cuda_skip_reason() -> str | None:
    if not torch.cuda.is_available():
        return "no CUDA device: mamba_ssm / causal_conv1d kernels are checked by benchmarks/gpu_check.py on a GPU"
    if not mamba_cuda.available():
        return f"mamba_ssm not usable here ({mamba_cuda.unavailable_reason()})"
    return None


def test_cuda_scan_matches_chunked_torch_forward_and_backward():
    reason = _cuda_skip_reason()
    if reason:
        pytest.skip(reason)
    inputs = make_inputs(dim=64, length=300, n_state=16, dtype=torch.float32, device="cuda")
    upstream = torch.randn(2, 64, 300, device="cuda")
    y_ref, g_ref = grads(selective_scan_chunked, inputs, True, upstream)
    y, g = grads(mamba_cuda.selective_mamba_cuda, inputs, True, upstream)
    assert_close_rel(y, y_ref, 1e-4, "cuda forward")
    for name in NAMES:
        assert_close_rel(g[name], g_ref[name], 1e-3, f"cuda gradient of {name}")


def test_cuda_causal_conv1d_matches_pytorch():
    if not torch.cuda.is_available() or not mamba_cuda.conv_available():
        pytest.skip(f"causal_conv1d kernel not usable here ({mamba_cuda.conv_unavailable_reason()})")
    x = torch.randn(2, 64, 100, device="cuda")
    w, b = torch.randn(64, 4, device="cuda"), torch.randn(64, device="cuda")
    with use_scan_backend("torch"):
        expected = causal_conv1d(x, w, b, activation="silu")
    torch.testing.assert_close(causal_conv1d(x, w, b, activation="silu"), expected, rtol=1e-4, atol=1e-4)


def test_torch_compile_calls_the_scan_instead_of_tracing_it():
    """Traced by dynamo, the numba wrapper's numpy calls lost the kernel's in-place output (NaN or
    garbage, silently); the dispatcher is opaque to torch.compile, so compiled layers match eager ones."""
    import torch._dynamo

    from models.bimamba import BiMamba

    torch.manual_seed(0)
    layer = BiMamba(16).eval()
    x = torch.randn(2, 40, 16)
    try:
        with torch.inference_mode():
            expected = layer(x)
            got = torch.compile(layer, backend="eager")(x)
    finally:
        torch._dynamo.reset()
    torch.testing.assert_close(got, expected)


def test_importing_models_does_not_import_dynamo_or_triton():
    """Start-up cost: keeping the scan out of compiled graphs must not cost every user dynamo's 1.4 s
    import, nor the GPU-only Triton kernel triton's 0.1 s."""
    import subprocess
    import sys

    code = ("import sys, models, vsrainmamba, opencv_filter; "
            "print('torch._dynamo' in sys.modules, 'triton' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False False"


def test_every_backend_has_the_same_small_interface():
    for name in backends.BACKENDS:
        module = backends.get(name)
        assert module.name == name
        assert all(isinstance(module.__dict__.get(flag), bool) for flag in ("has_backward", "native_reverse", "adds_into_out"))
        assert all(callable(getattr(module, fn)) for fn in ("available", "unavailable_reason", "why_not", "forward"))
        assert (module.unavailable_reason() == "") == module.available()
        if not module.available():
            assert module.why_not(torch.zeros(1, 1, 1)) is not None
