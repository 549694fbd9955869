"""The ``rainmamba`` console command: one click group whose subcommands the packages register themselves.

Each package declares its commands as entry points in the ``rainmamba.commands`` group of
``pyproject.toml`` (name = "module:attribute" of a click command), the plugin convention of pytest and
flask, so this module names no package above ``models``. A command's module is imported only when that
command is needed, and a module that fails to import breaks only its own command, with a one-line message.

An installed copy reads the entry points from its distribution's metadata. A source checkout (this
package beside the project's ``pyproject.toml``) reads that file instead, so running the checkout, for
example with ``PYTHONPATH``, sees its own commands even when the installed metadata is older.
"""
from __future__ import annotations

import functools
import importlib
from pathlib import Path

import click

GROUP = "rainmamba.commands"
CONSOLE_SCRIPT = ("rainmamba", "models.cli:main")
_CHECKOUT_PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def pyproject_commands(pyproject: Path) -> dict[str, str] | None:
    """name -> "module:attribute" declared in ``pyproject``; None when it is another project's file (one
    without this console script)."""
    import tomllib

    with open(pyproject, "rb") as f:
        project = tomllib.load(f).get("project", {})
    name, target = CONSOLE_SCRIPT
    if project.get("scripts", {}).get(name) != target:
        return None
    return dict(project.get("entry-points", {}).get(GROUP, {}))


def installed_commands() -> dict[str, str]:
    """name -> "module:attribute" from the entry points of the installed distributions."""
    from importlib.metadata import entry_points

    return {ep.name: ep.value for ep in entry_points(group=GROUP)}


@functools.cache
def declared_commands() -> dict[str, str]:
    """The subcommands of ``rainmamba``: the checkout's pyproject.toml when running from one, else the
    installed entry points."""
    if _CHECKOUT_PYPROJECT.is_file():
        declared = pyproject_commands(_CHECKOUT_PYPROJECT)
        if declared is not None:
            return declared
    return installed_commands()


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
        module_name, _, attr = target.partition(":")
        try:
            command = getattr(importlib.import_module(module_name), attr)
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


if __name__ == "__main__":
    main()
