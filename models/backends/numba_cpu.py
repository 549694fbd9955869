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
                from . import numba_kernel  # noqa: F401  (compiles or loads the kernels)
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


def _rows_in_place(t: Tensor) -> tuple[np.ndarray, int] | None:
    """A float32 (B, D, L) tensor whose channels are adjacent (a (B, L, W) tensor, or a column slice of one,
    seen as (B, D, L)) as the kernels read it: the C-contiguous (B, L, W) array over the same memory and the
    column of its first channel. None when t is laid out otherwise."""
    batch, dim, length = t.shape
    rows = t.detach().transpose(1, 2)
    width = rows.stride(1)
    if (t.dtype != torch.float32 or length < 2 or width < dim or (dim > 1 and rows.stride(2) != 1)
            or (batch > 1 and rows.stride(0) != length * width)):
        return None
    offset, size = rows.storage_offset(), rows.untyped_storage().nbytes() // 4
    col = max(0, offset + batch * length * width - size)   # the parent (B, L, W) must lie inside the storage
    if col > min(width - dim, offset):
        return None
    return torch.as_strided(rows, (batch, length, width), (length * width, width, 1), offset - col).numpy(), col


def _rows(t: Tensor, padded_dim: int) -> tuple[np.ndarray, int]:
    """``_rows_in_place`` where it applies, else a float32 token-major copy (B, L, padded_dim) of t, its
    channels from column 0 and zeros after them."""
    if t.shape[1] == padded_dim and (found := _rows_in_place(t)) is not None:
        return found
    batch, dim, length = t.shape
    rows = np.zeros((batch, length, padded_dim), np.float32)
    rows[:, :, :dim] = _f32(t).transpose(0, 2, 1)
    return rows, 0


def _padded(v: Tensor | None, padded_dim: int, fill: float = 0.0) -> np.ndarray:
    """A float32 copy of a (D, ...) parameter padded to ``padded_dim`` rows of ``fill`` (empty for None)."""
    if v is None:
        return _NONE
    out = np.full((padded_dim, *v.shape[1:]), fill, np.float32)
    out[:v.shape[0]] = _f32(v)
    return out


_NONE = np.zeros(0, np.float32)


def follow_torch_threads() -> int:
    """Run numba's kernels on as many threads as torch uses, so ``torch.set_num_threads`` (``--threads``)
    is one knob for both pools (numba's own default is every core, whatever torch was told); returns it."""
    from ._numba import numba

    threads = max(1, min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS))
    numba.set_num_threads(threads)
    return threads


def selective_scan_numba(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None = None,
                         z: Tensor | None = None, delta_bias: Tensor | None = None,
                         delta_softplus: bool = False, reverse: bool = False, out: Tensor | None = None) -> Tensor:
    """Selective scan with mamba_ssm's shapes on CPU tensors, no autograd; float32 state, u's dtype out.

    The kernel reads token-major rows: inputs whose channels are adjacent (as ``models.bimamba`` lays them
    out on a CPU) are read in place, others copied once. ``out``: a (B, D, L) tensor that y is added into
    (and that is returned); a float32 one with adjacent channels is added into as y is computed, any other
    gets y added afterwards. Without ``out``, y comes back as a (B, D, L) view of a token-major tensor.

    ``reverse=True``: the kernel walks the sequence from its last step to its first, no copies.
    Float16/bfloat16 inputs are widened to float32; float64 is refused by ``why_not`` (use the 'torch' or
    'ref' backend for float64 precision).
    """
    if not available():
        raise RuntimeError(f"The numba scan cannot run: {unavailable_reason()}.")
    from .numba_kernel import LANES, lanes_for, scan_kernels

    batch, dim, length = u.shape
    padded = -(-dim // LANES) * LANES            # the kernels run whole blocks of at least LANES channels
    target = _rows_in_place(out) if out is not None and dim == padded else None
    result, out_col = target if target is not None else (np.empty((batch, length, padded), np.float32), 0)
    (u_rows, u_col), (delta_rows, delta_col) = _rows(u, padded), _rows(delta, padded)
    (b_rows, b_col), (c_rows, c_col) = _rows(B, B.shape[1]), _rows(C, C.shape[1])
    z_rows, z_col = _rows(z, padded) if z is not None else (_NONE.reshape(0, 0, 0), 0)
    cols = np.array([u_col, delta_col, b_col, c_col, z_col, out_col], np.int64)
    threads = follow_torch_threads()
    kernel = scan_kernels[lanes_for(batch, padded, threads)]
    with LAUNCH_LOCK:
        kernel(u_rows, delta_rows, _padded(A, padded, -1.0), b_rows, c_rows, _padded(D, padded), z_rows,
                         _padded(delta_bias, padded), cols, bool(delta_softplus), bool(reverse), target is not None,
                         result)
    if target is not None:
        return out
    y = torch.from_numpy(result)[:, :, :dim].transpose(1, 2)
    return y.to(u.dtype) if out is None else out.add_(y)


def causal_conv1d_numba(x: Tensor, weight: Tensor, bias: Tensor | None, silu: bool, reverse: bool) -> Tensor:
    """Depthwise causal conv1d (+ SiLU) of (B, D, L) CPU tensors in one compiled pass, no autograd; float32
    inside, x's dtype out, as a (B, D, L) view of a token-major tensor (the layout the scan reads in place);
    x is read in place when its channels are adjacent (``models.scan.causal_conv1d`` documents the sums)."""
    if not available():
        raise RuntimeError(f"The numba conv cannot run: {unavailable_reason()}.")
    from .numba_kernel import conv_silu_kernel

    batch, dim, length = x.shape
    x_rows, col = _rows(x, dim)
    out = np.empty((batch, length, dim), dtype=np.float32)
    follow_torch_threads()
    with LAUNCH_LOCK:
        conv_silu_kernel(x_rows, col, np.ascontiguousarray(_f32(weight).T),
                         _f32(bias) if bias is not None else _NONE, bool(silu), bool(reverse), out)
    return torch.from_numpy(out).transpose(1, 2).to(x.dtype)


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
