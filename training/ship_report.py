"""The ``rainmamba ship-eval`` report as markdown, for the model card and the README."""
from __future__ import annotations

from typing import Any

from .heldout import RAIN_FREE_SETS
from .scoring import STREAK_THRESHOLD

__all__ = ["markdown_table"]

STREAK_NOTE = (f"streak left = share of the luma rain added that the output keeps, on pixels where rainy - clean "
               f"luma > {STREAK_THRESHOLD:g} codes: sum(max(out - clean, 0)) / sum(rainy - clean), pooled over "
               "the set")


def _methods(report: dict[str, Any]) -> list[tuple[str, str]]:
    """(key, column name) of the scored methods in table order: median, reference (when run), model."""
    return [("median", "median"), *([("reference", "reference")] if report.get("reference") else []),
            ("output", "derained")]


def _pair(scores: dict[str, float]) -> str:
    return f"{scores['psnr']:.2f} / {scores['ssim']:.4f}"


def _share(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


def _cells(summary: dict[str, Any], methods: list[tuple[str, str]]) -> str:
    gain = summary["gain"]
    scores = " | ".join(_pair(summary[key]) for key, _ in methods)
    left = " / ".join(_share(summary["streak_left"][key]) for key, _ in methods)
    return (f"{summary['clips']} | {_pair(summary['input'])} | {scores} | "
            f"{gain['psnr']:+.2f} / {gain['ssim']:+.4f} | {left}")


def _rainy_table(report: dict[str, Any], methods: list[tuple[str, str]]) -> list[str]:
    h, w = report["size"]
    names = " / ".join(name for _, name in methods)
    lines = [
        f"| held-out set (seed {report['seed']}, clips of {report['frames']}x{h}x{w}) | clips | rainy PSNR / SSIM | "
        + " | ".join(f"{name} PSNR / SSIM" for _, name in methods)
        + f" | gain PSNR / SSIM | streak left ({names}) |",
        "|---|---:|---:|" + "---:|" * len(methods) + "---:|---:|",
    ]
    for summary in report["sets"].values():
        lines.append(f"| **{summary['label']}** | {_cells(summary, methods)} |")
        if len(summary["variants"]) > 1:
            lines += [f"| &nbsp;&nbsp;· {v['label']} | {_cells(v, methods)} |" for v in summary["variants"].values()]
    return lines


def _identity_table(report: dict[str, Any], methods: list[tuple[str, str]]) -> list[str]:
    identity = report["identity"]
    lines = ["| identity: clean input, output vs input | " + " | ".join(name for _, name in methods) + " |",
             "|---|" + "---:|" * len(methods)]
    for key, *_ in RAIN_FREE_SETS:
        free = identity[key]
        lines.append(f"| {free['label']} ({free['clips']}): mean / worst PSNR (dB) | "
                     + " | ".join(f"{free['psnr'][k]:.2f} / {free['worst_psnr'][k]:.2f}" for k, _ in methods) + " |")
    for name, field in identity["flat_fields"].items():
        rgb = ",".join(map(str, field["rgb"]))
        lines.append(f"| flat {name.replace('_', ' ')} field ({rgb}): mean shift, codes (R, G, B signed) | "
                     + " | ".join(f"{field[k]['mean_abs']:.1f} ({', '.join(f'{c:+.1f}' for c in field[k]['channels'])})"
                                  for k, _ in methods) + " |")
    return lines


def markdown_table(report: dict[str, Any]) -> str:
    """The report as markdown: the rainy sets (one row per set, one indented row per rain setting), the
    identity checks, then notes saying what was run and what the numbers mean."""
    methods = _methods(report)
    lines = [*_rainy_table(report, methods), "", *_identity_table(report, methods), ""]
    lines.append(f"Model: {report['model']} (preset `{report['preset']}`, {report['parameters']:,} parameters), "
                 f"`models.Derainer` fast mode on {report['device']}, {report['seconds']:.0f} s.")
    if report.get("reference"):
        ref = report["reference"]
        lines.append(f"Reference: {ref['name']} (preset `{ref['preset']}`, {ref['parameters']:,} parameters).")
    lines.append(f"Metrics: {report['metrics']}; {STREAK_NOTE}; flat-field shift = mean |out - in| over pixels "
                 "and channels in 8-bit codes.")
    return "\n".join(lines)
