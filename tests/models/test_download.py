"""``rainmamba models download`` against a local server that answers as Google Drive does (no network)."""
from __future__ import annotations

import re
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

import models
from models import download as dl
from models.presets import WeightSource
from models.cli import main

VIRUS_PAGE = """<!DOCTYPE html><html><head><title>Google Drive - Virus scan warning</title></head><body>
<p class="uc-warning-subcaption">Google Drive can't scan this file for viruses.</p>
<form id="download-form" action="{action}" method="get">
<input type="submit" id="uc-download-link" value="Download anyway"/>
<input type="hidden" name="id" value="{file_id}"><input type="hidden" name="export" value="download">
<input type="hidden" name="confirm" value="t"><input type="hidden" name="uuid" value="u-42"></form></body></html>"""
ACCESS_PAGE = """<html><head><title>Google Drive</title></head><body><h1>You need access</h1>
<p>Request access, or switch to an account with access.</p><form action="/request"><input type="hidden"
name="id" value="x"></form></body></html>"""
SIGNIN_PAGE = """<html><head><title>Sign in - Google Accounts</title></head><body>
<form action="https://accounts.google.com/v3/signin/identifier"><input type="email" name="identifier"></form>
</body></html>"""


class FakeDrive(ThreadingHTTPServer):
    """Serves ``files[id]`` (bytes) the way Drive does for the behaviour named by the id's prefix."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), DriveHandler)
        self.files: dict[str, bytes] = {}
        self.requests: list[tuple[str, str | None]] = []     # (path with query, Range header)
        self.dropped: set[str] = set()

    def handle_error(self, request, client_address) -> None:
        pass       # a client that hangs up mid-file is part of the tests, not an error to print

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/uc"


class DriveHandler(BaseHTTPRequestHandler):
    server: FakeDrive

    def log_message(self, *args) -> None:  # keep pytest's output clean
        pass

    def _html(self, page: str, status: int = 200) -> None:
        body = page.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _file(self, data: bytes, drop: bool = False) -> None:
        start = 0
        match = re.match(r"bytes=(\d+)-$", self.headers.get("Range") or "")
        if match and not self.path.startswith("/uc?id=norange"):
            start = int(match.group(1))
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        if drop:       # half the body, then the connection goes away
            self.wfile.write(data[start:start + (len(data) - start) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(data[start:])

    def do_GET(self) -> None:
        self.server.requests.append((self.path, self.headers.get("Range")))
        url = urllib.parse.urlparse(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        file_id = query.get("id", "")
        data = self.server.files.get(file_id, b"")
        if file_id.startswith("confirm") and url.path == "/uc":
            return self._html(VIRUS_PAGE.format(action="/download", file_id=file_id))
        if file_id.startswith("confirm"):
            if (query.get("confirm"), query.get("uuid")) != ("t", "u-42"):
                return self._html("<html>bad confirm</html>", 400)
            return self._file(data)
        if file_id.startswith("access"):
            return self._html(ACCESS_PAGE, 403)
        if file_id.startswith("signin"):
            return self._html(SIGNIN_PAGE)
        if file_id.startswith("drop") and file_id not in self.server.dropped:
            self.server.dropped.add(file_id)
            return self._file(data, drop=True)
        return self._file(data)


@pytest.fixture
def drive(monkeypatch, model_home):
    server = FakeDrive()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv(dl.BASE_URL_ENV, server.base)
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def tiny_pth(tmp_path_factory) -> bytes:
    """A tiny network saved in the authors' mmcv layout (``generator.`` prefix, meta, state_dict)."""
    torch.manual_seed(1)
    net = models.build("tiny")
    path = tmp_path_factory.mktemp("pth") / "Tiny.pth"
    torch.save({"meta": {"iter": 7}, "state_dict": {f"generator.{k}": v for k, v in net.state_dict().items()}}, path)
    return path.read_bytes()


def _serve(drive: FakeDrive, monkeypatch, file_id: str, data: bytes, preset: str = "tiny") -> WeightSource:
    entry = WeightSource("Tiny.pth", "https://example.invalid/", file_id)
    monkeypatch.setitem(dl.DOWNLOADS, preset, entry)
    drive.files[file_id] = data
    return entry


def _same_weights(path: Path, data: bytes, tmp_path: Path) -> bool:
    source = tmp_path / "source.pth"
    source.write_bytes(data)
    a, b = models.load(path).state_dict(), models.load(source, preset="tiny").state_dict()
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _message_lines(output: str) -> list[str]:
    """The output without the progress bar's lines (tqdm redraws them with carriage returns)."""
    return [line for line in re.split(r"[\r\n]+", output) if line.strip() and not line.startswith("Tiny.pth:")]


def test_the_table_holds_the_four_official_presets():
    assert set(dl.DOWNLOADS) == set(models.OFFICIAL_PRESETS)
    assert all(len(e.drive_id) == 33 and e.file.endswith(".pth") for e in dl.DOWNLOADS.values())


@pytest.mark.parametrize("file_id", ["direct-1", "confirm-1"])
def test_direct_file_and_virus_scan_page_are_installed(drive, monkeypatch, tiny_pth, model_home, tmp_path, file_id):
    _serve(drive, monkeypatch, file_id, tiny_pth)
    result = CliRunner().invoke(main, ["models", "download", "tiny"])
    assert result.exit_code == 0, result.output
    installed = model_home / "tiny.safetensors"
    assert f"installed 'tiny': {installed}" in result.output
    assert _same_weights(installed, tiny_pth, tmp_path)
    assert sorted(p.name for p in model_home.iterdir()) == ["tiny.safetensors"]    # no partial, no staging
    if file_id.startswith("confirm"):      # the confirm form was followed with its hidden inputs
        assert drive.requests[-1][0].startswith("/download?") and "uuid=u-42" in drive.requests[-1][0]


def test_dropped_connection_resumes_with_range(drive, monkeypatch, tiny_pth, model_home, tmp_path):
    _serve(drive, monkeypatch, "drop-1", tiny_pth)
    path = dl.download("tiny", progress=False)
    assert _same_weights(path, tiny_pth, tmp_path)
    (first, first_range), (_, second_range) = drive.requests
    assert first_range is None and second_range == f"bytes={len(tiny_pth) // 2}-"


def test_partial_file_from_an_earlier_run_is_resumed(drive, monkeypatch, tiny_pth, model_home, tmp_path):
    _serve(drive, monkeypatch, "direct-2", tiny_pth)
    model_home.mkdir(parents=True)
    (model_home / "Tiny.pth.partial").write_bytes(tiny_pth[:1000])
    path = dl.download("tiny", progress=False)
    assert drive.requests == [("/uc?id=direct-2&export=download", "bytes=1000-")]
    assert _same_weights(path, tiny_pth, tmp_path)


def test_a_whole_partial_file_is_installed_without_downloading_again(drive, monkeypatch, tiny_pth, model_home,
                                                                    tmp_path):
    _serve(drive, monkeypatch, "direct-5", tiny_pth)
    model_home.mkdir(parents=True)
    (model_home / "Tiny.pth.partial").write_bytes(tiny_pth)
    path = dl.download("tiny", progress=False)          # the server answers 416: nothing after the end
    assert drive.requests == [("/uc?id=direct-5&export=download", f"bytes={len(tiny_pth)}-")]
    assert _same_weights(path, tiny_pth, tmp_path)


def test_a_server_that_ignores_range_is_downloaded_from_the_start(drive, monkeypatch, tiny_pth, model_home,
                                                                 tmp_path):
    _serve(drive, monkeypatch, "norange-1", tiny_pth)
    model_home.mkdir(parents=True)
    (model_home / "Tiny.pth.partial").write_bytes(b"stale bytes of another file")
    assert _same_weights(dl.download("tiny", progress=False), tiny_pth, tmp_path)


def test_a_download_that_keeps_failing_keeps_its_partial_file(drive, monkeypatch, tiny_pth, model_home):
    _serve(drive, monkeypatch, "drop-2", tiny_pth)
    monkeypatch.setattr(dl, "RETRIES", 0)
    result = CliRunner().invoke(main, ["models", "download", "tiny"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    lines = _message_lines(result.output)
    assert len(lines) == 1 and "run the same command again to resume" in lines[0]
    assert (model_home / "Tiny.pth.partial").stat().st_size == len(tiny_pth) // 2
    assert not (model_home / "tiny.safetensors").exists()
    monkeypatch.setattr(dl, "RETRIES", 3)
    assert CliRunner().invoke(main, ["models", "download", "tiny"]).exit_code == 0     # the next run resumes
    assert drive.requests[-1][1] == f"bytes={len(tiny_pth) // 2}-"


@pytest.mark.parametrize("file_id, words", [("signin-1", "asks to sign in"),
                                            ("access-1", "asks for access")])
def test_sign_in_and_request_access_pages_say_use_a_browser(drive, monkeypatch, tiny_pth, model_home, file_id,
                                                            words):
    entry = _serve(drive, monkeypatch, file_id, tiny_pth)
    result = CliRunner().invoke(main, ["models", "download", "tiny"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    lines = _message_lines(result.output)
    assert len(lines) == 1 and words in lines[0]
    assert entry.view_url in lines[0] and "rainmamba models import Tiny.pth --preset tiny" in lines[0]
    assert not (model_home / "tiny.safetensors").exists()


def test_a_file_that_fails_the_strict_load_installs_nothing(drive, monkeypatch, model_home):
    torch.manual_seed(0)
    state = models.build("tiny").state_dict()
    state.pop(next(iter(state)))                    # one tensor missing: strict loading refuses it
    broken = Path(model_home.parent / "broken.pth")
    torch.save({"state_dict": state}, broken)
    _serve(drive, monkeypatch, "direct-3", broken.read_bytes())
    result = CliRunner().invoke(main, ["models", "download", "tiny"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "not a valid 'tiny' checkpoint, so nothing was installed" in result.output
    assert list(model_home.iterdir()) == []         # no installed file, no partial, no staging folder


def test_installed_presets_are_skipped_unless_forced(drive, monkeypatch, tiny_pth, model_home):
    _serve(drive, monkeypatch, "direct-4", tiny_pth)
    assert CliRunner().invoke(main, ["models", "download", "tiny"]).exit_code == 0
    again = CliRunner().invoke(main, ["models", "download", "tiny"])
    assert again.exit_code == 0 and "already installed" in again.output and len(drive.requests) == 1
    assert CliRunner().invoke(main, ["models", "download", "tiny", "--force"]).exit_code == 0
    assert len(drive.requests) == 2


@pytest.mark.parametrize("args, words", [([], "or pass --all"), (["vrds", "--all"], "not both"),
                                         (["nosuch"], "nosuch has no published weights")])
def test_bad_arguments_are_one_clear_line(args, words, model_home):
    result = CliRunner().invoke(main, ["models", "download", *args])
    assert result.exit_code == 2 and words in result.output and "Traceback" not in result.output


def test_unreachable_server_is_one_line(monkeypatch, model_home):
    monkeypatch.setenv(dl.BASE_URL_ENV, "http://127.0.0.1:9/uc")      # the discard port: nothing listens
    result = CliRunner().invoke(main, ["models", "download", "rainsynall100"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "Cannot download RainSynAll100.pth" in result.output and "--preset rainsynall100" in result.output


def test_a_full_disk_is_one_line(drive, monkeypatch, tiny_pth, model_home):
    _serve(drive, monkeypatch, "direct-6", tiny_pth)

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(dl, "_stream", full)
    result = CliRunner().invoke(main, ["models", "download", "tiny"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "Cannot write Tiny.pth" in result.output and "No space left on device" in result.output
    assert not (model_home / "tiny.safetensors").exists()
