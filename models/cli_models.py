"""``rainmamba models``: list presets and installed weights, inspect a checkpoint, import the authors' weights."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import click

from .checkpoint import CheckpointError, check_loadable, infer_preset, read_checkpoint
from .presets import PRESETS
from .registry import DEFAULT_MODEL_FILE, default_model_preset, import_official, installed_weights, model_dir


@click.group("models")
def models_group() -> None:
    """Manage RainMamba weights: presets, installed files, the authors' checkpoints.

    \b
    Get the authors' weights (VRDS.pth, LWDDS.pth, RainVIDSS.pth, RainSynAll100.pth) from
    https://github.com/TonyHongtaoWu/RainMamba, then:
      rainmamba models import VRDS.pth --preset vrds
      rainmamba derain rainy.mp4 clean.mp4 --model vrds
    The model directory is $RAINMAMBA_HOME (default ~/.local/share/rainmamba/models).
    """


@models_group.command("list")
def list_command() -> None:
    """Show every preset, its window and tile, and whether weights are installed."""
    installed = installed_weights()
    click.echo(f"model directory: {model_dir()}")
    default_preset = default_model_preset()
    shipped = (f"{DEFAULT_MODEL_FILE} (preset {default_preset})" if DEFAULT_MODEL_FILE.is_file()
               else "missing from this install")
    click.echo(f"default model:   {shipped}\n")
    click.echo(f"{'preset':<14}{'C':>5}{'T':>4}  {'tile':<9}{'overlap T,H,W':<15}weights")
    for name, p in PRESETS.items():
        where = str(installed[name]) if name in installed else (
            f"not installed: rainmamba models import {p.weights.file} --preset {name}" if p.weights else
            "the default model (no model argument)" if name == default_preset else "-")
        window = p.protocol
        tile = f"{window.tile[0]}x{window.tile[1]}"
        click.echo(f"{name:<14}{p.arch.num_features:>5}{window.frames:>4}  {tile:<9}"
                   f"{','.join(map(str, window.tile_overlap)):<15}{where}")


def _with_option_hint(err: CheckpointError) -> CheckpointError:
    """The error in this group's terms: choosing a preset is `--preset NAME`."""
    return err.with_hint(f"Pass --preset {err.presets[0]} (the preset the weights were trained with).") \
        if err.presets else err


@models_group.command("info")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--preset", help="Preset to check the file against (default: inferred from the file).")
@click.option("--tensors", is_flag=True, help="Also list every tensor name and shape.")
def info_command(path: Path, preset: str | None, tensors: bool) -> None:
    """Describe a checkpoint: format, preset, parameter count, provenance, and whether it loads strictly.

    Exits with status 1 when the file would not load (wrong or unknown preset, missing or mis-shaped
    tensors, NaN or infinite weights), after describing what it holds.
    """
    try:
        ckpt = read_checkpoint(path)
    except CheckpointError as err:
        raise click.ClickException(str(err)) from None
    click.echo(f"file:        {path}")
    click.echo(f"format:      {ckpt.source_format}")
    click.echo(f"tensors:     {len(ckpt.state_dict)} "
               f"({sum(t.numel() for t in ckpt.state_dict.values()):,} values, "
               f"{', '.join(f'{n} {d}' for d, n in Counter(str(t.dtype).replace('torch.', '') for t in ckpt.state_dict.values()).items())})")
    for key, value in ckpt.provenance.items():
        click.echo(f"provenance:  {key} = {value}")
    if tensors:
        for name, t in ckpt.state_dict.items():
            click.echo(f"  {name:<60} {tuple(t.shape)}")
    try:
        chosen = infer_preset(ckpt, preset)
        check_loadable(ckpt, chosen, path)
    except CheckpointError as err:
        raise click.ClickException(str(_with_option_hint(err))) from None
    except ValueError as err:  # an unknown --preset name
        raise click.ClickException(str(err)) from None
    window = chosen.protocol
    click.echo(f"preset:      {chosen.name} (C={chosen.arch.num_features}, T={window.frames}, tile "
               f"{window.tile[0]}x{window.tile[1]}, overlap {window.tile_overlap}) -- loads strictly")


@models_group.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--preset", type=click.Choice(list(PRESETS)), help="The preset the weights belong to "
              "(needed for the C=128 files: vrds, lwdds or rainvidss).")
def import_command(path: Path, preset: str | None) -> None:
    """Convert an official .pth (or any checkpoint) to the project format and install it as `--model PRESET`."""
    try:
        installed = import_official(path, preset)
    except CheckpointError as err:
        raise click.ClickException(str(_with_option_hint(err))) from None
    except (ValueError, OSError) as err:  # OSError: a WriteError naming the model file and the cause
        raise click.ClickException(str(err)) from None
    name = installed.stem
    click.echo(f"installed {path.name} as '{name}': {installed}")
    click.echo(f"use it with model=\"{name}\" (VapourSynth, OpenCV) or `rainmamba derain IN OUT --model {name}`")


@models_group.command("download")
@click.argument("presets", nargs=-1, metavar="[PRESET]...")
@click.option("--all", "everything", is_flag=True, help="Every preset with published weights.")
@click.option("--force", is_flag=True, help="Download again even when the preset's weights are installed.")
def download_command(presets: tuple[str, ...], everything: bool, force: bool) -> None:
    """Download the authors' weights from Google Drive, check them and install them as `--model PRESET`.

    \b
    PRESET: vrds, lwdds, rainvidss or rainsynall100. An interrupted download resumes when run again.
      rainmamba models download vrds
      rainmamba models download --all
    """
    from .download import DOWNLOADS, DownloadError, download

    if everything == bool(presets):
        raise click.UsageError(f"Name presets to download ({', '.join(DOWNLOADS)}) or pass --all, not both.")
    chosen = list(DOWNLOADS) if everything else [p.lower() for p in presets]
    unknown = [p for p in chosen if p not in DOWNLOADS]
    if unknown:
        raise click.BadParameter(f"{', '.join(unknown)} has no published weights: choose from "
                                 f"{', '.join(DOWNLOADS)}.", param_hint="PRESET")
    installed = installed_weights()
    for name in chosen:
        if name in installed and not force:
            click.echo(f"'{name}' is already installed: {installed[name]} (--force downloads it again)")
            continue
        try:
            path = download(name)
        except DownloadError as err:
            raise click.ClickException(str(err)) from None
        click.echo(f"installed '{name}': {path}")
