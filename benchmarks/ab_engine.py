"""An older ``models`` package against this one: the same clip through both engines, alternating in one
process (so both see the same machine load), each as frames/s and as a share of the compute floor, and
the old/new time ratio within each round with its median (robust to the machine's speed drifting).

Prepare the old package once, renamed so both import side by side::

    mkdir -p /tmp/old && git archive <commit> models | tar -x -C /tmp/old && mv /tmp/old/models /tmp/old/models_old
    cp models/weights/* /tmp/old/models_old/weights/

then ``python benchmarks/ab_engine.py /tmp/old --size 480p --tile preset --threads 1``.
"""
from __future__ import annotations

import argparse
import importlib
import sys
import time

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old_dir", help="folder holding the older package as models_old")
    parser.add_argument("--size", default="480p")
    parser.add_argument("--tile", default="preset",
                        help="preset (its tile), default (each engine's own choice), or a tile side (0 = whole frame)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    sys.path.insert(0, args.old_dir)
    import models
    from models import bench_profile as bp
    from models.bench_measure import synthetic_frames
    old_pkg = importlib.import_module("models_old")

    new = models.resolve_model(None).eval()
    old = old_pkg.network.build(new.preset.name).eval()
    old.load_state_dict(new.state_dict())
    if args.tile == "default":
        tile = None
    elif args.tile == "preset":
        tile = tuple(new.preset.protocol.tile)
    else:
        tile = int(args.tile)
    height, width = models.sizes.parse_size(args.size, named=True)
    clip = list(synthetic_frames(5, height, width))
    rate, fpp = bp.matmul_rate(torch.device("cpu")), bp.flops_per_pixel(new)
    engines = {"old": old_pkg.engine.Derainer(old, tile=tile), "new": models.engine.Derainer(new, tile=tile)}
    outputs = {name: list(engine.stream(iter(clip))) for name, engine in engines.items()}   # warm-up
    diff = max(int(abs(a.astype(int) - b.astype(int)).max()) for a, b in zip(outputs["old"], outputs["new"]))
    print(f"max |old - new| (uint8 levels): {diff}")
    best: dict[str, float] = {}
    ratios = []   # old / new time within each round: robust to the machine's speed drifting between rounds
    for _ in range(args.rounds):
        took = {}
        for name, engine in engines.items():
            start = time.perf_counter()
            for _ in engine.stream(iter(clip)):
                pass
            took[name] = time.perf_counter() - start
            best[name] = min(best.get(name, float("inf")), took[name])
        ratios.append(took["old"] / took["new"])
    rate = max(rate, bp.matmul_rate(torch.device("cpu")))
    for name, seconds in best.items():
        print(f"{args.size} tile={args.tile} {name}: {len(clip) / seconds:.3g} frames/s, "
              f"{100 * bp.of_floor(fpp, rate, len(clip) * height * width, seconds):.1f}% of the floor "
              f"({rate / (fpp * height * width):.3g} frames/s at {rate / 1e9:.0f} GFLOP/s, "
              f"{torch.get_num_threads()} threads)")
    print(f"new / old speed: {best['old'] / best['new']:.3f} (best of each); per round "
          f"{', '.join(f'{r:.2f}' for r in ratios)}, median {sorted(ratios)[len(ratios) // 2]:.3f}")


if __name__ == "__main__":
    main()
