"""Does the tiling change what the shipped model gives? The held-out sets rendered at one frame size,
derained with several engine settings (the preset's tiles, whole frames, bfloat16), scored against
their clean clips, every setting on the same clips.

    python benchmarks/tile_quality.py --size 480p --clips 2 --frames 5 --json benchmarks/results/cpu_tile_quality.json

Prints one row per held-out set and setting (mean RGB PSNR / SSIM over its clips) and the largest
difference between each setting's output and the preset tiles' (8-bit levels); then the identity checks
of ``rainmamba ship-eval`` (rain-free clips: PSNR of output vs input; flat fields: mean code shift).
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

import models
from models.sizes import parse_size
from tqdm import tqdm

from training.heldout import DEFAULT_SEED, clip_rng, held_out_sets
from training.render import make_scene, render_pair
from training.scoring import mean_scores
from training.ship_eval import _identity

SETTINGS = {"preset tiles": {"tile": "preset"}, "whole frame": {"tile": 0},
            "whole frame bfloat16": {"tile": 0, "dtype": "bfloat16"}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="480p")
    parser.add_argument("--clips", type=int, default=2, help="clips per held-out set")
    parser.add_argument("--frames", type=int, default=5)
    parser.add_argument("--settings", default=",".join(SETTINGS), help="comma-separated names of SETTINGS")
    parser.add_argument("--json", default=None, help="write the rows here")
    parser.add_argument("--no-rainy", action="store_true", help="only the identity checks")
    args = parser.parse_args()
    height, width = parse_size(args.size, named=True)
    net = models.resolve_model(None)
    names = [s.strip() for s in args.settings.split(",")]
    preset_tile = tuple(net.preset.protocol.tile)
    engines = {name: models.Derainer(net, device="cpu", **{k: preset_tile if v == "preset" else v
                                                          for k, v in SETTINGS[name].items()})
               for name in names}
    rows, seconds = [], {name: 0.0 for name in names}
    for set_index, held_out in enumerate(() if args.no_rainy else held_out_sets()):
        scores: dict[str, list[dict[str, float]]] = {name: [] for name in ["rainy", *names]}
        diff = {name: 0 for name in names}
        for j in range(args.clips):
            variant, scene = held_out.clip(j)
            rng = clip_rng(DEFAULT_SEED, set_index, j)
            clean, rainy = render_pair(make_scene(scene, args.frames, height, width, rng), variant.params, rng)
            scores["rainy"].append(mean_scores(rainy, clean))
            outputs = {}
            for name, engine in engines.items():
                start = time.perf_counter()
                outputs[name] = engine(np.ascontiguousarray(rainy.transpose(0, 3, 1, 2))).transpose(0, 2, 3, 1)
                seconds[name] += time.perf_counter() - start
                scores[name].append(mean_scores(outputs[name], clean))
            for name in names:
                diff[name] = max(diff[name], int(np.abs(outputs[name].astype(int) - outputs[names[0]]).max()))
        for name, got in scores.items():
            row = {"set": held_out.key, "setting": name, "clips": args.clips,
                   "psnr": float(np.mean([s["psnr"] for s in got])), "ssim": float(np.mean([s["ssim"] for s in got])),
                   "max_diff_vs_first": diff.get(name)}
            rows.append(row)
            print(f"{held_out.key:16s} {name:24s} PSNR {row['psnr']:6.2f}  SSIM {row['ssim']:.4f}"
                  + (f"  max |diff| vs {names[0]}: {row['max_diff_vs_first']}" if name in diff else ""))
    runners = {name: (lambda clip, e=engine: e(np.ascontiguousarray(clip.transpose(0, 3, 1, 2))).transpose(0, 2, 3, 1))
               for name, engine in engines.items()}
    identity = _identity(runners, DEFAULT_SEED, 2 * args.clips, args.frames, (height, width), tqdm(disable=True), None)
    for name in names:
        fields = ", ".join(f"{field} {identity['flat_fields'][field][name]['mean_abs']:.2f}"
                           for field in identity["flat_fields"])
        print(f"identity {name:24s} rain-free PSNR {identity['rain_free']['psnr'][name]:.2f} "
              f"(worst {identity['rain_free']['worst_psnr'][name]:.2f}); flat-field mean |shift| {fields}")
    for name in names:
        print(f"{name}: {seconds[name]:.1f} s in the engine")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"size": [height, width], "frames": args.frames, "clips_per_set": args.clips,
                       "torch": torch.__version__, "rows": rows, "identity": identity,
                       "engine_seconds": seconds}, f, indent=1)


if __name__ == "__main__":
    main()
