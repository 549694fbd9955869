"""The ``rainmamba`` console command: one click group whose subcommands the packages register themselves.

Each package declares its commands as entry points in the ``rainmamba.commands`` group of
``pyproject.toml`` (read by `models/entry_points.py`), so this module names no package above ``models``.
A command's module is imported only when that command is needed, and a module that fails to import
breaks only its own command, with a one-line message.
"""
from __future__ import annotations

import click

from . import entry_points, memory

GROUP = "rainmamba.commands"


def declared_commands() -> dict[str, str]:
    """The subcommands of ``rainmamba``: name -> "module:attribute"."""
    return entry_points.declared(GROUP)


def _unavailable(name: str, target: str, error: Exception) -> click.Command:
    """A stand-in for a command whose module does not import: says why in one line and exits 1."""
    reason = f"{type(error).__name__}: {error}".splitlines()[0]

    @click.command(name, help=f"Unavailable: {reason}", add_help_option=False,
                   context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
    def command() -> None:
        raise click.ClickException(f"`rainmamba {name}` is unavailable: importing {target} failed ({reason}). "
                                   "Install its dependencies, or reinstall this package.")

    return command


class PluginGroup(click.Group):
    """A click group whose subcommands come from entry points and are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(declared_commands())

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = declared_commands().get(name)
        if target is None:
            return None
        try:
            command = entry_points.load(target)
        except Exception as error:  # noqa: BLE001  (any failure of one package must leave the others usable)
            return _unavailable(name, target, error)
        return command


@click.group(cls=PluginGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="vsrainmamba")  # the distribution's name, not a package
def main() -> None:
    """RainMamba video deraining: derain videos, manage weights, train your own.

    \b
    Typical use:
      rainmamba derain rainy.mp4 clean.mp4           # derain a video with the shipped model
      rainmamba models import VRDS.pth --preset vrds  # install the authors' weights
      rainmamba derain rainy.mp4 clean.mp4 --model vrds
    """
    memory.keep_large_tensors_on_the_heap()   # this process is ours: whole-frame tensors reuse memory


if __name__ == "__main__":
    main()
