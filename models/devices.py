"""Turning a user's device choice into a checked ``torch.device``, the same way in every entry point."""
from __future__ import annotations

import numpy as np
import torch


def resolve_device(device: str | int | torch.device | None = None) -> torch.device:
    """``None`` or ``"auto"``: the first CUDA GPU when there is one, else the CPU; ``"cpu"``, ``"cuda"``,
    ``"cuda:N"`` or a GPU index N otherwise. A device this machine lacks is a ValueError saying what to use."""
    if device is None or (isinstance(device, str) and device.strip().lower() == "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if isinstance(device, (int, np.integer)) and not isinstance(device, bool):
        if device < 0:
            raise ValueError(f"device {device} is not a GPU index: use 0, 1, ... or 'cpu'.")
        device = f"cuda:{int(device)}"
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"Unknown device {device!r}: use 'cpu', 'cuda', 'cuda:N' or a GPU index.") from None
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r} asks for CUDA but torch sees no GPU: use device 'cpu'.")
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise ValueError(f"device {device!r} does not exist: this machine has "
                             f"{torch.cuda.device_count()} GPU(s), numbered from 0.")
    return resolved
