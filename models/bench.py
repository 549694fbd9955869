"""``rainmamba bench``: how fast the scan, one network window and the whole engine are on this machine.

Also runnable as ``python -m models.bench``. The measurements live in ``models.bench_measure``; other
packages add sections of their own (``--sections``, `models/bench_sections.py`); this module parses
options, prints the tables and writes JSON / Markdown.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
import torch

from . import bench_measure as bm
from . import bench_sections, backends, scan
from .atomic import WriteError, check_writable, write_atomic
from .options import CLI, parse_dtype, resolve_device
from .presets import PRESETS
from .sizes import parse_size

SCAN_SHAPE_VRDS = (20480, 256, 16)   # L = 5 x 64 x 64 tokens at H/4 of a 256 tile, d_inner = 2C, d_state
SCAN_SHAPE_TINY_TRAIN = (1280, 64, 16)  # L = 5 x 16 x 16 at H/4 of the tiny preset's 64 px training crop


def _split(value: str) -> list[str]:
    return [] if value.strip().lower() in ("", "none") else [v.strip() for v in value.split(",") if v.strip()]


def _authors_scan(choice: str, device: torch.device) -> str | None:
    if choice == "none":
        return None
    if choice == "auto":   # what the authors' code runs: mamba_ssm's kernel on a GPU; on a CPU, a per-step loop
        return "cuda" if device.type == "cuda" and backends.get("cuda").available() else "ref"
    return choice


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
    return "" if value is None else str(value)


TABLES = {
    "floor": ("Compute floor (conv + matmul FLOPs per pixel at the float32 matmul rate of this run)",
              ["preset", "device", "kflop_per_pixel", "matmul_gflop_per_s", "floor_frames_per_s_480p",
               "floor_frames_per_s_1080p"]),
    "scan": ("Scan alone", ["backend", "pass", "device", "dtype", "shape", "best_s", "speedup_vs_ref",
                            "max_rel_err_vs_ref", "first_call_s", "skipped"]),
    "window": ("One network window", ["preset", "variant", "scan", "device", "dtype", "window",
                                     "ms_per_window", "frames_per_s", "of_floor", "speedup_vs_authors", "peak_mem_mb",
                                     "extra_mem_mb"]),
    "engine": ("Whole engine, streamed synthetic clip", ["preset", "variant", "mode", "device", "dtype", "size", "tile",
                                                        "frames", "frames_per_s", "of_floor", "ms_per_window",
                                                        "speedup_vs_authors",
                                                        "tile_forwards", "estimated", "peak_mem_mb",
                                                        "extra_mem_mb"]),
    "profile_summary": ("Profile: the engine", ["preset", "mode", "size", "frames", "tile", "tiles_per_window",
                                                "tile_forwards", "computed_per_output_pixel", "frames_per_s",
                                                "of_floor"]),
    "profile": ("Profile: exclusive time per stage", ["size", "stage", "calls", "ms_per_frame", "share"]),
    "ops": ("Profile: heaviest PyTorch operators (one more window, torch.profiler)",
            ["size", "op", "calls", "self_ms_per_frame", "share"]),
}


def render(rows: list[dict[str, Any]], markdown: bool = False,
           extra: dict[str, bench_sections.BenchSection] | None = None) -> str:
    """The results as one table per section (the built-in ones, then ``extra``), plain text or Markdown."""
    out = []
    tables = dict(TABLES, **{name: (section.title, section.columns) for name, section in (extra or {}).items()})
    for section, (title, columns) in tables.items():
        part = [r for r in rows if r.get("section") == section]
        if not part:
            continue
        columns = [c for c in columns if any(c in r for r in part)]
        cells = [[_fmt(r.get(c)) for c in columns] for r in part]
        if markdown:
            out += [f"### {title}", "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
            out += ["| " + " | ".join(row) + " |" for row in cells]
        else:
            widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
            out += [title, "  ".join(c.ljust(w) for c, w in zip(columns, widths))]
            out += ["  ".join(v.ljust(w) for v, w in zip(row, widths)) for row in cells]
        out.append("")
    return "\n".join(out)


@click.command("bench", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--device", default="auto", show_default=True,
              help="cpu, cuda, cuda:N, or auto (cuda when a GPU is visible).")
@click.option("--dtype", "dtypes", default="float32", show_default=True,
              help="Comma list of float32, float16, bfloat16 for the windows and the engine "
                   "(run under autocast; float16 only on a GPU for the engine, bfloat16 anywhere).")
@click.option("--scan/--no-scan", "do_scan", default=True, show_default=True,
              help="Time the scan alone at the vrds shapes (B=1, L=5x64x64, d_inner=256, d_state=16).")
@click.option("--scan-backends", default="all", show_default=True,
              help="Comma list of scan backends to time (ref, torch, numba, triton, cuda) or 'all' usable here.")
@click.option("--scan-length", type=int, default=SCAN_SHAPE_VRDS[0], show_default=True,
              help="Sequence length L of the scan timing (smaller = quicker run).")
@click.option("--scan-grad/--no-scan-grad", default=False, show_default=True,
              help="Also time a training step of the scan (forward + backward) at the tiny preset's training "
                   "shapes (B=4, L=5x16x16, d_inner=64): the per-step loop against the chunked PyTorch scan.")
@click.option("--presets", default="tiny", show_default=True,
              help="Comma list of networks to time: shipped (the default model, trained weights) or a preset "
                   f"({', '.join(PRESETS)}; random weights), or 'none'.")
@click.option("--windows/--no-windows", "do_windows", default=True, show_default=True,
              help="Time one window of each preset (ours vs the authors' forward).")
@click.option("--sizes", default="240p", show_default=True,
              help="Comma list of clip sizes for the whole engine (480p, 720p, 1080p or HxW), or 'none'.")
@click.option("--frames", default="5", show_default=True,
              help="Comma list of clip lengths for the engine; several show whether peak memory grows with length.")
@click.option("--engine/--no-engine", "do_engine", default=True, show_default=True,
              help="Time the whole engine on each of --sizes (the engine section).")
@click.option("--sections", "extra_sections", default="none", show_default=True,
              help="Comma list of sections other packages add (io: decoding and encoding a video file next to "
                   "the engine, for each of --presets and --sizes at the first of --frames), or 'none'.")
@click.option("--mode", type=click.Choice(["fast", "official"]), default="fast", show_default=True,
              help="Engine mode timed as 'ours'.")
@click.option("--batch-size", type=int, default=1, show_default=True, help="Window tiles per engine forward call.")
@click.option("--authors-scan", type=click.Choice(["auto", "ref", "torch", "cuda", "none"]), default="auto",
              show_default=True,
              help="Scan of the authors' baseline: auto = per-step loop on CPU, mamba_ssm's kernel on a GPU "
                   "when installed; none = skip the baseline.")
@click.option("--authors-engine", is_flag=True,
              help="Really run the authors' protocol on the clip (official mode, authors' scan). Slow on a CPU: "
                   "by default it is estimated from the measured authors' window time.")
@click.option("--profile", is_flag=True,
              help="Instead of timing, profile the engine on each of --sizes (CPU): exclusive time per stage "
                   "(frame conversion, tiles, blending, each kind of network layer) and the heaviest operators.")
@click.option("--tile", type=int, default=None,
              help="Engine tile side for the engine and profile runs (0 = whole frame; default: the engine's choice, "
                   "see models.Derainer's tile).")
@click.option("--repeat", type=int, default=3, show_default=True, help="Timed runs per measurement (best is reported).")
@click.option("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice).")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write machine info, settings and every row to this JSON file.")
@click.option("--markdown", "markdown_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the tables as Markdown (for a README) to this file.")
def bench_command(device: str, dtypes: str, do_scan: bool, scan_backends: str, scan_length: int, scan_grad: bool,
                  presets: str, do_windows: bool, sizes: str, frames: str, do_engine: bool, extra_sections: str,
                  mode: str, batch_size: int,
                  authors_scan: str, authors_engine: bool, profile: bool, tile: int | None, repeat: int, threads: int | None,
                  json_path: Path | None, markdown_path: Path | None) -> None:
    """Time the scan backends, one window per preset and the whole engine; compare with the baselines.

    \b
    Three sections, each optional, and the ones other packages add (asked for with --sections):
      scan    the selective scan alone at the vrds shapes: the per-step PyTorch loop (ref), the
              chunked PyTorch scan (torch), the compiled CPU kernel (numba), the Triton GPU kernel
              (triton), mamba_ssm (cuda); speed-up and max error against the per-step loop.
      window  one (T, tile) forward of each --presets network with our scan, and the same network
              with the authors' scan (per-step loop on CPU): time per window, frames/s, peak memory.
      engine  models.Derainer streaming a synthetic clip of --frames at each of --sizes: frames/s,
              peak memory, and the ratio to the authors' protocol (official mode, authors' scan;
              estimated from the window timing unless --authors-engine).
      io      (from the OpenCV wrapper) a synthetic x264 video file of the first of --frames at
              each of --sizes, decoded, derained by each --presets network and encoded at derain's
              defaults, one after the other: ms per frame of each and decoding + encoding as a
              share of the engine's time.

    \b
    Examples:
      rainmamba bench                                   # about a minute on 2 cores: scan, tiny, 240p
      rainmamba bench --sizes 480p --frames 5,10        # tiny at 480p; does memory grow with length?
      rainmamba bench --presets vrds --sizes none       # vrds window vs the authors' forward (minutes)
      rainmamba bench --presets vrds --sizes none --dtype float32,bfloat16   # bfloat16 on a CPU
      rainmamba bench --device cuda --dtype float16,float32 --presets vrds --sizes 1080p
      rainmamba bench --no-scan --no-windows --sizes 1080p --frames 5,20 --authors-scan none
                                                        # does peak memory grow with clip length?
      rainmamba bench --presets none --json scan.json   # the scan alone
      rainmamba bench --profile --presets shipped --sizes 480p,1080p   # where the engine's time goes
      rainmamba bench --no-scan --no-windows --no-engine --presets shipped --sizes 480p --frames 10 \\
          --sections io                                 # what decoding and encoding take from the engine
    """
    if threads:
        torch.set_num_threads(threads)
    try:
        dev = resolve_device(device, spelling=CLI)
        dtype_list = [parse_dtype(d, CLI) for d in _split(dtypes)]
        frame_counts = [int(f) if f.isdigit() and int(f) > 0 else _bad(f"--frames takes positive integers, "
                                                                        f"got {f!r}.") for f in _split(frames)]
        size_list = _split(sizes)
        for size in size_list:
            parse_size(size, named=True)
        backends = scan.available_backends() if scan_backends == "all" else _split(scan_backends)
        for name in backends:
            if name not in scan.BACKENDS:
                _bad(f"Unknown scan backend {name!r}: use {', '.join(scan.BACKENDS)} or all.")
        extra = bench_sections.load(_split(extra_sections))
        if extra and not (_split(presets) and size_list and frame_counts):
            _bad(f"--sections {extra_sections} needs --presets, --sizes and --frames (e.g. --presets shipped "
                 "--sizes 480p --frames 10).")
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    try:  # an output that cannot be written should not cost the whole benchmark first
        for output in (json_path, markdown_path):
            if output is not None:
                check_writable(output)
    except WriteError as err:
        raise click.ClickException(str(err)) from None

    def log(message: str) -> None:
        click.echo(f"  {message}", err=True)

    machine = bm.machine_info(dev)
    click.echo(f"machine: {machine['cpu']} ({machine['cpu_cores']} cores, torch {machine['torch']}"
               + (f", GPU {machine['gpu']}" if "gpu" in machine else "") + ")")
    click.echo("scan backends: " + ", ".join(f"{k}: {v}" for k, v in machine["scan_backends"].items()))
    authors = _authors_scan(authors_scan, dev)
    rows: list[dict[str, Any]] = []
    if do_scan and not profile:
        length, dim, n_state = scan_length, SCAN_SHAPE_VRDS[1], SCAN_SHAPE_VRDS[2]
        scan_dtype = dtype_list[0] if dtype_list else torch.float32
        rows += bm.bench_scan(dev, scan_dtype, length, dim, n_state, backends, repeat, log)
        if scan_grad:
            rows += bm.bench_scan(dev, scan_dtype, *SCAN_SHAPE_TINY_TRAIN, backends, repeat, log, batch=4, grad=True)
    preset_list = _split(presets)
    if profile and not (preset_list and size_list):
        raise click.UsageError("--profile needs --presets and --sizes (e.g. --presets shipped --sizes 480p).")
    engine_sizes = size_list if do_engine or profile else []
    if preset_list and (do_windows or engine_sizes):
        rows += _bench_network(preset_list, engine_sizes, frame_counts, dev, dtype_list, mode, batch_size, authors,
                               authors_engine, repeat, do_windows and not profile, log, profile, tile)
    if extra and not profile:
        request = bench_sections.BenchRequest(dev, preset_list, size_list, frame_counts,
                                              dtype_list[0] if dtype_list else torch.float32, mode, tile,
                                              torch.get_num_threads(), log)
        rows += bench_sections.run(extra, request)
    text = render(rows, extra=extra)
    click.echo("\n" + text)
    try:
        if json_path:
            settings = {"device": str(dev), "dtypes": dtypes, "presets": presets, "sizes": sizes,
                        "frames": frames, "engine": do_engine, "sections": extra_sections, "mode": mode,
                        "batch_size": batch_size, "tile": tile, "profile": profile, "authors_scan": authors,
                        "repeat": repeat, "argv": sys.argv[1:]}
            write_atomic(json_path, json.dumps({"machine": machine, "settings": settings, "results": rows},
                                               indent=2))
            click.echo(f"wrote {json_path}")
        if markdown_path:
            gpu = f", GPU {machine['gpu']}" if "gpu" in machine else ""
            header = f"Machine: {machine['cpu']}, {machine['cpu_cores']} cores{gpu}, torch {machine['torch']}.\n\n"
            write_atomic(markdown_path, header + render(rows, markdown=True, extra=extra))
            click.echo(f"wrote {markdown_path}")
    except WriteError as err:
        raise click.ClickException(str(err)) from None


def _bad(message: str):
    raise ValueError(message)


def _bench_network(presets: list[str], sizes: list[str], frame_counts: list[int], dev: torch.device,
                   dtypes: list[torch.dtype], mode: str, batch_size: int, authors: str | None,
                   authors_engine: bool, repeat: int, time_windows: bool, log, profile: bool = False,
                   tile: int | None = None) -> list[dict[str, Any]]:
    """Floor, window and engine rows (or profile rows) for each preset and dtype; the authors' window
    (float32) once per preset. Every timing also reads as a share of the floor measured here."""
    from . import bench_profile as bp

    rows: list[dict[str, Any]] = []
    rate = bp.matmul_rate(dev)
    for name in presets:
        try:
            net = bm.load_network(name).to(dev)
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None
        floor = bp.floor_row(net, dev, rate)
        floor["preset"] = name
        rows.append(floor)
        if profile:
            for dtype in dtypes:
                for size in sizes:
                    for count in frame_counts:
                        try:
                            rows += bp.profile_engine(net, size, count, dev, dtype, mode, batch_size,
                                                      floor["flop_per_pixel"], rate, log, tile=tile)
                        except ValueError as exc:
                            raise click.UsageError(str(exc)) from None
            continue
        authors_row = None
        for dtype in dtypes:
            if time_windows or (authors and not authors_engine):   # the estimate needs the authors' window
                ours_row = bm.bench_window(net, dev, dtype, repeat, None, log)   # also warms the network up
                window_rows = [ours_row]
                if authors and authors_row is None:
                    authors_row = bm.bench_window(net, dev, torch.float32, repeat, authors, log)
                    window_rows.append(authors_row)
                if authors_row is not None:
                    ours_row["speedup_vs_authors"] = authors_row["best_s"] / ours_row["best_s"]
                window = net.preset.protocol
                for row in window_rows:
                    row["of_floor"] = bp.of_floor(floor["flop_per_pixel"], rate,
                                                  window.frames * window.tile[0] * window.tile[1], row["best_s"])
                if time_windows:
                    rows += window_rows
            authors_tile_s = authors_row["best_s"] if authors_row is not None else None
            for size in sizes:
                for count in frame_counts:
                    try:
                        rows += bm.bench_engine(net, size, count, dev, dtype, mode, batch_size, authors,
                                                authors_tile_s, authors_engine, log, tile=tile, model=name,
                                                floor=floor)
                    except ValueError as exc:   # e.g. float16 asked for on a CPU
                        rows.append({"section": "engine", "preset": name, "dtype": str(dtype)[6:],
                                     "size": size, "frames": count, "variant": f"skipped: {exc}"})
    return rows


if __name__ == "__main__":
    from .memory import keep_large_tensors_on_the_heap

    keep_large_tensors_on_the_heap()   # as `rainmamba bench` does, so both measure the same process
    bench_command()
