"""docs/ARCHITECTURE.md names real files: every path it cites exists in the repository."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_file_the_map_names_exists():
    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    cited = set(re.findall(r"`([\w./-]+\.(?:py|c|toml|md))`", text))
    assert len(cited) > 40  # the map names its files
    missing = sorted(path for path in cited if not (ROOT / path).is_file())
    assert not missing, f"docs/ARCHITECTURE.md names files that do not exist: {missing}"


def test_every_package_module_is_on_the_map():
    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    modules = [p.relative_to(ROOT).as_posix() for package in ("models", "vsrainmamba", "opencv_filter", "training")
               for p in (ROOT / package).rglob("*.py") if p.name != "__init__.py"]
    unmapped = [m for m in modules if f"`{m}`" not in text]
    assert not unmapped, f"modules docs/ARCHITECTURE.md does not place: {unmapped}"
