"""``rainmamba models download``: fetch the authors' checkpoints from Google Drive and install them.

The four files are the ones the authors' README links to (:data:`DOWNLOADS`). A download goes to
``<model dir>/<file>.partial`` and resumes from there with an HTTP ``Range`` request, both after a dropped
connection (a few times per run) and when the command is run again. Once complete, the file is moved into a
private folder beside it under its own name and handed to :func:`models.registry.import_official`, which
loads it strictly against the preset before it writes ``<preset>.safetensors`` (atomically). A file that
fails that check is deleted and nothing is installed.

Google Drive answers a large file with an HTML page instead of the bytes: a "can't scan this file for
viruses" page whose form (action and hidden inputs) leads to the file, which is followed; or a sign-in,
request-access or quota page, which no script can get past: those stop with one line telling the user to
download in a browser and run ``rainmamba models import``. ``$RAINMAMBA_DOWNLOAD_URL`` replaces the Drive
address (tests point it at a local server).
"""
from __future__ import annotations

import http.client
import http.cookiejar
import os
import re
import shutil
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

from .checkpoint import CheckpointError
from .presets import PRESETS, WeightSource
from .registry import import_official, model_dir

__all__ = ["BASE_URL", "BASE_URL_ENV", "DOWNLOADS", "DownloadError", "download"]

BASE_URL = "https://drive.google.com/uc"
BASE_URL_ENV = "RAINMAMBA_DOWNLOAD_URL"
RETRIES = 3                 # resumed attempts after a dropped connection, per run
CHUNK = 1 << 16
MAX_PAGE = 1 << 20          # an HTML answer longer than this is not a Drive interstitial


# Every preset whose weights the authors publish on Google Drive (`models.presets`, `WeightSource`).
DOWNLOADS: dict[str, WeightSource] = {name: p.weights for name, p in PRESETS.items()
                                      if p.weights is not None and p.weights.drive_id}


class DownloadError(RuntimeError):
    """A download that cannot go on; the message is one line saying what to do."""


def _browser_hint(preset: str, entry: WeightSource, why: str) -> DownloadError:
    """``why`` followed by the way round it: a browser download and ``rainmamba models import``."""
    joint = " " if why.endswith(" or") else ": "
    return DownloadError(f"{why}{joint}download {entry.file} in a browser from {entry.view_url}, then run "
                         f"`rainmamba models import {entry.file} --preset {preset}`.")


# ------------------------------------------------------------------------------------------ Drive's pages
class _PageParser(HTMLParser):
    """Collects each form's action and hidden inputs, the links, and the title of an HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[str, dict[str, str]]] = []
        self.links: list[str] = []
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append((values.get("action", ""), {}))
        elif tag == "input" and self.forms and values.get("type", "").lower() == "hidden" and values.get("name"):
            self.forms[-1][1][values["name"]] = values.get("value", "")
        elif tag == "a" and values.get("href"):
            self.links.append(values["href"])
        elif tag == "title":
            self._in_title = True

    def handle_endtag(self, tag: str) -> None:
        self._in_title = self._in_title and tag != "title"

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data


def confirm_url(page: str, page_url: str) -> str | None:
    """The URL the virus-scan confirmation page leads to (its form, or an old-style ``confirm=`` link)."""
    parser = _PageParser()
    parser.feed(page)
    for action, hidden in parser.forms:
        if "confirm" in hidden or "uuid" in hidden:
            target = urllib.parse.urljoin(page_url, action or page_url)
            query = urllib.parse.urlencode(hidden)
            return f"{target}{'&' if '?' in target else '?'}{query}"
    for href in parser.links:
        if "confirm=" in href and "export=download" in href:
            return urllib.parse.urljoin(page_url, href.replace("&amp;", "&"))
    return None


def page_problem(page: str) -> str:
    """Why an HTML page that is neither the file nor a confirmation stands in the way, in a few words."""
    text = re.sub(r"\s+", " ", page)
    if re.search(r"you need access|request access|ask for access", text, re.I):
        return "Google Drive asks for access to this file"
    if re.search(r"accounts\.google\.com|sign[ -]?in", text, re.I):
        return "Google Drive asks to sign in"
    if re.search(r"too many users|quota", text, re.I):
        return "Google Drive's download quota for this file is used up for now"
    return "Google Drive answered with a web page instead of the file"


# ------------------------------------------------------------------------------------------ the transfer
def _open(opener: urllib.request.OpenerDirector, url: str, offset: int) -> http.client.HTTPResponse:
    request = urllib.request.Request(url, headers={"User-Agent": "rainmamba-download"})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        return opener.open(request, timeout=60)
    except urllib.error.HTTPError as err:
        if err.code == 416 or "html" in err.headers.get("Content-Type", ""):
            return err      # an answer to look at, not a failure yet
        raise


def _total(response: http.client.HTTPResponse, offset: int) -> int | None:
    match = re.match(r"bytes \d+-\d+/(\d+)", response.headers.get("Content-Range", ""))
    if match:
        return int(match.group(1))
    length = response.headers.get("Content-Length")
    return offset + int(length) if length and length.isdigit() else None


def _resume_offset(response: http.client.HTTPResponse, partial: Path, offset: int) -> int:
    """Where the bytes of ``response`` start: ``offset`` for a 206 answer from there, else 0 (start over)."""
    if offset and response.status == 206:
        match = re.match(r"bytes (\d+)-", response.headers.get("Content-Range", ""))
        if match and int(match.group(1)) == offset:
            return offset
    partial.write_bytes(b"")
    return 0


def _fetch(preset: str, entry: WeightSource, partial: Path, base_url: str,
           bar_factory: Callable[..., object] | None) -> None:
    """Complete ``partial`` with the bytes of ``entry``, following Drive's confirmation page."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    query = urllib.parse.urlencode({"id": entry.drive_id, "export": "download"})
    url = f"{base_url}{'&' if '?' in base_url else '?'}{query}"
    failures, pages = 0, 0
    while True:
        offset = partial.stat().st_size if partial.exists() else 0
        try:
            response = _open(opener, url, offset)
        except (urllib.error.URLError, OSError) as err:
            reason = getattr(err, "reason", err)
            raise _browser_hint(preset, entry, f"Cannot download {entry.file} from {url.split('?')[0]} "
                                               f"({reason}): check the network and run the command again, or") from None
        with response:
            if response.status == 416:          # nothing after offset: whole already, or the file changed
                if response.headers.get("Content-Range", "") == f"bytes */{offset}":
                    return
                partial.write_bytes(b"")
                continue
            if "text/html" in response.headers.get("Content-Type", ""):
                page = response.read(MAX_PAGE).decode("utf-8", "replace")
                pages += 1
                next_url = confirm_url(page, response.geturl())
                if next_url is None or pages > 3:
                    raise _browser_hint(preset, entry, page_problem(page))
                url = next_url
                continue
            if response.status >= 400:
                raise _browser_hint(preset, entry, f"Google Drive refused {entry.file} (HTTP "
                                                   f"{response.status}): run the command again later, or")
            start = _resume_offset(response, partial, offset)
            total = _total(response, start)
            try:
                _stream(response, partial, start, total, entry.file, bar_factory)
                return
            except (http.client.HTTPException, ConnectionError, TimeoutError) as err:
                failures += 1
                if failures > RETRIES:
                    done = partial.stat().st_size
                    raise DownloadError(
                        f"The download of {entry.file} stopped at {done / 2**20:.1f} of "
                        f"{(total or 0) / 2**20:.1f} MiB ({type(err).__name__}): run the same command again to "
                        f"resume from the partial file {partial}.") from None


def _stream(response: http.client.HTTPResponse, partial: Path, start: int, total: int | None, name: str,
            bar_factory: Callable[..., object] | None) -> None:
    """Append the response body to ``partial``; raise ``IncompleteRead`` when it ends before ``total``."""
    done = start
    bar = bar_factory(total=total, initial=start, unit="B", unit_scale=True, unit_divisor=1024,
                      desc=name) if bar_factory else None
    try:
        with open(partial, "ab") as out:
            while chunk := response.read(CHUNK):
                out.write(chunk)
                done += len(chunk)
                if bar is not None:
                    bar.update(len(chunk))
            out.flush()
            os.fsync(out.fileno())
    finally:
        if bar is not None:
            bar.close()
    if total is not None and done < total:
        raise http.client.IncompleteRead(b"", total - done)


# ------------------------------------------------------------------------------------------ install
def download(preset: str, *, base_url: str | None = None, progress: bool = True) -> Path:
    """Download the authors' checkpoint for ``preset``, check it loads strictly, install it; return its path.

    ``base_url`` (default ``$RAINMAMBA_DOWNLOAD_URL``, else Google Drive's ``uc`` endpoint) gets ``?id=...``.
    Raises :class:`DownloadError` (one line) when the file cannot be fetched or is not a valid checkpoint;
    a partial download is kept for the next run, a complete but invalid one is deleted.
    """
    if preset not in DOWNLOADS:
        raise DownloadError(f"No download for preset {preset!r}: choose one of {', '.join(DOWNLOADS)}.")
    entry = DOWNLOADS[preset]
    folder = model_dir()
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f"{entry.file}.partial"
    bar_factory = None
    if progress:
        from tqdm import tqdm
        bar_factory = tqdm
    try:
        _fetch(preset, entry, partial, base_url or os.environ.get(BASE_URL_ENV) or BASE_URL, bar_factory)
        return _install(preset, entry, partial, folder)
    except OSError as err:              # the disk, not the network: those are DownloadErrors already
        raise DownloadError(f"Cannot write {entry.file} into {folder} ({err.strerror or err}): free some "
                            f"space or point $RAINMAMBA_HOME at another folder, then run the command again.") from None


def _install(preset: str, entry: WeightSource, partial: Path, folder: Path) -> Path:
    """Move the complete download aside under its own name, convert and install it, and delete it."""
    staging = Path(tempfile.mkdtemp(prefix=".download-", dir=folder))
    try:
        complete = staging / entry.file
        os.replace(partial, complete)
        try:
            return import_official(complete, preset)
        except (CheckpointError, ValueError) as err:
            reason = " ".join(str(err).replace(str(complete), entry.file).split())[:240]
            raise _browser_hint(preset, entry, f"The downloaded {entry.file} is not a valid '{preset}' "
                                               f"checkpoint, so nothing was installed and the file was deleted "
                                               f"({reason.rstrip('.')}); try again, or") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
