"""A network for an evaluation or the demo, with what their reports say about it.

Loading itself is ``models.resolve_model`` (the core's one loader); this module only records the name a
report prints and whether the weights are the random stand-in for a missing shipped default.
"""
from __future__ import annotations

import warnings
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
    random_weights: bool          # the shipped default was asked for but is missing

    @property
    def parameters(self) -> int:
        return sum(p.numel() for p in self.net.parameters())

    @property
    def preset(self) -> str:
        return getattr(getattr(self.net, "preset", None), "name", "?")


def load_model(model: Any = None, device: str | torch.device | None = None) -> LoadedModel:
    """Resolve ``model`` like the filters do (None: the shipped default), noting when weights are random."""
    import models
    from models import registry

    if isinstance(model, nn.Module):
        return LoadedModel(models.resolve_model(model, device=device), type(model).__name__, False)
    default = model is None or str(model) == "default"
    random_weights = default and not registry.DEFAULT_MODEL_FILE.is_file()
    with warnings.catch_warnings():
        if random_weights:  # callers say it louder themselves
            warnings.simplefilter("ignore")
        net = models.resolve_model(model, device=device)
    name = f"shipped default ({registry.DEFAULT_MODEL_FILE.name})" if default else str(model)
    if random_weights:
        name = "RANDOM tiny weights (shipped default missing)"
    return LoadedModel(net, name, random_weights)
