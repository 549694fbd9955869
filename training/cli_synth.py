"""``rainmamba synth``: write a paired rainy/clean dataset with synthetic, temporally coherent rain."""
from __future__ import annotations

import dataclasses

import click

from models.sizes import SizeParam

from .synth import SCENE_KINDS, RainParams, write_synthetic_dataset

_DEFAULTS = RainParams()


class _RangeType(click.ParamType):
    """``lo,hi`` (or one number for a fixed value) -> (lo, hi)."""

    name = "lo,hi"

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        parts = [p.strip() for p in str(value).split(",")]
        try:
            numbers = [float(p) for p in parts]
        except ValueError:
            numbers = []
        if len(numbers) not in (1, 2):
            self.fail(f"{value!r} is not a range: write two numbers as lo,hi (e.g. 10,80) or one number.",
                      param, ctx)
        return (numbers[0], numbers[-1])


_RANGE = _RangeType()


def _range_option(name: str, what: str):
    field = name.lstrip("-").replace("-", "_")
    low, high = getattr(_DEFAULTS, field)
    return click.option(name, field, type=_RANGE, default=None, help=f"{what} [default: {low:g},{high:g}]")


@click.command("synth", context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.option("--clean", "clean_source", type=click.Path(exists=True, file_okay=False),
              help="Folder of clean material: videos, per-sequence frame folders and/or photos. "
                   "Default: generated scenes (see --scenes).")
@click.option("--scenes", type=click.Choice(SCENE_KINDS), default="procedural", show_default=True,
              help="Clean clips to use without --clean: procedural scenes, scikit-image's sample photos "
                   "(needs scikit-image), or a mix; all filmed by a moving camera.")
@click.option("--sequences", "-n", type=click.IntRange(min=1), default=100, show_default=True,
              help="Number of sequences to write.")
@click.option("--frames", "-t", type=click.IntRange(min=1), default=10, show_default=True,
              help="Frames per sequence (at least the model's T, e.g. 5 or 7).")
@click.option("--size", type=SizeParam(native=True), default="128x128", show_default=True,
              help="Frame size HEIGHTxWIDTH; 'native' keeps the size of the --clean material.")
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed, same dataset.")
@_range_option("--density", "Streaks per 100x100 pixels.")
@_range_option("--angle", "Wind angle from vertical, degrees (positive leans right).")
@_range_option("--length", "Streak length, pixels.")
@_range_option("--width", "Streak width, pixels.")
@_range_option("--speed", "Streak speed, pixels per frame.")
@_range_option("--brightness", "Streak brightness, 0..1.")
@_range_option("--fog", "Rain fog opacity, 0..1.")
@click.option("--fog-prob", type=click.FloatRange(0, 1), default=None,
              help=f"Share of sequences with rain fog [default: {_DEFAULTS.fog_prob:g}].")
@click.option("--drops/--no-drops", default=False, show_default=True,
              help="Raindrops on the lens in every sequence (persisting, sliding, refracting the scene).")
@_range_option("--drop-count", "Lens drops per 256x256 pixels (with --drops).")
@_range_option("--drop-radius", "Lens drop radius as a fraction of the frame's shorter side.")
@click.option("--overwrite", is_flag=True,
              help="Replace rainy/, clean/ and synth.json of a non-empty OUT_DIR.")
def synth_command(out_dir: str, clean_source: str | None, scenes: str, sequences: int, frames: int,
                  size: tuple[int, int] | None, seed: int, drops: bool, overwrite: bool, **rain) -> None:
    """Render temporally coherent synthetic rain and write a paired dataset to OUT_DIR.

    Rain streaks of random density, angle, length, width, speed and brightness move from frame to
    frame; optional rain fog and raindrops on the lens. The result is in the generic layout,
    OUT_DIR/rainy/<seq>/%06d.png + OUT_DIR/clean/<seq>/%06d.png, plus OUT_DIR/synth.json, ready for
    `rainmamba train --layout generic`. Ranges are lo,hi (one number fixes the value); each
    sequence draws its own values from them.

    \b
    Examples:
      rainmamba synth data/synth                      # 100 procedural 10x128x128 sequences
      rainmamba synth data/synth -n 500 --size 256x256 --density 30,150 --drops
      rainmamba synth data/mine --clean my_clean_videos/ --size native --frames 7
      rainmamba synth data/light --density 5,20 --angle -5,5 --fog-prob 0
      rainmamba train --preset tiny --data data/synth --layout generic --out runs/synth
    """
    overrides = {name: value for name, value in rain.items() if value is not None}
    if size is None and clean_source is None:
        raise click.BadParameter("'native' needs --clean: generated scenes have no size of their own.",
                                 param_hint="--size")
    try:
        params = dataclasses.replace(_DEFAULTS, **overrides)
        from tqdm import tqdm

        with tqdm(total=sequences, unit="seq", desc="synth", disable=None) as bar:
            out = write_synthetic_dataset(out_dir, sequences, frames, *(size or (None, None)), seed=seed,
                                          params=params, clean_source=clean_source, drops=drops,
                                          scenes=scenes, overwrite=overwrite, progress=bar.update)
    except (ValueError, FileExistsError, ImportError, OSError) as err:
        raise click.ClickException(str(err)) from err
    click.echo(f"Wrote {sequences} sequences of {frames} frames to {out} (generic layout). Train on them "
               f"with: rainmamba train --data {out} --layout generic")
