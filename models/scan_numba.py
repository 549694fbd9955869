"""The numba CPU scan for inference, as a PyTorch function: layout, padding and the cheap elementwise parts.

The kernel itself is in ``scan_numba_kernel`` (see there why it is fast). This wrapper imports it
(and so numba) on first use only, so importing ``models`` stays cheap, and hands it float32 numpy
views of the tensors. No gradients: the dispatcher in ``models.scan`` only sends no-grad CPU calls here.
"""
from __future__ import annotations

import importlib.util
import threading

import numpy as np
import torch
from torch import Tensor

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
                from . import scan_numba_kernel
                _state["kernel"] = scan_numba_kernel.scan_kernel
                _state["ok"] = True
            except (ImportError, OSError, RuntimeError) as exc:  # e.g. numba built against another numpy
                _state["error"] = f"numba does not import ({type(exc).__name__}: {exc})"
    return bool(_state["ok"])


def unavailable_reason() -> str:
    """Why the numba scan cannot run here (empty when it can)."""
    return "" if available() else str(_state.get("error", ""))


def _f32(t: Tensor) -> np.ndarray:
    """A float32 numpy view of a CPU tensor, strides kept (a copy only for another dtype)."""
    return t.detach().to(torch.float32).numpy()


_NONE = np.zeros(0, np.float32)


def selective_scan_numba(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None = None,
                         z: Tensor | None = None, delta_bias: Tensor | None = None,
                         delta_softplus: bool = False, reverse: bool = False) -> Tensor:
    """Selective scan with mamba_ssm's shapes on CPU tensors, no autograd; float32 state, u's dtype out.

    ``reverse=True`` scans from the last step to the first by handing the kernel time-reversed numpy
    views (negative strides: no copies). Float16/bfloat16 inputs are widened to float32; float64 is
    refused by the dispatcher (use the 'torch' or 'ref' backend for float64 precision).
    """
    if not available():
        raise RuntimeError(f"The numba scan cannot run: {unavailable_reason()}.")
    out = np.empty(tuple(u.shape), dtype=np.float32)
    steps = slice(None, None, -1 if reverse else 1)
    seq = lambda t: _f32(t)[:, :, steps]                          # noqa: E731  (B, ., L) views in scan order
    args = (seq(u), seq(delta), _f32(A), seq(B).transpose(0, 2, 1), seq(C).transpose(0, 2, 1),
            _f32(D) if D is not None else _NONE,
            seq(z) if z is not None else _NONE.reshape(0, 0, 0),
            _f32(delta_bias) if delta_bias is not None else _NONE, bool(delta_softplus), out[:, :, steps])
    with LAUNCH_LOCK:
        _state["kernel"](*args)
    return torch.from_numpy(out).to(u.dtype)
