"""The selective-scan backends behind one small interface, and the one place that chooses between them.

Every backend is a module of this package with the same names:

- ``name``: what ``RAINMAMBA_SCAN`` and ``use_scan_backend`` call it;
- ``has_backward``: whether it can run a call that needs gradients;
- ``adds_into_out``: whether ``forward(..., out=out)`` adds y into ``out`` itself (otherwise ``run`` adds it);
- ``native_reverse``: whether ``forward(..., reverse=True)`` walks the sequence backwards itself
  (otherwise ``run`` flips the sequence inputs along L, and the output back);
- ``available() -> bool`` and ``unavailable_reason() -> str``: can it run on this machine at all, and
  if not why ("" when it can); optional packages are imported on the first call, not before;
- ``why_not(u) -> str | None``: why it cannot run a call on ``u`` (device, dtype, or the machine's
  reason), None when it can;
- ``forward(u, delta, A, B, C, D, z, delta_bias, delta_softplus[, reverse][, out]) -> Tensor``: ``reverse``
  only where ``native_reverse``; ``out`` only where ``adds_into_out``.

Fastest first: ``cuda`` (mamba_ssm's fused kernel), ``triton`` (the project's Triton kernel, GPUs
without mamba_ssm, inference only), ``numba`` (compiled CPU kernels), ``torch`` (the chunked PyTorch
scan, any device), ``ref`` (the per-step loop, the oracle the others are tested against).
``choose_backend`` takes the first that fits a call; ``RAINMAMBA_SCAN`` (or ``use_scan_backend``)
forces one, and a forced backend that cannot run the call is an error, never a silent substitute.
"""
from __future__ import annotations

import contextlib
import contextvars
import importlib
import os
from collections.abc import Iterator
from types import ModuleType

from torch import Tensor

from .reverse import by_flipping

BACKENDS = ("cuda", "triton", "numba", "torch", "ref")
ENV_VAR = "RAINMAMBA_SCAN"
_MODULES = {"cuda": "mamba_cuda", "triton": "triton_gpu", "numba": "numba_cpu", "torch": "chunked", "ref": "ref"}
_forced: contextvars.ContextVar[str | None] = contextvars.ContextVar("rainmamba_scan_backend", default=None)


def get(name: str) -> ModuleType:
    """The module of backend ``name`` (each is light: its optional packages load on first need)."""
    return importlib.import_module(f".{_MODULES[name]}", __name__)


def forced_backend() -> str | None:
    """The backend forced by ``use_scan_backend`` or else by $RAINMAMBA_SCAN; None means automatic."""
    name = _forced.get()
    if name is None:
        name = os.environ.get(ENV_VAR, "").strip().lower() or None
    if name in (None, "auto"):
        return None
    if name not in BACKENDS:
        raise ValueError(f"{ENV_VAR}={name!r} is not a scan backend: use one of {', '.join(BACKENDS)} "
                         "(or leave it unset for the automatic choice).")
    return name


@contextlib.contextmanager
def use_scan_backend(name: str | None) -> Iterator[None]:
    """Force one scan backend inside a ``with`` block (None or "auto": automatic); overrides $RAINMAMBA_SCAN."""
    if name is not None and name not in BACKENDS and name != "auto":
        raise ValueError(f"Unknown scan backend {name!r}: use one of {', '.join(BACKENDS)}.")
    token = _forced.set(name)
    try:
        yield
    finally:
        _forced.reset(token)


def why_not(name: str, u: Tensor, needs_grad: bool = False) -> str | None:
    """None if backend ``name`` can run a call on ``u``; else the reason, as a sentence fragment."""
    backend = get(name)
    reason = backend.why_not(u)
    if reason is None and needs_grad and not backend.has_backward:
        return "it has no backward; training uses mamba_ssm's kernel or the chunked PyTorch scan"
    return reason


def choose_backend(u: Tensor, needs_grad: bool = False) -> str:
    """The backend for a call on ``u``: the forced one (checked) or the fastest that fits."""
    forced = forced_backend()
    if forced is not None:
        reason = why_not(forced, u, needs_grad)
        if reason:
            raise RuntimeError(f"Scan backend {forced!r} was forced but cannot run this call: {reason}. "
                               f"Unset {ENV_VAR} or pick another backend.")
        return forced
    return next(name for name in BACKENDS if why_not(name, u, needs_grad) is None)


def run(name: str, u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None,
        z: Tensor | None, delta_bias: Tensor | None, delta_softplus: bool, reverse: bool,
        out: Tensor | None = None) -> Tensor:
    """Run backend ``name``, flipping the sequence for a reverse scan when it cannot walk backwards itself;
    with ``out``, y is added into it (by the backend where it can, else afterwards) and ``out`` returned."""
    backend = get(name)
    if out is not None and backend.adds_into_out:
        return backend.forward(u, delta, A, B, C, D, z, delta_bias, delta_softplus, reverse, out)
    if backend.native_reverse:
        y = backend.forward(u, delta, A, B, C, D, z, delta_bias, delta_softplus, reverse)
    else:
        y = by_flipping(backend.forward)(u, delta, A, B, C, D, z, delta_bias, delta_softplus, reverse)
    return y if out is None else out.add_(y)


def backend_report() -> dict[str, str]:
    """For each scan backend, fastest first: 'available', or why it is not usable on this machine."""
    return {name: "available" if get(name).available() else get(name).unavailable_reason() for name in BACKENDS}


def available_backends() -> list[str]:
    """The scan backends usable on this machine, fastest first."""
    return [name for name in BACKENDS if get(name).available()]
