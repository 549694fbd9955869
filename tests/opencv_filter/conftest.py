"""Fixtures of the OpenCV wrapper tests: tiny clips written with cv2.VideoWriter, a tiny model and its file."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from cv_clips import rainy_frames, write_video


@pytest.fixture(scope="session")
def tiny_engine():
    """A fast-mode Derainer over a tiny-preset network with fixed random weights (shared: it is read-only)."""
    import models

    torch.manual_seed(0)
    return models.Derainer(models.build("tiny").eval())


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory, tiny_engine) -> Path:
    """The same tiny network saved as a project checkpoint, for the command line's --model."""
    import models

    return models.save_checkpoint(tiny_engine.net, tmp_path_factory.mktemp("model") / "tiny.safetensors")


@pytest.fixture
def clip(tmp_path) -> Path:
    """A 7-frame 48x40 mp4 at 12.5 fps."""
    return write_video(tmp_path / "rainy.mp4", rainy_frames())
