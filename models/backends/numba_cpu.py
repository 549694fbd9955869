"""The ``numba`` backend: compiled CPU kernels, float32 state.

Without a gradient, the vectorised inference kernel (``numba_kernel``, see there why it is fast),
which walks the sequence backwards itself for a reverse scan; with one, the forward+backward pair of
``numba_grad``. This wrapper imports them (and so numba) on first use only, so importing ``models``
stays cheap, and hands the inference kernel float32 numpy views of the tensors.
"""
from __future__ import annotations

import importlib.util
import threading

import numpy as np
import torch
from torch import Tensor

name = "numba"
has_backward = True
native_reverse = True
adds_into_out = True   # forward(..., out=...) adds y into out as it goes
_state: dict[str, object] = {}
LAUNCH_LOCK = threading.Lock()  # numba's thread pool must not be entered from two threads at once (all kernels)

def available() -> bool:
    """True when numba imports (tried once, on first call: importing numba takes a while)."""
    if "ok" not in _state:
        _state["ok"] = False
        if importlib.util.find_spec("numba") is None:
            _state["error"] = "numba is not installed (pip install numba)"
        else:
            try:
                from . import numba_kernel
                _state["kernel"] = numba_kernel.scan_kernel
                _state["ok"] = True
            except (ImportError, OSError, RuntimeError) as exc:  # e.g. numba built against another numpy
                _state["error"] = f"numba does not import ({type(exc).__name__}: {exc})"
    return bool(_state["ok"])


def unavailable_reason() -> str:
    """Why the numba scan cannot run here (empty when it can)."""
    return "" if available() else str(_state.get("error", ""))


def why_not(u: Tensor) -> str | None:
    """Why the numba kernels cannot run a call on ``u``; None when they can."""
    if u.device.type != "cpu":
        return f"it runs on CPU tensors only, these are on {u.device}"
    if u.dtype == torch.float64:
        return "it computes in float32; use the 'torch' or 'ref' backend for float64"
    return unavailable_reason() or None


def _f32(t: Tensor) -> np.ndarray:
    """A float32 numpy view of a CPU tensor, strides kept (a copy only for another dtype)."""
    return t.detach().to(torch.float32).numpy()


_NONE = np.zeros(0, np.float32)


def follow_torch_threads() -> None:
    """Run numba's kernels on as many threads as torch uses, so ``torch.set_num_threads`` (``--threads``)
    is one knob for both pools (numba's own default is every core, whatever torch was told)."""
    from ._numba import numba

    numba.set_num_threads(max(1, min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS)))


def selective_scan_numba(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None = None,
                         z: Tensor | None = None, delta_bias: Tensor | None = None,
                         delta_softplus: bool = False, reverse: bool = False, out: Tensor | None = None) -> Tensor:
    """Selective scan with mamba_ssm's shapes on CPU tensors, no autograd; float32 state, u's dtype out.

    ``out``: a (B, D, L) float32 tensor, any strides, that y is added into as it is computed (and returned);
    another dtype gets y added afterwards.

    ``reverse=True`` scans from the last step to the first by handing the kernel time-reversed numpy
    views (negative strides: no copies). Float16/bfloat16 inputs are widened to float32; float64 is
    refused by ``why_not`` (use the 'torch' or 'ref' backend for float64 precision).
    """
    if not available():
        raise RuntimeError(f"The numba scan cannot run: {unavailable_reason()}.")
    if out is not None and out.dtype != torch.float32:
        return out.add_(selective_scan_numba(u, delta, A, B, C, D, z, delta_bias, delta_softplus, reverse))
    result = np.empty(tuple(u.shape), dtype=np.float32) if out is None else out.detach().numpy()
    steps = slice(None, None, -1 if reverse else 1)
    seq = lambda t: _f32(t)[:, :, steps]                          # noqa: E731  (B, ., L) views in scan order
    args = (seq(u), seq(delta), _f32(A), seq(B).transpose(0, 2, 1), seq(C).transpose(0, 2, 1),
            _f32(D) if D is not None else _NONE,
            seq(z) if z is not None else _NONE.reshape(0, 0, 0),
            _f32(delta_bias) if delta_bias is not None else _NONE, bool(delta_softplus), out is not None,
            result[:, :, steps])
    follow_torch_threads()
    with LAUNCH_LOCK:
        _state["kernel"](*args)
    return out if out is not None else torch.from_numpy(result).to(u.dtype)


def causal_conv1d_numba(x: Tensor, weight: Tensor, bias: Tensor | None, silu: bool, reverse: bool) -> Tensor:
    """Depthwise causal conv1d (+ SiLU) of (B, D, L) CPU tensors in one compiled pass, no autograd; float32
    inside, x's dtype out (``models.scan.causal_conv1d`` documents the sums)."""
    if not available():
        raise RuntimeError(f"The numba conv cannot run: {unavailable_reason()}.")
    from .numba_kernel import conv_silu_kernel

    out = np.empty(tuple(x.shape), dtype=np.float32)
    follow_torch_threads()
    with LAUNCH_LOCK:
        conv_silu_kernel(np.ascontiguousarray(_f32(x)), np.ascontiguousarray(_f32(weight)),
                         _f32(bias) if bias is not None else _NONE, bool(silu), bool(reverse), out)
    return torch.from_numpy(out).to(x.dtype)


def forward(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None, z: Tensor | None,
            delta_bias: Tensor | None, delta_softplus: bool, reverse: bool = False, out: Tensor | None = None) -> Tensor:
    """The inference kernel, or the forward+backward pair when a gradient is needed; ``out`` as in
    ``models.scan.selective_scan``."""
    if torch.is_grad_enabled() and any(t is not None and t.requires_grad
                                       for t in (u, delta, A, B, C, D, z, delta_bias, out)):
        from .numba_grad import selective_scan_numba_grad
        from .reverse import by_flipping

        y = by_flipping(selective_scan_numba_grad)(u, delta, A, B, C, D, z, delta_bias, delta_softplus, reverse)
        return y if out is None else out.add_(y)
    return selective_scan_numba(u, delta, A, B, C, D, z, delta_bias, delta_softplus, reverse, out)
