"""Keeping the input's audio: remux it into the derained video with the ``ffmpeg`` program.

OpenCV reads and writes pictures only, so the derained video is first written without sound; when
``ffmpeg`` is on the PATH its audio track is copied over from the input (cut to the derained frame
range), re-encoded only if the output container cannot hold it as is.
"""
from __future__ import annotations

import logging
import shutil
import subprocess
from pathlib import Path

from .video_io import staging_path

log = logging.getLogger("opencv_filter")

NO_FFMPEG = ("ffmpeg is not installed, so the audio track of video inputs is not kept "
             "(install ffmpeg to keep it, or pass --no-audio to silence this note).")


def ffmpeg_path() -> str | None:
    """The ``ffmpeg`` executable on the PATH, or None."""
    return shutil.which("ffmpeg")


def remux_audio(video: Path, source: Path, start_s: float = 0.0, duration_s: float | None = None) -> Path:
    """Return a new file holding ``video``'s picture and ``source``'s audio from ``start_s`` on.

    Without ffmpeg, or when the audio cannot be copied nor re-encoded for the container, logs why
    and returns ``video`` itself (the derained picture is never lost for the sake of the sound).
    """
    ffmpeg = ffmpeg_path()
    if ffmpeg is None:
        log.warning(NO_FFMPEG)
        return video
    out = staging_path(video)
    cut = ["-ss", f"{start_s:.6f}"] + ([] if duration_s is None else ["-t", f"{duration_s:.6f}"])
    base = [ffmpeg, "-nostdin", "-y", "-loglevel", "error", "-i", str(video), *cut, "-i", str(source),
            "-map", "0:v:0", "-map", "1:a?", "-c:v", "copy"]
    reason = ""
    for audio_codec in (["-c:a", "copy"], []):  # copy first; else the container's default audio codec
        result = subprocess.run([*base, *audio_codec, str(out)], capture_output=True, text=True)
        if result.returncode == 0 and out.is_file():
            return out
        reason = (result.stderr.strip().splitlines() or [f"exit status {result.returncode}"])[-1]
        out.unlink(missing_ok=True)
    log.warning("The audio of %s could not be kept (%s); the output has the derained picture only.", source, reason)
    return video
