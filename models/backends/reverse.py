"""A reverse scan from a forward one: flip the sequence inputs along L, scan forwards, flip the output back."""
from __future__ import annotations

from collections.abc import Callable

from torch import Tensor


def _flip(t: Tensor | None) -> Tensor | None:
    return None if t is None else t.flip(-1)


def by_flipping(forward: Callable[..., Tensor]) -> Callable[..., Tensor]:
    """A forward-only scan ``forward(u, delta, A, B, C, D, z, delta_bias, delta_softplus)`` given a
    ``reverse`` argument, done by flipping u, delta, B, C and z along L and the output back."""
    def run(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None, z: Tensor | None,
            delta_bias: Tensor | None, delta_softplus: bool, reverse: bool = False) -> Tensor:
        if not reverse:
            return forward(u, delta, A, B, C, D, z, delta_bias, delta_softplus)
        u, delta, B, C, z = (_flip(t) for t in (u, delta, B, C, z))
        return forward(u, delta, A, B, C, D, z, delta_bias, delta_softplus).flip(-1)
    return run
