"""Score a model on a test set the way the paper reports each dataset (docs/NETWORK.md, "Metrics").

Every sequence runs through ``models.Derainer`` (the authors' overlapping-window protocol by default), each
output frame is quantised to 8 bits like the authors' ``tensor2img``, and PSNR/SSIM are taken on RGB and on
Y per frame. The overall numbers use the dataset's own averaging: per video then over videos (VRDS, LWDDS,
RainSynAll100, generic/video sets) or all frames pooled (RainVID&SS, with its ImageNet-VID+ and Cam-Vid+
groups; NTURain, which also gets S2VD's Y-channel numbers that drop two frames at each end). LPIPS (AlexNet)
is added when the ``lpips`` package and its weights are available locally.
"""
from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from models.atomic import write_atomic

from .metrics import frame_metrics

METRICS = ("psnr", "ssim", "psnr_y", "ssim_y")
POOLED_LAYOUTS = frozenset({"rainvidss", "nturain"})
S2VD_TRIM = 2  # frames dropped at each end for NTURain's Y-channel numbers


def averaging_for(layout: str) -> str:
    """``"frames"`` (all frames pooled) or ``"videos"`` (per video, then over videos) for a layout."""
    return "frames" if layout.lower() in POOLED_LAYOUTS else "videos"


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def summarise(records: list[dict[str, Any]], averaging: str, keys: tuple[str, ...] = METRICS) -> dict[str, Any]:
    """Overall metrics of per-frame ``records`` (each with ``video`` and metric keys)."""
    videos: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        videos.setdefault(record["video"], []).append(record)
    out: dict[str, Any] = {"frames": len(records), "videos": len(videos)}
    for key in keys:
        if not any(key in r for r in records):
            continue
        if averaging == "frames":
            out[key] = _mean([r[key] for r in records if key in r])
        else:
            out[key] = _mean([_mean([r[key] for r in frames if key in r]) for frames in videos.values()])
    return out


class LpipsScorer:
    """LPIPS (AlexNet) when the ``lpips`` package and every weight it needs are on this machine, else None."""

    def __init__(self, device: torch.device) -> None:
        self.model = None
        self.reason = ""
        try:
            import lpips  # noqa: F401
        except ImportError:
            self.reason = "the lpips package is not installed (pip install lpips, plus torchvision)"
            return
        alexnet = Path(torch.hub.get_dir()) / "checkpoints" / "alexnet-owt-7be5be79.pth"
        if not alexnet.is_file():
            self.reason = f"its AlexNet weights are not cached at {alexnet} (and nothing is downloaded)"
            return
        try:
            self.model = lpips.LPIPS(net="alex", verbose=False).to(device).eval()
        except Exception as exc:  # noqa: BLE001 - a broken optional install must not stop the evaluation
            self.reason = f"lpips failed to load: {exc}"
        self.device = device

    @torch.no_grad()
    def __call__(self, output: np.ndarray, target: np.ndarray) -> float:
        def prep(img: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(img).permute(2, 0, 1)[None].float().div(127.5).sub(1).to(self.device)

        return float(self.model(prep(output), prep(target)).item())


def _resolve_net(model: Any, device: str | torch.device | None) -> nn.Module:
    if isinstance(model, nn.Module):
        return model
    import models
    return models.resolve_model(model, device=device)


def evaluate(model: Any, data: str | os.PathLike, layout: str = "generic", split: str = "test", *,
             mode: str = "official", device: str | torch.device | None = None, dtype: str | None = None,
             batch_size: int = 1, tile: int | None = None, save_frames: str | os.PathLike | None = None,
             lpips: bool | None = None, rainy_dir: str | None = None, clean_dir: str | None = None,
             progress: bool = True, info: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run ``model`` (a network, checkpoint path or preset name) over a test set; return the JSON-able report.

    ``lpips``: None computes it when available, True requires it, False skips it.
    """
    import models
    from .datasets import find_pairs, read_sequence

    started = time.time()
    net = _resolve_net(model, device)
    engine = models.Derainer(net, mode=mode, device=device, dtype=dtype, batch_size=batch_size,
                             **({"tile": tile} if tile is not None else {}))
    pairs = find_pairs(data, layout, split, rainy_dir=rainy_dir, clean_dir=clean_dir)
    scorer = LpipsScorer(engine.device) if lpips is not False else None
    if scorer is not None and scorer.model is None:
        if lpips:
            raise ValueError(f"LPIPS was required but {scorer.reason}.")
        if info:
            info(f"LPIPS not computed: {scorer.reason}.")
    keys = METRICS + (("lpips",) if scorer is not None and scorer.model is not None else ())

    records: list[dict[str, Any]] = []
    per_video: list[dict[str, Any]] = []
    bar = tqdm(total=sum(p.num_frames for p in pairs), unit="frame", disable=not progress, dynamic_ncols=True)
    for pair in pairs:
        rainy, clean = read_sequence(pair)
        outputs = engine.stream(np.ascontiguousarray(frame.transpose(2, 0, 1)) for frame in rainy)
        frames = []
        for index, output in enumerate(outputs):
            result = np.ascontiguousarray(np.asarray(output).transpose(1, 2, 0))
            values = frame_metrics(result, clean[index])
            if "lpips" in keys:
                values["lpips"] = scorer(result, clean[index])
            frames.append({"video": pair.name, "index": index, **values})
            if save_frames is not None:
                _save_frame(Path(save_frames) / pair.name / f"{index:06d}.png", result)
            bar.update(1)
        records += frames
        per_video.append({"name": pair.name, "group": pair.group, "frames": len(frames),
                          **{k: _mean([f[k] for f in frames]) for k in keys}})
    bar.close()

    averaging = averaging_for(layout)
    report: dict[str, Any] = {
        "model": "<in-memory network>" if isinstance(model, nn.Module) else str(model),
        "preset": engine.preset.name, "data": str(data), "layout": layout, "split": split, "mode": mode,
        "averaging": {"frames": "all frames pooled", "videos": "per video, then over videos"}[averaging],
        "overall": summarise(records, averaging, keys),
    }
    groups = sorted({p.group for p in pairs if p.group})
    if groups:
        report["groups"] = {g: summarise([r for r, v in _with_group(records, pairs) if v == g], averaging, keys)
                            for g in groups}
    if layout.lower() == "nturain":
        trimmed = [r for r in records if S2VD_TRIM <= r["index"] < _length(pairs, r["video"]) - S2VD_TRIM]
        report["s2vd_y"] = {"note": f"Y channel, first and last {S2VD_TRIM} frames of each video dropped, pooled",
                            **summarise(trimmed, "frames", ("psnr_y", "ssim_y"))}
    if "lpips" not in keys:
        report["lpips"] = f"not computed: {scorer.reason}" if scorer is not None else "not requested"
    report["videos"] = per_video
    report["seconds"] = round(time.time() - started, 2)
    return report


def _with_group(records: list[dict[str, Any]], pairs) -> list[tuple[dict[str, Any], str | None]]:
    group_of = {p.name: p.group for p in pairs}
    return [(r, group_of[r["video"]]) for r in records]


def _length(pairs, name: str) -> int:
    return next(p.num_frames for p in pairs if p.name == name)


def _save_frame(path: Path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
        raise ValueError(f"Cannot write {path}: check that the folder is writable.")


def write_report(report: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write the report as indented JSON (infinite PSNRs of identical frames as the string "inf"), atomically:
    a refused write is a :class:`~models.atomic.WriteError` naming ``path`` and leaves an earlier report."""
    def clean(value: Any) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            return "inf" if value > 0 else str(value)
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    return write_atomic(path, json.dumps(clean(report), indent=2) + "\n")


def format_summary(report: dict[str, Any]) -> str:
    """A few human-readable lines: overall and per group."""
    def line(label: str, m: dict[str, Any]) -> str:
        parts = [f"PSNR {m['psnr']:.2f} dB", f"SSIM {m['ssim']:.4f}", f"Y: {m['psnr_y']:.2f} / {m['ssim_y']:.4f}"]
        if m.get("lpips") is not None:
            parts.append(f"LPIPS {m['lpips']:.4f}")
        return f"{label}: " + ", ".join(parts) + f" ({m['videos']} videos, {m['frames']} frames)"

    lines = [line(f"overall ({report['averaging']})", report["overall"])]
    lines += [line(name, m) for name, m in report.get("groups", {}).items()]
    if "s2vd_y" in report:
        s = report["s2vd_y"]
        lines.append(f"S2VD Y protocol: PSNR {s['psnr_y']:.2f} dB, SSIM {s['ssim_y']:.4f}")
    return "\n".join(lines)
