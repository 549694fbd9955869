"""The ``rainmamba`` console command: one click group; each package contributes its subcommands.

Subcommands are imported only when invoked, so ``rainmamba --help`` stays fast and a package that
fails to import breaks only its own commands.
"""
from __future__ import annotations

import importlib

import click

# name -> "module:attribute" of a click command or group
SUBCOMMANDS: dict[str, str] = {
    "models": "models.cli_models:models_group",
    "derain": "opencv_filter.cli:derain_command",
    "synth": "training.cli_synth:synth_command",
    "train": "training.cli_train:train_command",
    "evaluate": "training.cli_train:evaluate_command",
    "bench": "models.bench:bench_command",
    "demo": "opencv_filter.demo:demo_command",
    "ship-eval": "training.ship:ship_eval_command",
}


class LazyGroup(click.Group):
    """A click group whose subcommands live in other modules and are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name for name in SUBCOMMANDS if self._spec_exists(name))

    @staticmethod
    def _spec_exists(name: str) -> bool:
        module = SUBCOMMANDS[name].split(":")[0]
        return importlib.util.find_spec(module) is not None

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in SUBCOMMANDS or not self._spec_exists(name):
            return None
        module_name, attr = SUBCOMMANDS[name].split(":")
        return getattr(importlib.import_module(module_name), attr)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="vsrainmamba")
def main() -> None:
    """RainMamba video deraining: derain videos, manage weights, train your own.

    \b
    Typical use:
      rainmamba derain rainy.mp4 clean.mp4           # derain a video with the shipped model
      rainmamba models import VRDS.pth --preset vrds  # install the authors' weights
      rainmamba derain rainy.mp4 clean.mp4 --model vrds
    """


if __name__ == "__main__":
    main()
