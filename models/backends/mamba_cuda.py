"""The ``cuda`` backend: the CUDA kernels of ``mamba_ssm`` and ``causal_conv1d``, when their builds import.

Both packages are optional (``pip install vsrainmamba[cuda]``): they need a CUDA toolkit matching
torch, and an import can fail with ImportError, OSError (a missing or mismatched .so) or
RuntimeError. Any such failure just leaves the kernels unavailable; ``IMPORT_ERRORS`` keeps the
reason so that ``rainmamba bench`` and the tests can show it. The import is tried on first need,
not when this module is imported, because importing mamba_ssm takes seconds.
"""
from __future__ import annotations

import torch
from torch import Tensor

name = "cuda"
has_backward = True
native_reverse = False
adds_into_out = False
IMPORT_ERRORS: dict[str, str] = {}
KERNEL_DTYPES = (torch.float32, torch.float16, torch.bfloat16)
_kernels: dict[str, object] = {}


def _load() -> dict[str, object]:
    """Import both kernels once, on first need: importing mamba_ssm is slow and may fail."""
    if _kernels:
        return _kernels
    _kernels["loaded"] = True
    try:
        from mamba_ssm.ops.selective_scan_interface import selective_scan_fn
        _kernels["scan"] = selective_scan_fn
    except (ImportError, OSError, RuntimeError) as exc:
        IMPORT_ERRORS["mamba_ssm"] = f"{type(exc).__name__}: {exc}"
    try:
        from causal_conv1d import causal_conv1d_fn
        _kernels["conv"] = causal_conv1d_fn
    except (ImportError, OSError, RuntimeError) as exc:
        IMPORT_ERRORS["causal_conv1d"] = f"{type(exc).__name__}: {exc}"
    return _kernels


def available() -> bool:
    """True when mamba_ssm's selective_scan_fn imports and a CUDA device is visible."""
    return torch.cuda.is_available() and "scan" in _load()


def conv_available() -> bool:
    """True when causal_conv1d's causal_conv1d_fn imports and a CUDA device is visible."""
    return torch.cuda.is_available() and "conv" in _load()


def _reason(package: str, usable: bool) -> str:
    if usable:
        return ""
    if not torch.cuda.is_available():
        return "no CUDA device is visible to torch"
    return f"{package} does not import ({IMPORT_ERRORS.get(package, 'unknown error')})"


def unavailable_reason() -> str:
    """Why mamba_ssm's scan cannot be used here, in one sentence ("" when it can)."""
    return _reason("mamba_ssm", available())


def conv_unavailable_reason() -> str:
    """Why causal_conv1d's kernel cannot be used here, in one sentence ("" when it can)."""
    return _reason("causal_conv1d", conv_available())


def why_not(u: Tensor) -> str | None:
    """Why mamba_ssm's kernel cannot run a call on ``u``; None when it can."""
    if u.device.type != "cuda":
        return f"it runs on CUDA tensors only, these are on {u.device}"
    if u.dtype not in KERNEL_DTYPES:
        return f"mamba_ssm's kernel has no {u.dtype} version (use float32, float16 or bfloat16)"
    return unavailable_reason() or None


def _last_dim_contiguous(t: Tensor | None) -> Tensor | None:
    return t if t is None or t.stride(-1) == 1 else t.contiguous()


def selective_scan_cuda(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None = None,
                        z: Tensor | None = None, delta_bias: Tensor | None = None,
                        delta_softplus: bool = False) -> Tensor:
    """mamba_ssm's fused scan (forward and backward), with the dtypes its kernel insists on.

    u, delta, B, C, z share one input dtype (u's); A, D, delta_bias are float32. The kernel keeps its
    state in float32 whatever the input dtype.
    """
    if not available():
        raise RuntimeError(f"mamba_ssm's CUDA scan cannot be used ({unavailable_reason()}); "
                           "install it with: pip install mamba-ssm --no-build-isolation")
    itype = u.dtype
    delta, B, C = (t.to(itype) for t in (delta, B, C))
    z = z.to(itype) if z is not None else None
    A = A.float()
    D = D.float() if D is not None else None
    delta_bias = delta_bias.float() if delta_bias is not None else None
    u, delta, B, C, z = (_last_dim_contiguous(t) for t in (u, delta, B, C, z))
    return _kernels["scan"](u, delta, A, B, C, D, z, delta_bias, delta_softplus)


forward = selective_scan_cuda


def causal_conv1d_cuda(x: Tensor, weight: Tensor, bias: Tensor | None = None,
                       activation: str | None = None) -> Tensor:
    """causal_conv1d's fused depthwise causal conv (kernel widths 2 to 4), optional SiLU."""
    if not conv_available():
        raise RuntimeError(f"causal_conv1d's CUDA kernel cannot be used ({conv_unavailable_reason()}); "
                           "install it with: pip install causal-conv1d --no-build-isolation")
    if x.stride(-1) != 1 and x.stride(1) != 1:
        x = x.contiguous()
    return _kernels["conv"](x, weight.contiguous(), bias, activation)
