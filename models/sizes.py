"""Frame sizes as users type them on the command line: ``HEIGHTxWIDTH``, a named video size, or ``native``."""
from __future__ import annotations

import re

import click

NAMED_SIZES: dict[str, tuple[int, int]] = {
    "240p": (240, 426), "360p": (360, 640), "480p": (480, 854), "720p": (720, 1280), "1080p": (1080, 1920),
}


_HEIGHT_WIDTH = re.compile(r"(\d+)(?:\s*[x*,\s]\s*(\d+))?")


def split_size(text: str, single: bool = False) -> tuple[int, int] | None:
    """``"HxW"`` (also ``H*W``, ``H,W``; with ``single`` a lone ``N`` for NxN) -> (H, W), or None when
    ``text`` is not written so."""
    match = _HEIGHT_WIDTH.fullmatch(str(text).strip().lower())
    if not match or (match.group(2) is None and not single):
        return None
    return int(match.group(1)), int(match.group(2) or match.group(1))


def parse_size(text: str, named: bool = False, also: str = "") -> tuple[int, int]:
    """``"HxW"`` (and, with ``named``, ``"480p"``-style names) -> (H, W); a ValueError says how to write it
    (``also`` adds what else the caller accepts)."""
    key = str(text).strip().lower()
    if named and key in NAMED_SIZES:
        return NAMED_SIZES[key]
    size = split_size(key)
    if size is None or min(size) < 1:
        names = f"{', '.join(NAMED_SIZES)} or " if named else ""
        raise ValueError(f"{text!r} is not a frame size: write {names}HEIGHTxWIDTH, like 128x128{also}.")
    return size


class SizeParam(click.ParamType):
    """A click option value ``HxW``; with ``native=True`` also ``native`` (-> None: keep the source's size)."""

    name = "HxW"

    def __init__(self, native: bool = False) -> None:
        self.native = native

    def convert(self, value, param, ctx):
        if value is None or isinstance(value, tuple):
            return value
        if self.native and str(value).strip().lower() == "native":
            return None
        try:
            return parse_size(value, also=" (or 'native')" if self.native else "")
        except ValueError as err:
            self.fail(str(err), param, ctx)
