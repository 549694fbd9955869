"""A network for an evaluation or the demo, with what their reports say about it.

Loading itself is ``models.resolve_model`` (the core's one loader); this module only records the name a
report prints (a missing shipped default is `resolve_model`'s clear error, never random weights).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

__all__ = ["LoadedModel", "load_model"]


@dataclass
class LoadedModel:
    """A network ready to run, with what a report needs to say about it."""

    net: nn.Module
    name: str

    @property
    def parameters(self) -> int:
        return sum(p.numel() for p in self.net.parameters())

    @property
    def preset(self) -> str:
        return getattr(getattr(self.net, "preset", None), "name", "?")


def load_model(model: Any = None, device: str | torch.device | None = None) -> LoadedModel:
    """Resolve ``model`` like the filters do (None: the shipped default) and name it for a report."""
    import models
    from models import registry

    net = models.resolve_model(model, device=device)
    if isinstance(model, nn.Module):
        return LoadedModel(net, type(model).__name__)
    default = model is None or str(model) == "default"
    return LoadedModel(net, f"shipped default ({registry.DEFAULT_MODEL_FILE.name})" if default else str(model))
