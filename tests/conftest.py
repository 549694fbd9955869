"""Shared fixtures: the official tensor listings (test data), fake official checkpoints, a tiny network."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

# The authors' four checkpoints described tensor by tensor (names, shapes, test window, Hilbert curve
# fingerprints): facts about the released files, kept here so the strict-loading tests run anywhere.
OFFICIAL_DIR = Path(__file__).resolve().parent / "data" / "official"
OFFICIAL_JSON = {"vrds": "VRDS", "lwdds": "LWDDS", "rainvidss": "RainVIDSS", "rainsynall100": "RainSynAll100"}

torch.set_num_threads(min(2, os.cpu_count() or 1))

# tqdm's monitor is a thread that wakes every 10 s for the whole session once any bar has been shown;
# nothing here needs it, and a suite with fewer threads waking at random has fewer ways to race.
import tqdm  # noqa: E402

tqdm.tqdm.monitor_interval = 0


def official_listing(preset: str) -> dict:
    """The authors' tensor listing for ``preset`` (tests/data/official/state_dict_<DATASET>.json)."""
    return json.loads((OFFICIAL_DIR / f"state_dict_{OFFICIAL_JSON[preset]}.json").read_text())


def write_official_checkpoint(path: Path, preset: str, seed: int = 0, config: str | None = None,
                              prefix: str = "generator.") -> dict[str, torch.Tensor]:
    """Write a checkpoint in the authors' exact mmcv layout with random weights; return the generator tensors.

    Tensor names and shapes come from the official listing (generator, step_counter and the losses' VGG
    tensors), the top level is {'meta', 'state_dict', 'optimizer'} as mmcv's runner saves it.
    """
    import models

    listing = official_listing(preset)
    torch.manual_seed(seed)
    generator = models.build(preset).state_dict()
    state = {}
    for name, shape in listing["full_model_state_dict_as_saved_by_mmedit"].items():
        if name.startswith("generator."):
            tensor = generator[name[len("generator."):]]
            assert list(tensor.shape) == shape
            state[prefix + name[len("generator."):]] = tensor
        else:
            state[name] = torch.randn(shape)
    meta = {"exp_name": f"RainMamba_{listing['dataset']}", "mmedit Version": "0.16.1", "seed": 0,
            "env_info": "", "mmedit_version": "0.16.1", "iter": 300000, "epoch": 1, "mmcv_version": "1.7.1",
            "time": "Thu Jan  1 00:00:00 2024",
            "config": config if config is not None else f"exp_name = 'RainMamba_{listing['dataset']}'\n"}
    torch.save({"meta": meta, "state_dict": state, "optimizer": {"generator": {"state": {}, "param_groups": []}}},
               path)
    return generator


class IdentityNet(torch.nn.Module):
    """Returns its input: a stand-in network whose output is known exactly (with the tiny preset's window)."""

    def __init__(self) -> None:
        super().__init__()
        import models

        self.preset = models.get_preset("tiny")
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + 0 * self.dummy


@pytest.fixture
def model_home(tmp_path, monkeypatch) -> Path:
    """An empty user model directory (RAINMAMBA_HOME) for this test."""
    home = tmp_path / "model_home"
    monkeypatch.setenv("RAINMAMBA_HOME", str(home))
    return home


@pytest.fixture
def tiny_net():
    """A tiny-preset network with fixed random weights, in eval mode."""
    import models

    torch.manual_seed(0)
    return models.build("tiny").eval()


def partial_name(pid: int, label: str, host: str | None = None) -> str:
    """The staging name `models.atomic` gives ``label`` in process ``pid`` (on ``host``: default this one)."""
    from models import atomic

    name = atomic.partial_name(label).replace(f"pid{os.getpid()}@", f"pid{pid}@")
    if host is not None:
        name = name.replace(f"@{atomic._host()}-", f"@{host}-")
    return name.rstrip("-")
