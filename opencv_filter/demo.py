"""``rainmamba demo``: the main job end to end on a fresh machine, no GPU or network needed.

It renders a short rainy clip (a scikit-image photograph filmed by a moving camera, or a procedural
scene when scikit-image is missing, with synthetic streaks and lens drops from ``training.synth``),
writes it to ``rainy.mp4``, derains that file with ``opencv_filter.derain_frames`` -- the call users
make -- and writes ``derained.mp4``, a labelled ``comparison.png`` (rainy | derained | clean, middle
frame) and ``summary.json``. The clean frames never leave memory; PSNR/SSIM are computed on the frames
the filter returned (before the output is mp4-encoded, which would blur the comparison) against them,
with the frames the filter read from ``rainy.mp4`` as the "before".
"""
from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import numpy as np
import torch

from models.options import resolve_device
from models.sizes import SizeParam
from training.loading import LoadedModel, load_model
from training.render import make_scene, render_pair
from training.scenes import SKIMAGE_PHOTOS
from training.scoring import mean_scores
from training.ship_images import labelled_grid, write_png
from training.synth import RainParams

from .errors import DerainError
from .frames import derain_frames
from .media import FrameFormat, VideoFileWriter, read_video as read_video_file

SCENES = ("procedural", *SKIMAGE_PHOTOS)
OUTPUTS = {"rainy": "rainy.mp4", "derained": "derained.mp4", "comparison": "comparison.png",
           "summary": "summary.json"}
METRICS_NOTE = ("PSNR/SSIM (RGB, 8-bit) against the clean frames: 'before' is the rainy clip as the filter read "
                "it from rainy.mp4, 'after' is what the filter returned, before derained.mp4 was encoded")
_SEED_TAG = 0xDE30            # demo clips never share a random stream with training sequences


def render_clip(scene: str, frames: int, size: tuple[int, int], seed: int, drops: bool,
                note: Callable[[str], None] = print) -> tuple[np.ndarray, np.ndarray, str, RainParams]:
    """(clean, rainy) uint8 RGB (T, H, W, 3), the scene actually used, and the rain settings.

    A photo scene falls back to a procedural one (with a note) when scikit-image is not installed.
    """
    params = RainParams(drop_prob=1.0 if drops else 0.0)
    rng = np.random.default_rng([seed, _SEED_TAG])
    try:
        clean = make_scene(scene, frames, *size, rng)
    except ImportError:
        note(f"note: scikit-image is not installed, so a procedural scene replaces the '{scene}' photo "
             "(pip install scikit-image for photo scenes).")
        scene = "procedural"
        clean = make_scene(scene, frames, *size, rng)
    clean_u8, rainy_u8 = render_pair(clean, params, rng)
    return clean_u8, rainy_u8, scene, params


def write_video(path: Path, frames_rgb: np.ndarray, fps: float) -> None:
    """Write RGB frames as an mp4 with the command's default encoding (atomically, PyAV)."""
    height, width = frames_rgb.shape[1:3]
    with VideoFileWriter(path, FrameFormat.for_images(fps, sixteen_bit=False), (width, height)) as writer:
        for frame in frames_rgb:
            writer.write(np.ascontiguousarray(frame[:, :, ::-1]))
        writer.commit()


def read_video(path: Path) -> np.ndarray:
    """Every frame of a video file as RGB uint8 (T, H, W, 3)."""
    return np.stack([frame[:, :, ::-1] for frame in read_video_file(path)])


def derain_file(path: Path, net: torch.nn.Module) -> tuple[np.ndarray, float]:
    """Derain a video file the way users do, ``derain_frames(path, model=net)``: RGB frames and seconds taken."""
    started = time.perf_counter()
    device = next(net.parameters()).device   # the device the demo loaded it on (--device)
    derained = np.stack([frame[:, :, ::-1] for frame in derain_frames(str(path), model=net, device=device)])
    return derained, time.perf_counter() - started


def write_comparison(path: Path, rainy: np.ndarray, derained: np.ndarray, clean: np.ndarray, index: int) -> None:
    """Write frame ``index`` as rainy | derained | clean, each labelled (with its PSNR), to a PNG."""
    at = slice(index, index + 1)
    before, after = mean_scores(rainy[at], clean[at]), mean_scores(derained[at], clean[at])
    image = labelled_grid([f"rainy {before['psnr']:.2f} dB", f"derained {after['psnr']:.2f} dB", "clean (truth)"],
                          [[rainy[index], derained[index], clean[index]]])
    write_png(path, image)


def _check_options(frames: int, size: tuple[int, int], scene: str, fps: float) -> None:
    if frames < 1:
        raise DerainError(f"--frames {frames}: the demo needs at least 1 frame.")
    if min(size) < 32 or size[0] % 2 or size[1] % 2:
        raise DerainError(f"--size {size[0]}x{size[1]}: give an even height and width of at least 32 "
                          "(so the clips are 4:2:0 and play in every player), like 192x256.")
    if scene not in SCENES:
        raise DerainError(f"--scene {scene!r} is unknown: choose one of {', '.join(SCENES)}.")
    if fps <= 0:
        raise DerainError(f"--fps {fps} must be positive.")


def _scores_table(before: dict[str, float], after: dict[str, float]) -> list[str]:
    return [f"  {'':12s} {'PSNR (dB)':>10s} {'SSIM':>8s}",
            f"  {'rainy input':12s} {before['psnr']:10.2f} {before['ssim']:8.4f}",
            f"  {'derained':12s} {after['psnr']:10.2f} {after['ssim']:8.4f}",
            f"  {'gain':12s} {after['psnr'] - before['psnr']:+10.2f} {after['ssim'] - before['ssim']:+8.4f}"]


def run_demo(out_dir: str | Path, model: Any = None, *, frames: int = 24, size: tuple[int, int] = (192, 256),
             seed: int = 0, scene: str = "astronaut", drops: bool = True, fps: float = 25.0,
             device: str | None = None, echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Render, derain through ``derain_frames``, score and write the demo's outputs; returns the summary."""
    _check_options(frames, size, scene, fps)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise DerainError(f"{out} is a file: give a folder for the demo's outputs.")
    started = time.perf_counter()
    loaded: LoadedModel = load_model(model, resolve_device(device))
    load_seconds = time.perf_counter() - started
    out.mkdir(parents=True, exist_ok=True)
    paths = {key: out / name for key, name in OUTPUTS.items()}

    clean, rendered, scene, params = render_clip(scene, frames, size, seed, drops, echo)
    echo(f"Rendered {frames} frames of {size[0]}x{size[1]} ({scene} scene, streaks"
         f"{' and lens drops' if drops else ''}, seed {seed}) -> {paths['rainy']}")
    write_video(paths["rainy"], rendered, fps)

    echo(f"Deraining {paths['rainy']} with {loaded.name} (preset {loaded.preset}) on "
         f"{next(loaded.net.parameters()).device} ...")
    derained, seconds = derain_file(paths["rainy"], loaded.net)
    rainy = read_video(paths["rainy"])      # what the filter read: mp4 decoding is deterministic
    if len(derained) != frames:
        raise DerainError(f"The filter returned {len(derained)} frames for {frames}: the video could not be read "
                          "back whole.")
    write_video(paths["derained"], derained, fps)

    before, after = mean_scores(rainy, clean), mean_scores(derained, clean)
    write_comparison(paths["comparison"], rainy, derained, clean, frames // 2)

    summary = {
        "model": {"name": loaded.name, "preset": loaded.preset, "parameters": loaded.parameters},
        "clip": {"scene": scene, "frames": frames, "height": size[0], "width": size[1], "fps": fps, "seed": seed,
                 "rain": dataclasses.asdict(params)},
        "metrics": METRICS_NOTE, "before": before, "after": after,
        "gain": {key: after[key] - before[key] for key in before},
        "rainy_before_encoding": mean_scores(rendered, clean),
        "comparison_frame": frames // 2,
        "speed": {"frames": frames, "seconds": round(seconds, 3), "frames_per_second": frames / seconds,
                  "device": str(next(loaded.net.parameters()).device), "threads": torch.get_num_threads(),
                  "model_load_seconds": round(load_seconds, 3)},
        "outputs": {key: str(path) for key, path in paths.items() if key != "summary"},
    }
    paths["summary"].write_text(json.dumps(summary, indent=2))

    echo(f"Derained {frames} frames in {seconds:.1f} s: {frames / seconds:.2f} frames/s "
         f"({summary['speed']['device']}, {summary['speed']['threads']} threads).")
    echo("\n".join(_scores_table(before, after)))
    echo(f"  ({METRICS_NOTE}; rainy before mp4 encoding: {summary['rainy_before_encoding']['psnr']:.2f} dB.)")
    echo(f"Wrote {paths['derained']}, {paths['comparison']} and {paths['summary']}.")
    return summary


@click.command("demo", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("out_dir", type=click.Path(file_okay=False), default="demo_out")
@click.option("-m", "--model", default=None, metavar="MODEL",
              help="Shipped default (omit), a preset with installed weights, or a checkpoint file.")
@click.option("--frames", "-t", type=int, default=24, show_default=True, help="Frames in the clip.")
@click.option("--size", type=SizeParam(), default="192x256", show_default=True, help="Frame size HEIGHTxWIDTH.")
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed, same clip.")
@click.option("--scene", type=click.Choice(SCENES), default="astronaut", show_default=True,
              help="A scikit-image photograph, or a procedural scene.")
@click.option("--drops/--no-drops", default=True, show_default=True, help="Raindrops on the lens besides streaks.")
@click.option("--fps", type=float, default=25.0, show_default=True, help="Frame rate of the videos.")
@click.option("--device", default=None, help="cpu, cuda, cuda:N. Default: a GPU when there is one, else the CPU.")
def demo_command(out_dir: str, model: str | None, frames: int, size: tuple[int, int], seed: int, scene: str,
                 drops: bool, fps: float, device: str | None) -> None:
    """Make a rainy clip, derain it with the shipped model, and show the result in OUT_DIR.

    \b
    Writes OUT_DIR/rainy.mp4, derained.mp4, comparison.png (rainy | derained | clean, middle frame)
    and summary.json, and prints PSNR/SSIM before and after and the speed. One to two minutes on
    2 CPU cores with the default clip.
    """
    try:
        run_demo(out_dir, model, frames=frames, size=size, seed=seed, scene=scene, drops=drops, fps=fps,
                 device=device, echo=click.echo)
    except (DerainError, ValueError, OSError, ImportError, RuntimeError) as err:
        raise click.ClickException(str(err)) from None
