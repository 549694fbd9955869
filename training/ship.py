"""``rainmamba ship-eval``: score a model on held-out rain and on clean input, for its model card.

The sets are in :mod:`training.heldout`, the run in :mod:`training.ship_eval`, the scores in
:mod:`training.scoring`, the markdown in :mod:`training.ship_report`.
"""
from __future__ import annotations

import json
from pathlib import Path

import click

from models.atomic import write_atomic
from models.sizes import SizeParam

from .heldout import DEFAULT_SEED, read_train_params
from .ship_eval import QUICK, evaluate_generalisation
from .ship_report import markdown_table

__all__ = ["ship_eval_command"]


def _reference(model: str | None, reference: str | None) -> str | None:
    """The reference to score beside ``model``: as given ("none": none), else the shipped default when it
    exists and ``model`` is another model."""
    from models import registry

    if reference is not None:
        return None if reference.lower() == "none" else reference
    shipped = registry.DEFAULT_MODEL_FILE
    if model in (None, "default") or not shipped.is_file() or Path(model).resolve() == shipped.resolve():
        return None
    return "default"


@click.command("ship-eval", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-m", "--model", default=None, metavar="MODEL",
              help="Checkpoint path or preset name. Default: the shipped default model.")
@click.option("--reference", default=None, metavar="MODEL",
              help="A model scored beside it, e.g. the current shipped one ('default'); 'none' for none. "
                   "Default: the shipped model when --model is another one.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), default=None,
              help="Also write the full report (every clip) as JSON here.")
@click.option("--images", "images", type=click.Path(file_okay=False), default=None,
              help="Write comparison grids here (one PNG per set: rainy | median | model | clean).")
@click.option("--seed", type=int, default=DEFAULT_SEED, show_default=True,
              help="Seed of the held-out clips (disjoint from any training seed by construction).")
@click.option("--clips", type=click.IntRange(min=1), default=8, show_default=True, help="Clips per set.")
@click.option("--frames", "-t", type=click.IntRange(min=1), default=10, show_default=True, help="Frames per clip.")
@click.option("--size", type=SizeParam(), default="96x96", show_default=True, help="Frame size HEIGHTxWIDTH.")
@click.option("--train-synth", type=click.Path(exists=True), default=None,
              help="The training set's synth.json (or its folder): its rain ranges define in-distribution "
                   "and unseen. Default: RainParams() defaults.")
@click.option("--device", default=None, help="cpu, cuda, cuda:N. Default: a GPU when there is one.")
@click.option("--quick", is_flag=True, help="A smoke run: 2 clips of 5x64x64 per set.")
def ship_eval_command(model: str | None, reference: str | None, json_path: str | None, images: str | None,
                      seed: int, clips: int, frames: int, size: tuple[int, int], train_synth: str | None,
                      device: str | None, quick: bool) -> None:
    """Score a model on held-out rain (in-distribution, unseen settings, photo scenes, unseen rain kinds) and
    on clean input (rain-free clips, flat fields), beside a 5-frame temporal median and a reference model.

    Prints markdown tables for the model card and README.
    """
    if quick:
        clips, frames, size = QUICK["clips"], QUICK["frames"], QUICK["size"]
    try:
        params = read_train_params(train_synth) if train_synth else None
        report = evaluate_generalisation(model, seed, clips=clips, frames=frames, size=size, train_params=params,
                                         device=device, progress=True, reference=_reference(model, reference),
                                         images=images)
    except (ValueError, OSError, ImportError, RuntimeError) as err:
        raise click.ClickException(str(err)) from None
    click.echo(markdown_table(report))
    if json_path:
        write_atomic(json_path, json.dumps(report, indent=2).encode())
        click.echo(f"\nFull report: {json_path}")
    if images:
        click.echo(f"Comparison images: {images}")
