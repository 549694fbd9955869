"""``rainmamba models list / info / import`` through click, as a user runs them."""
from __future__ import annotations

from click.testing import CliRunner

import models
from models.cli import main
from tests.conftest import write_official_checkpoint


def test_models_help_teaches_the_import_command():
    result = CliRunner().invoke(main, ["models", "--help"])
    assert result.exit_code == 0 and "rainmamba models import VRDS.pth --preset vrds" in result.output


def test_list_import_info_round_trip(tmp_path, model_home):
    runner = CliRunner()
    listed = runner.invoke(main, ["models", "list"])
    assert listed.exit_code == 0
    assert "not installed: rainmamba models import RainSynAll100.pth --preset rainsynall100" in listed.output
    assert "tiny" in listed.output
    rows = {line.split()[0]: line for line in listed.output.splitlines()[4:] if line.strip()}
    default = models.resolve_model(None).preset.name
    assert f"(preset {default})" in listed.output and "the default model" in rows[default]
    assert "the default model" not in rows["tiny"]

    path = tmp_path / "RainSynAll100.pth"
    write_official_checkpoint(path, "rainsynall100")
    info = runner.invoke(main, ["models", "info", str(path)])
    assert info.exit_code == 0, info.output
    assert "format:      mmcv" in info.output and "rainsynall100" in info.output and "loads strictly" in info.output

    imported = runner.invoke(main, ["models", "import", str(path)])
    assert imported.exit_code == 0, imported.output
    assert (model_home / "rainsynall100.safetensors").is_file()
    assert str(model_home / "rainsynall100.safetensors") in runner.invoke(main, ["models", "list"]).output
    assert models.resolve_model("rainsynall100").preset.name == "rainsynall100"


def test_import_of_a_bad_file_is_one_clear_line(tmp_path, model_home):
    bad = tmp_path / "VRDS.pth"
    bad.write_bytes(b"not a checkpoint at all")
    result = CliRunner().invoke(main, ["models", "import", str(bad), "--preset", "vrds"])
    assert result.exit_code == 1
    assert "Error: Cannot read checkpoint" in result.output and "Traceback" not in result.output
    assert not model_home.exists() or not list(model_home.iterdir())
