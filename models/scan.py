"""Selective-scan and causal depthwise conv1d, behind one call each, with the scan backend chosen per call.

Shapes follow ``mamba_ssm.ops.selective_scan_interface.selective_scan_fn``:
u, delta, z: (B, D, L); A: (D, N); B, C: (B, N, L); D, delta_bias: (D,).

The scan backends (``cuda``, ``triton``, ``numba``, ``torch``, ``ref``) and the rule that picks one
live in ``models.backends``. ``RAINMAMBA_SCAN=ref|torch|numba|triton|cuda`` (or
``use_scan_backend(...)`` in code) forces one, and a forced backend that cannot run the call is an
error, never a silent substitute. Forcing ``ref`` or ``torch`` also keeps ``causal_conv1d`` in
PyTorch, so the whole layer runs without compiled kernels.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from . import backends
from ._compile import opaque_to_compile
from .backends import (BACKENDS, ENV_VAR, available_backends, backend_report, choose_backend, forced_backend,
                       use_scan_backend)
from .backends.ref import selective_scan_ref

__all__ = ["BACKENDS", "ENV_VAR", "available_backends", "backend_report", "causal_conv1d", "choose_backend",
           "forced_backend", "selective_scan", "selective_scan_ref", "token_major", "use_scan_backend"]


def token_major(device: torch.device) -> bool:
    """Whether conv1d and the scan read (B, D, L) inputs fastest as views of token-major (B, L, D) tensors
    (channels adjacent) on ``device``: on a CPU, where the compiled kernels load a block of channels per
    step in one vector load; not on a GPU, whose kernels read each channel along L."""
    return device.type == "cpu"


def _needs_grad(*tensors: Tensor | None) -> bool:
    return torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)


def _check_shapes(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None,
                  z: Tensor | None, delta_bias: Tensor | None) -> None:
    if u.dim() != 3:
        raise ValueError(f"selective_scan: u must be (batch, channels, length), got shape {tuple(u.shape)}.")
    batch, dim, length = u.shape
    if A.dim() != 2 or A.shape[0] != dim:
        raise ValueError(f"selective_scan: A must be ({dim}, d_state) to match u's {dim} channels, "
                         f"got {tuple(A.shape)}.")
    expected = {"delta": (u.shape, delta), "B": ((batch, A.shape[1], length), B),
                "C": ((batch, A.shape[1], length), C)}
    if z is not None:
        expected["z"] = (u.shape, z)
    if D is not None:
        expected["D"] = ((dim,), D)
    if delta_bias is not None:
        expected["delta_bias"] = ((dim,), delta_bias)
    for name, (shape, tensor) in expected.items():
        if tuple(tensor.shape) != tuple(shape):
            raise ValueError(f"selective_scan: {name} must have shape {tuple(shape)} for u of shape "
                             f"{tuple(u.shape)} and A of shape {tuple(A.shape)}, got {tuple(tensor.shape)}.")
        if tensor.device != u.device:
            raise ValueError(f"selective_scan: {name} is on {tensor.device} but u is on {u.device}; "
                             "move all inputs to one device.")


# Opaque to torch.compile, like the conv below: dynamo would trace the numba wrappers' numpy calls into
# its graph and lose the kernels' in-place outputs (garbage, silently, or a failed guard); compiled code
# calls them as functions instead.
@opaque_to_compile
def selective_scan(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None = None,
                   z: Tensor | None = None, delta_bias: Tensor | None = None,
                   delta_softplus: bool = False, reverse: bool = False, out: Tensor | None = None) -> Tensor:
    """The scan used by the network: runs the fastest backend that fits these tensors (see module doc).

    y_t = <C_t, h_t> + D u_t with h_t = exp(delta_t A) h_{t-1} + delta_t B_t u_t, delta optionally
    shifted by delta_bias and passed through softplus, y multiplied by SiLU(z) when z is given.
    ``reverse=True`` scans from the last step to the first: the same as flipping u, delta, B, C and z
    along L and flipping y back, which is what the backends without a native reverse do; the numba
    inference kernel and the Triton kernel walk the sequence backwards instead, with no copies.
    Returns y (B, D, L) in u's dtype; the state is kept in float32 (float64 for float64 inputs).
    ``out``: a (B, D, L) tensor of any strides that y is added into and that is returned instead (the two
    directions of a bidirectional layer summed where they are written: no second tensor, no extra pass).
    """
    _check_shapes(u, delta, A, B, C, D, z, delta_bias)
    if out is not None and (tuple(out.shape) != tuple(u.shape) or out.device != u.device):
        raise ValueError(f"selective_scan: out must have u's shape {tuple(u.shape)} and device {u.device}, "
                         f"got {tuple(out.shape)} on {out.device}.")
    backend = choose_backend(u, _needs_grad(u, delta, A, B, C, D, z, delta_bias))
    return backends.run(backend, u, delta, A, B, C, D, z, delta_bias, delta_softplus, reverse, out)


@opaque_to_compile
def causal_conv1d(x: Tensor, weight: Tensor, bias: Tensor | None = None, activation: str | None = None,
                  reverse: bool = False) -> Tensor:
    """Depthwise causal conv1d: x (B, D, L), weight (D, K), left padding K-1; optional SiLU.

    ``reverse=True`` runs it on the time-reversed sequence and reverses the result back (each output
    mixes the current and the K-1 *following* steps), without copies on a CPU.

    Uses causal_conv1d's CUDA kernel for CUDA tensors when it is installed (and the scan backend is not
    forced to 'ref' or 'torch'), F.conv1d on other GPUs, and K shifted multiply-adds on a CPU: in one
    compiled pass with the SiLU (numba) when no gradient is needed, else in PyTorch. Like the
    CUDA kernel, the PyTorch paths keep the weights as given (float32) and accumulate in float32
    (float64 for float64 inputs), and cast the output back to x's dtype: float16/bfloat16 weights
    and sums would lose the weight gradient, which sums over every position of the batch.
    """
    if activation not in (None, "silu", "swish"):
        raise ValueError(f"causal_conv1d: activation must be None, 'silu' or 'swish', got {activation!r}.")
    if x.dim() != 3 or weight.dim() != 2 or weight.shape[0] != x.shape[1]:
        raise ValueError(f"causal_conv1d: need x (batch, channels, length) and weight (channels, width) "
                         f"with the same channels, got x {tuple(x.shape)} and weight {tuple(weight.shape)}.")
    if x.device.type != "cpu":
        return _flip(_causal_conv1d_gpu(_flip(x), weight, bias, activation)) if reverse \
            else _causal_conv1d_gpu(x, weight, bias, activation)
    numba = backends.get("numba")
    if (not _needs_grad(x, weight, bias) and x.dtype != torch.float64 and forced_backend() not in ("ref", "torch")
            and numba.why_not(x) is None):
        return numba.causal_conv1d_numba(x, weight, bias, activation in ("silu", "swish"), reverse)
    with torch.autocast(x.device.type, enabled=False):
        x_, weight, bias = _widened(x, weight, bias)
        out = _causal_conv1d_shifts(x_.contiguous(), weight, bias, reverse)
        return (F.silu(out) if activation in ("silu", "swish") else out).to(x.dtype)


def _widened(x: Tensor, weight: Tensor, bias: Tensor | None) -> tuple[Tensor, Tensor, Tensor | None]:
    """x, weight and bias in the conv's compute dtype: float32, or float64 for float64 inputs."""
    dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    return x.to(dtype), weight.to(dtype), bias.to(dtype) if bias is not None else None


def _flip(t: Tensor | None) -> Tensor | None:
    return None if t is None else t.flip(-1)


def _causal_conv1d_gpu(x: Tensor, weight: Tensor, bias: Tensor | None, activation: str | None) -> Tensor:
    """causal_conv1d's CUDA kernel when installed (and the scan backend is not forced to 'ref' or 'torch'),
    else cuDNN in float32; padding both ends inside the conv and dropping the tail avoids a padded copy of x."""
    dim, width = weight.shape
    cuda = backends.get("cuda")
    if (x.device.type == "cuda" and 2 <= width <= 4 and x.dtype in cuda.KERNEL_DTYPES
            and forced_backend() not in ("ref", "torch") and cuda.conv_available()):
        return cuda.causal_conv1d_cuda(x, weight, bias, activation)
    with torch.autocast(x.device.type, enabled=False):
        x_, weight, bias = _widened(x, weight, bias)
        out = F.conv1d(x_, weight[:, None, :], bias, padding=width - 1, groups=dim)[..., :x.shape[-1]]
        return (F.silu(out) if activation in ("silu", "swish") else out).to(x.dtype)


def _causal_conv1d_shifts(x: Tensor, weight: Tensor, bias: Tensor | None, reverse: bool = False) -> Tensor:
    """out[t] = bias + sum_k weight[k] x[t - (K-1) + k] (reverse: x[t + (K-1) - k]): K shifted multiply-adds,
    several times faster on a CPU than a depthwise F.conv1d (which also needs a padded copy of x).
    Differentiable."""
    width = weight.shape[1]
    out = x * weight[:, -1:] if bias is None else torch.addcmul(bias[:, None], x, weight[:, -1:])
    for k in range(width - 1):
        shift = width - 1 - k
        if shift < x.shape[-1]:
            if reverse:
                out[..., :-shift].addcmul_(x[..., shift:], weight[:, k:k + 1])
            else:
                out[..., shift:].addcmul_(x[..., :-shift], weight[:, k:k + 1])
    return out
