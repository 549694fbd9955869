"""``rainmamba train`` and ``rainmamba evaluate``.

Every :class:`~training.config.TrainConfig` field is an option of ``train`` (``--batch-size`` for
``batch_size``); an option left out keeps the value of the config file, of the resumed run, or of the
preset, in that order. Under ``torchrun`` the same command runs one process per GPU (or per CPU worker):

    torchrun --nproc-per-node 4 -m training.cli_train --preset vrds --data VRDS --layout vrds --out runs/vrds
"""
from __future__ import annotations

from typing import Any

import click

from models.presets import PRESETS

from .config import AMP_MODES, TrainConfig

_PAIR = click.Tuple([int, int])

# (field, click type, help); the option is --field-with-dashes. Flags are listed in _FLAGS.
_OPTIONS: list[tuple[str, Any, str]] = [
    ("preset", str, f"Network preset: {', '.join(PRESETS)} (default: from --init)."),
    ("data", str, "Training data root."),
    ("layout", str, "Data layout: vrds, lwdds, rainvidss, rainsynall100, nturain, generic, videos [generic]."),
    ("split", str, "Which split of the layout to train on [train]."),
    ("rainy-dir", str, "Override the rainy folder name of the layout."),
    ("clean-dir", str, "Override the clean folder name of the layout."),
    ("iterations", int, "Total iterations [preset: 300000]."),
    ("batch-size", int, "Batch per process (per GPU) [preset]."),
    ("frames", int, "Frames per training window T [preset]."),
    ("crop", int, "Square crop size, a multiple of 8 [preset]."),
    ("lr", float, "Adam learning rate [preset]."),
    ("betas", click.Tuple([float, float]), "Adam betas [0.9 0.999]."),
    ("weight-decay", float, "Adam weight decay [0]."),
    ("warmup-iterations", int, "Linear warm-up length [preset: 2000]."),
    ("warmup-ratio", float, "Warm-up start as a fraction of the lr [1e-6]."),
    ("poly-power", float, "Power of the poly decay [1]."),
    ("min-lr", float, "Floor of the poly decay [1e-9]."),
    ("charbonnier-weight", float, "Weight of the Charbonnier loss [1]."),
    ("perceptual-weight", float, "Weight of the VGG16 perceptual loss [0.3]; 0 turns it off."),
    ("dcll-weight", float, "Weight of DCLL [0.1]; 0 turns it off."),
    ("dcll-samples", int, "DCLL patches per frame [preset: 10, divided by the batch for vrds/lwdds]."),
    ("dcll-negative-distance", _PAIR, "DCLL negative distance: initial and floor [preset]."),
    ("dcll-patch", int, "DCLL patch size [16]."),
    ("repeat", int, "Dataset repetitions per epoch [enough for 200 batches]."),
    ("num-workers", int, "DataLoader workers per process [0 on CPU, up to 8 per GPU]."),
    ("seed", int, "Seed of every random choice of the run [0]."),
    ("init", str, "Start from this checkpoint (official .pth or project .safetensors) to fine-tune."),
    ("encoder-init", str, "ImageNet ConvNeXt-T checkpoint (mmcls or timm naming) for the encoder."),
    ("vgg16-weights", str, "VGG16 ImageNet weights (torchvision file or official RainMamba .pth)."),
    ("vgg19-weights", str, "VGG19 ImageNet weights (torchvision file or official RainMamba .pth)."),
    ("device", str, "auto, cpu, cuda or cuda:N [auto]."),
    ("amp", click.Choice(AMP_MODES), "Mixed precision [auto: bf16 or fp16 on GPU, off on CPU]."),
    ("clip-grad", float, "Clip the gradient norm to this value [off]."),
    ("max-bad-steps", int, "Stop as diverged after this many non-finite steps in a row, exporting nothing [20]."),
    ("checkpoint-every", int, "Iterations between checkpoints [5000]."),
    ("keep-last", int, "Checkpoints kept [3]."),
    ("log-every", int, "Iterations between log records [1]."),
    ("val-data", str, "Test set evaluated at the end (and every --val-every iterations)."),
    ("val-layout", str, "Layout of --val-data [same as --layout]."),
    ("val-every", int, "Iterations between validations [0: only at the end]."),
    ("threads", int, "CPU threads per process [torch's default]."),
]
_FLAGS: list[tuple[str, str]] = [
    ("augment", "Random flips and transpose [on]."),
    ("require-vgg", "Stop when VGG weights are missing instead of training without those losses."),
    ("tensorboard", "Log to TensorBoard when it is installed [on]."),
    ("progress", "Show a progress bar [on]."),
]


def _add_options(command):
    for name, kind, text in reversed(_OPTIONS):
        command = click.option(f"--{name}", type=kind, default=None, help=text)(command)
    for name, text in reversed(_FLAGS):
        command = click.option(f"--{name}/--no-{name}", default=None, help=text)(command)
    return command


def _fail(exc: Exception) -> click.ClickException:
    """One ``Error:`` line, the message as written (a message may start with a path, which keeps its case)."""
    return click.ClickException(str(exc).strip() or type(exc).__name__)


@click.command("train")
@click.option("--out", "-o", required=True, type=click.Path(file_okay=False), help="Run folder (checkpoints, logs, "
              "the exported model.safetensors).")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="TOML, JSON or YAML file of settings.")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its latest checkpoint.")
@_add_options
def train_command(out: str, config_file: str | None, resume: bool, **options: Any) -> None:
    """Train RainMamba: the authors' recipe for a preset by default, every value overridable.

    \b
    Examples:
      rainmamba train --preset vrds --data /data/VRDS --layout vrds --out runs/vrds
      rainmamba train --init VRDS.pth --data my_pairs --out runs/mine --iterations 20000 --lr 1e-4
      rainmamba train --out runs/vrds --resume
    """
    from .config import build_config
    from .trainer import Trainer, TrainingDiverged, prepare_config

    overrides = {k: v for k, v in options.items() if v is not None}
    try:
        if resume:
            config, state = prepare_config(TrainConfig(out=out), True, config_file, overrides)
        else:
            config, state = prepare_config(build_config(config_file, {**overrides, "out": out}), False)
        result = Trainer(config, resume_state=state).run()
    except (ValueError, OSError, TrainingDiverged) as exc:  # OSError: a WriteError naming the file and cause
        raise _fail(exc) from None
    finally:
        from .distributed import cleanup_distributed
        cleanup_distributed()
    if result.export is not None:
        click.echo(f"Trained {result.iterations} iterations; weights: {result.export}")


@click.command("evaluate")
@click.option("--model", "-m", default="default", show_default=True,
              help="Checkpoint path, installed preset name, or 'default'.")
@click.option("--data", required=True, type=click.Path(exists=True, file_okay=False), help="Test set root.")
@click.option("--layout", default="generic", show_default=True,
              help="vrds, lwdds, rainvidss, rainsynall100, nturain, generic or videos.")
@click.option("--split", default="test", show_default=True, help="Which split of the layout.")
@click.option("--rainy-dir", help="Override the rainy folder name of the layout.")
@click.option("--clean-dir", help="Override the clean folder name of the layout.")
@click.option("--mode", type=click.Choice(["official", "fast"]), default="official", show_default=True,
              help="official: the authors' overlapping windows; fast: each frame computed once.")
@click.option("--device", default=None, help="cpu, cuda or cuda:N [GPU when available].")
@click.option("--dtype", type=click.Choice(["float32", "float16", "bfloat16"]), default=None,
              help="Inference precision [float32].")
@click.option("--batch-size", type=int, default=1, show_default=True, help="Tiles per forward call.")
@click.option("--tile", type=int, default=None, help="Spatial tile size [the engine's choice: see models.Derainer's tile].")
@click.option("--lpips/--no-lpips", default=None, help="Require / skip LPIPS [computed when available].")
@click.option("--save-frames", type=click.Path(file_okay=False), help="Write the derained frames here as PNG.")
@click.option("--report", type=click.Path(dir_okay=False), default="evaluation.json", show_default=True,
              help="Where to write the JSON report.")
@click.option("--progress/--no-progress", default=True, help="Show a progress bar.")
def evaluate_command(model: str, data: str, layout: str, split: str, rainy_dir: str | None, clean_dir: str | None,
                     mode: str, device: str | None, dtype: str | None, batch_size: int, tile: int | None,
                     lpips: bool | None, save_frames: str | None, report: str, progress: bool) -> None:
    """Score a model on a test set: PSNR/SSIM on RGB and Y, per video and overall, with the paper's averaging."""
    from models.options import CLI, EngineOptions

    from .evaluate import evaluate, format_summary, write_report

    try:  # the settings checked in this command's words before any weights load; no --device: a GPU if any
        EngineOptions.parse(mode=mode, tile=tile, device=device, dtype=dtype, batch_size=batch_size, spelling=CLI)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    from models.atomic import check_writable

    try:
        check_writable(report)  # a report that cannot be written should not cost a whole evaluation first
        result = evaluate(model, data, layout, split, mode=mode, device=device, dtype=dtype, batch_size=batch_size,
                          tile=tile, save_frames=save_frames, lpips=lpips, rainy_dir=rainy_dir,
                          clean_dir=clean_dir, progress=progress, info=lambda m: click.echo(m, err=True))
        path = write_report(result, report)
    except (ValueError, OSError) as exc:  # OSError: a WriteError naming the file and the cause
        raise _fail(exc) from None
    click.echo(format_summary(result))
    click.echo(f"Report: {path}")


if __name__ == "__main__":  # torchrun -m training.cli_train ...
    train_command(prog_name="rainmamba train")
