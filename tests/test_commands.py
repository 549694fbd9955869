"""The ``rainmamba`` subcommands: registered as entry points in pyproject.toml, loaded lazily, each alone."""
from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from importlib.metadata import EntryPoint
from pathlib import Path

import click
from click.testing import CliRunner

from models import cli, entry_points

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("models", "opencv_filter", "training", "vsrainmamba")


def _declared() -> dict[str, str]:
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["project"]["entry-points"][cli.GROUP]


def _top_level_commands() -> set[str]:
    """"module:function" of every module-level function decorated with @click.command/@click.group."""
    found = set()
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            for node in ast.parse(path.read_text()).body:
                if isinstance(node, ast.FunctionDef) and any(
                        isinstance(d, ast.Call) and isinstance(d.func, ast.Attribute) and d.func.attr in
                        ("command", "group") and isinstance(d.func.value, ast.Name) and d.func.value.id == "click"
                        for d in node.decorator_list):
                    found.add(f"{module}:{node.name}")
    return found - {"models.cli:main"}  # the `rainmamba` group itself is the console script


def test_every_click_command_in_the_packages_is_registered_in_pyproject():
    assert set(_declared().values()) == _top_level_commands()


def test_each_entry_point_names_its_command_by_the_name_it_is_registered_under():
    for name, target in _declared().items():
        module, _, attr = target.partition(":")
        command = getattr(__import__(module, fromlist=[attr]), attr)
        assert isinstance(command, click.Command) and command.name == name, target


def test_models_names_no_package_above_it():
    upper = ("opencv_filter", "training", "vsrainmamba")
    for path in (ROOT / "models").rglob("*.py"):
        tree = ast.parse(path.read_text())
        names = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module]
        names += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        names += [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
                  and any(c in n.value for c in ".:")]  # "package.module" or "module:attribute" strings
        assert not [n for n in names if n.split(".")[0].split(":")[0] in upper], path


def test_help_lists_every_registered_command():
    result = CliRunner().invoke(cli.main, ["--help"])
    assert result.exit_code == 0, result.output
    listed = result.output.split("Commands:")[1].split()
    assert set(_declared()) <= set(listed)
    assert "Unavailable" not in result.output


def test_installed_entry_points_are_read_from_metadata(monkeypatch):
    import importlib.metadata

    fake = [EntryPoint("models", "models.cli_models:models_group", cli.GROUP)]
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group: fake if group == cli.GROUP else [])
    assert entry_points.installed(cli.GROUP) == {"models": "models.cli_models:models_group"}


def test_a_command_whose_package_does_not_import_breaks_only_itself(monkeypatch):
    declared = dict(_declared(), broken="no_such_package_anywhere.cli:command")
    monkeypatch.setattr(cli, "declared_commands", lambda: declared)
    runner = CliRunner()
    result = runner.invoke(cli.main, ["--help"])
    assert result.exit_code == 0 and "broken" in result.output and "Unavailable" in result.output

    result = runner.invoke(cli.main, ["broken", "some", "--args"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "rainmamba broken" in lines[0] and "no_such_package_anywhere" in lines[0]

    assert runner.invoke(cli.main, ["models", "--help"]).exit_code == 0


def test_a_command_imports_only_its_own_package():
    code = ("import sys; from models.cli import main\n"
            "try: main(['models', '--help'])\nexcept SystemExit: pass\n"
            "print(sorted(p for p in ('opencv_filter', 'training', 'vsrainmamba') if p in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_a_foreign_pyproject_is_ignored(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "other"\n[project.scripts]\nrainmamba = "x:y"\n'
                                             f'[project.entry-points."{cli.GROUP}"]\nx = "a:b"\n')
    assert entry_points.from_pyproject(tmp_path / "pyproject.toml", cli.GROUP) is None


def test_the_repository_stands_alone():
    """No code or test reads the shared folder beside the checkout, and every document the code cites is here."""
    import re

    cited = set()
    for package in (*PACKAGES, "tests", "benchmarks"):
        for path in (ROOT / package).rglob("*.py"):
            if path == Path(__file__).resolve():
                continue
            text = path.read_text()
            assert not re.search(r'\.\./shared|/\s*"shared"|SPEC\.md', text), path
            cited |= set(re.findall(r"docs/[A-Za-z_]+\.md", text))
            for section in re.findall(r'docs/NETWORK\.md, "([^"]+)"', text):
                headings = re.findall(r"^#+ (.+)$", (ROOT / "docs" / "NETWORK.md").read_text(), re.M)
                assert section in headings, (path, section)
    assert cited and all((ROOT / doc).is_file() for doc in cited), cited
