"""Training RainMamba: datasets, synthetic rain, losses, the training loop, distributed setup and evaluation.

    from training import TrainConfig, train, evaluate_model
    train(TrainConfig(preset="vrds", data="/data/VRDS", layout="vrds", out="runs/vrds"))
    report = evaluate_model("runs/vrds/model.safetensors", "/data/VRDS", layout="vrds")

Names are imported on first use, so ``import training`` stays cheap and a broken optional piece only
breaks what needs it.
"""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    # data
    "find_pairs": "datasets", "VideoPairDataset": "datasets",
    "SequencePair": "datasets", "LAYOUT_NAMES": "datasets",
    "write_synthetic_dataset": "synth", "add_rain": "synth",
    # training
    "TrainConfig": "config", "build_config": "config", "load_config_file": "config",
    "Trainer": "trainer", "TrainResult": "trainer", "train": "trainer",
    "RainMambaLoss": "losses", "PerceptualLoss": "losses", "DCLLoss": "losses", "charbonnier_loss": "losses",
    "dcll_schedule": "losses", "sample_dcll": "losses",
    "load_vgg_features": "vgg", "VGGWeightsError": "vgg",
    "warmup_poly_lr": "schedule", "make_scheduler": "schedule",
    "init_encoder": "encoder_init",
    # evaluation
    "evaluate_model": "evaluate:evaluate", "write_report": "evaluate", "psnr": "metrics", "ssim": "metrics",
    "frame_metrics": "metrics",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'training' has no attribute {name!r}")
    module, _, attr = _EXPORTS[name].partition(":")
    value = getattr(importlib.import_module(f".{module}", __name__), attr or name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
