"""Keep functions out of ``torch.compile`` graphs without importing dynamo up front."""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

import torch

F = TypeVar("F", bound=Callable)


def opaque_to_compile(fn: F) -> F:
    """Decorator: ``torch.compile`` calls ``fn`` as a plain function instead of tracing into it.

    The same as ``torch.compiler.disable``, except that dynamo (1.4 s to import) is only touched the
    first time a compile actually meets ``fn``; applying ``torch.compiler.disable`` at import time
    would make every ``import models`` that much slower.
    """
    disabled: list[Callable] = []

    @functools.wraps(fn)
    def call(*args, **kwargs):
        if torch.compiler.is_compiling():  # true only while dynamo traces
            if not disabled:
                disabled.append(torch.compiler.disable(fn))
            return disabled[0](*args, **kwargs)
        return fn(*args, **kwargs)

    return call  # type: ignore[return-value]
