"""The ``triton`` backend: the project's Triton scan kernel (``triton_kernel``) for GPUs without mamba_ssm.

Inference only, with a native reverse. The kernel module, and so triton (0.1 s to import), is loaded
the first time a call on a GPU asks for it: runs without a GPU never pay for it.
"""
from __future__ import annotations

from types import ModuleType

from torch import Tensor

name = "triton"
has_backward = False
native_reverse = True
adds_into_out = False


def _kernel() -> ModuleType:
    from . import triton_kernel
    return triton_kernel


def available() -> bool:
    """True when triton imports and a CUDA device is visible."""
    return _kernel().available()


def unavailable_reason() -> str:
    """Why the Triton scan cannot run here ("" when it can)."""
    return _kernel().unavailable_reason()


def why_not(u: Tensor) -> str | None:
    """Why the Triton kernel cannot run a call on ``u``; None when it can (checked before importing triton)."""
    if u.device.type != "cuda":
        return f"it runs on CUDA tensors only, these are on {u.device}"
    if u.dtype not in _kernel().DTYPES:
        return f"it has no {u.dtype} version (use float32, float16 or bfloat16)"
    return None if available() else unavailable_reason()


def forward(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None, z: Tensor | None,
            delta_bias: Tensor | None, delta_softplus: bool, reverse: bool = False) -> Tensor:
    return _kernel().selective_scan_triton(u, delta, A, B, C, D, z, delta_bias, delta_softplus, reverse)
