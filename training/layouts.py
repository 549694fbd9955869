"""Where the rainy/clean pairs of each dataset live on disk, and the up-front checks that they pair.

``find_pairs(root, layout, split)`` turns a dataset folder into a list of :class:`SequencePair`
(one per video: its rainy and clean frame files, or its two video files) after checking, before any
training starts, that every rainy sequence has a clean one with the same frame count and size. A
bad pairing is the quiet way to waste a 300k-iteration run (the authors' loader, given a rainy folder
with a trailing ``/``, silently reads the rainy frames as the targets and the model learns the
identity), so every problem found is reported at once, naming the paths involved.

Accepted layouts (``split`` is ``"train"`` or ``"test"``; ``"val"`` means ``"test"``):

==============  =====================================================================================
vrds            train ``ROOT/lq/<seq>/`` + ``ROOT/gt/<seq>/``; test ``ROOT/test/lq`` + ``ROOT/test/gt``
                (frames ``%08d.png`` from 0)
lwdds           train ``ROOT/rainy_vid/<seq>/`` + ``ROOT/clean_vid/<seq>/``; test
                ``ROOT/test/syn/rainy_vid`` + ``ROOT/test/syn/clean_vid`` (``%06d.png`` from 0)
rainvidss       train ``ROOT/train/rainy`` + ``ROOT/train/gt``; test ``ROOT/val/rainy`` + ``ROOT/val/gt``
                (``%04d.jpg`` from 0); ``seq_short_*`` is ImageNet-VID+, ``seq_long_*`` is Cam-Vid+
rainsynall100   train ``ROOT/Rain/<seq>/`` + ``ROOT/GT/<seq>/``; test ``ROOT/test/Rain`` + ``ROOT/test/GT``
                (``%d.jpg`` from 1)
nturain         no official loader exists; accepted: the SPAC release (``Dataset_Training_Synthetic/``
                and ``Dataset_Testing_Synthetic/``, each holding ``<scene>_GT/`` and one or more
                ``<scene>_Rain*/`` folders, every rainy folder paired with its scene's GT), or
                per-sequence folders ``[ROOT/<split>/]<seq>/<rainy>/`` + ``<seq>/<clean>/`` with
                ``<rainy>`` one of rainy, rain, lq, input and ``<clean>`` one of clean, gt, target
generic         ``ROOT/[<split>/]<rainy_dir>/<seq>/*.png|jpg`` + ``ROOT/[<split>/]<clean_dir>/<seq>/``
                (``rainy_dir="rainy"``, ``clean_dir="clean"``: what ``rainmamba synth`` writes)
videos          ``ROOT/[<split>/]<rainy_dir>/<name>.mp4`` + ``ROOT/[<split>/]<clean_dir>/<name>.mp4``
                (any container FFmpeg reads; paired by name without extension)
==============  =====================================================================================

For the official layouts a test split may also be given as the test folder itself (``ROOT`` =
``VRDS/test`` holding ``lq`` and ``gt``). ``rainy_dir``/``clean_dir`` override the folder names of
any layout. Frame files are sorted numerically (``2.jpg`` before ``10.jpg``) and paired by position.
"""
from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from opencv_filter.media import count_frames, image_size, is_video_file, list_frame_files, natural_key
_MAX_LISTED_PROBLEMS = 12


@dataclass(frozen=True)
class SequencePair:
    """One training/test video: its rainy and clean frames (or video files), checked to pair.

    ``rainy``/``clean`` are lists of frame paths in display order, or, for the ``videos`` layout, one
    video file path each. ``group`` names the subset a sequence is averaged in (RainVID&SS:
    ``"ImageNet-VID+"`` or ``"Cam-Vid+"``), else None. ``num_frames`` and ``size`` (H, W) come from the
    frame headers, or from decoding the videos.
    """

    name: str
    rainy: list[Path] | Path
    clean: list[Path] | Path
    num_frames: int
    size: tuple[int, int]
    group: str | None = None

    @property
    def is_video(self) -> bool:
        return isinstance(self.rainy, Path)


# ----------------------------------------------------------------------------------------------------
# listing (file kinds, frame order and frame counts come from the one media layer: opencv_filter.media)


def _subdirs(folder: Path) -> dict[str, Path]:
    return {p.name: p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")}


def _videos(folder: Path) -> dict[str, Path]:
    return {p.stem: p for p in folder.iterdir()
            if p.is_file() and is_video_file(p) and not p.name.startswith(".")}


def _same_place(a: Path, b: Path) -> bool:
    return os.path.realpath(a) == os.path.realpath(b)


def _clip(lines: list[str]) -> str:
    shown = lines[:_MAX_LISTED_PROBLEMS]
    if len(lines) > len(shown):
        shown.append(f"... and {len(lines) - len(shown)} more")
    return "\n  ".join([""] + shown)


def _root_listing(root: Path) -> str:
    if not root.is_dir():
        return f"{root} does not exist or is not a folder"
    names = sorted(p.name + ("/" if p.is_dir() else "") for p in root.iterdir())
    return f"{root} holds: {', '.join(names[:15]) or 'nothing'}" + (" ..." if len(names) > 15 else "")


# ----------------------------------------------------------------------------------------------------
# layouts: each maps (root, split, folder overrides) to matched (name, rainy, clean) candidates

# (name, rainy location, clean location): folders of frames, or video files
_Candidate = tuple[str, Path, Path]


@dataclass(frozen=True)
class Layout:
    """How one dataset stores its pairs: candidate (rainy, clean) folder pairs per split."""

    name: str
    folders: dict[str, tuple[tuple[str, str], ...]]   # split -> candidates relative to the root
    frames_note: str = ""
    group_of: Callable[[str], str | None] = lambda name: None


def _rainvidss_group(name: str) -> str | None:
    if name.startswith("seq_short"):
        return "ImageNet-VID+"
    if name.startswith("seq_long"):
        return "Cam-Vid+"
    return None


def _official(name: str, train: tuple[str, str], test: tuple[str, str], frames_note: str,
              group_of: Callable[[str], str | None] = lambda n: None) -> Layout:
    return Layout(name, {"train": (train, ("train/" + train[0], "train/" + train[1])),
                         "test": (test, train)}, frames_note, group_of)


LAYOUTS: dict[str, Layout] = {
    layout.name: layout
    for layout in (
        _official("vrds", ("lq", "gt"), ("test/lq", "test/gt"), "%08d.png from 0"),
        _official("lwdds", ("rainy_vid", "clean_vid"), ("test/syn/rainy_vid", "test/syn/clean_vid"),
                  "%06d.png from 0"),
        Layout("rainvidss", {"train": (("train/rainy", "train/gt"), ("rainy", "gt")),
                             "test": (("val/rainy", "val/gt"), ("test/rainy", "test/gt"), ("rainy", "gt"))},
               "%04d.jpg from 0", _rainvidss_group),
        _official("rainsynall100", ("Rain", "GT"), ("test/Rain", "test/GT"), "%d.jpg from 1"),
    )
}
LAYOUT_NAMES = ("vrds", "lwdds", "rainvidss", "rainsynall100", "nturain", "generic", "videos")

_NTU_BASES = {"train": ("Dataset_Training_Synthetic", "train", "."),
              "test": ("Dataset_Testing_Synthetic", "test", ".")}
_NTU_RAINY_NAMES = ("rainy", "rain", "lq", "input")
_NTU_CLEAN_NAMES = ("clean", "gt", "target")


def _normalise_layout(layout: str) -> str:
    key = re.sub(r"[^a-z0-9]", "", str(layout).lower())
    if key not in LAYOUT_NAMES:
        raise ValueError(f"Unknown dataset layout {layout!r}: choose one of {', '.join(LAYOUT_NAMES)}.")
    return key


def _normalise_split(split: str) -> str:
    key = str(split).lower()
    key = "test" if key in ("val", "valid", "validation") else key
    if key not in ("train", "test"):
        raise ValueError(f"Unknown split {split!r}: use 'train' or 'test'.")
    return key


def _match_folders(rainy_root: Path, clean_root: Path, videos: bool) -> list[_Candidate]:
    """Pair the per-sequence folders (or video files) of two roots by name; unmatched ones are errors."""
    if _same_place(rainy_root, clean_root):
        raise ValueError(f"The rainy folder {rainy_root} and the clean folder {clean_root} are the same "
                         f"place, so the model would learn to copy its input: point them at different "
                         f"folders (check for a trailing '/' or a symlink).")
    lister = _videos if videos else _subdirs
    rainy, clean = lister(rainy_root), lister(clean_root)
    if not rainy and not videos and list_frame_files(rainy_root):
        raise ValueError(f"{rainy_root} holds frames directly instead of one folder per sequence: move them "
                         f"into {rainy_root}/<sequence>/ (and the clean ones into {clean_root}/<sequence>/).")
    what = "video files" if videos else "sequence folders"
    if not rainy:
        raise ValueError(f"No rainy {what} in {rainy_root}: {_root_listing(rainy_root)}.")
    problems = [f"rainy {rainy[n]} has no clean counterpart {clean_root / n}" for n in sorted(rainy)
                if n not in clean]
    problems += [f"clean {clean[n]} has no rainy counterpart {rainy_root / n}" for n in sorted(clean)
                 if n not in rainy]
    if problems:
        raise ValueError(f"Unmatched sequences between {rainy_root} and {clean_root}: give every sequence "
                         f"both a rainy and a clean {'file' if videos else 'folder'} of the same name, or "
                         f"remove the extra ones:{_clip(problems)}")
    return [(name, rainy[name], clean[name]) for name in sorted(rainy, key=natural_key)]


def _folder_candidates(root: Path, layout: str, split: str, rainy_dir: str | None,
                       clean_dir: str | None) -> list[_Candidate]:
    """Candidates for the layouts that keep rainy and clean sequences in two parallel folders."""
    if layout in LAYOUTS:
        spec = LAYOUTS[layout]
        options = spec.folders[split]
        if rainy_dir or clean_dir:
            options = tuple((rainy_dir or r, clean_dir or c) for r, c in options)
        videos = False
    else:
        r, c = rainy_dir or "rainy", clean_dir or "clean"
        options = ((f"{split}/{r}", f"{split}/{c}"), (r, c))
        videos = layout == "videos"
    for rainy_rel, clean_rel in options:
        rainy_root, clean_root = root / rainy_rel, root / clean_rel
        if rainy_root.is_dir() or clean_root.is_dir():
            for folder in (rainy_root, clean_root):
                if not folder.is_dir():
                    raise ValueError(f"{folder} is missing (its counterpart exists): create it, or pass the "
                                     f"right folder names (rainy_dir/clean_dir).")
            return _match_folders(rainy_root, clean_root, videos)
    expected = " or ".join(f"{root / r}/<seq>/ + {root / c}/<seq>/" for r, c in options)
    note = f" (frames {LAYOUTS[layout].frames_note})" if layout in LAYOUTS else ""
    raise ValueError(f"No {layout} {split} data under {root}: expected {expected}{note}; "
                     f"{_root_listing(root)}. Check --data, --layout and the split.")


def _nturain_candidates(root: Path, split: str, rainy_dir: str | None,
                        clean_dir: str | None) -> list[_Candidate]:
    """NTURain: the SPAC release (``<scene>_Rain*`` + ``<scene>_GT``) or ``<seq>/rainy`` + ``<seq>/clean``."""
    rainy_names = (rainy_dir,) if rainy_dir else _NTU_RAINY_NAMES
    clean_names = (clean_dir,) if clean_dir else _NTU_CLEAN_NAMES
    for base_name in _NTU_BASES[split]:
        base = root / base_name
        if not base.is_dir():
            continue
        folders = _subdirs(base)
        spac = _spac_pairs(base, folders)
        if spac:
            return spac
        nested = []
        for name in sorted(folders, key=natural_key):
            inner = {k.lower(): v for k, v in _subdirs(folders[name]).items()}
            rainy = next((inner[n.lower()] for n in rainy_names if n.lower() in inner), None)
            clean = next((inner[n.lower()] for n in clean_names if n.lower() in inner), None)
            if rainy is not None and clean is not None:
                if _same_place(rainy, clean):
                    raise ValueError(f"The rainy folder {rainy} and the clean folder {clean} are the same "
                                     f"place: point them at different folders.")
                nested.append((name, rainy, clean))
            elif rainy is not None or clean is not None:
                raise ValueError(f"{folders[name]} has a {'rainy' if rainy else 'clean'} folder but no "
                                 f"{'clean' if rainy else 'rainy'} one (looked for "
                                 f"{', '.join(clean_names if rainy else rainy_names)}): add it or remove "
                                 f"the sequence.")
        if nested:
            return nested
    raise ValueError(f"No NTURain {split} data under {root}: expected "
                     f"{root}/{_NTU_BASES[split][0]}/<scene>_Rain*/ + <scene>_GT/ (the SPAC release), or "
                     f"{root}/[{split}/]<seq>/rainy/ + <seq>/clean/; {_root_listing(root)}.")


def _spac_pairs(base: Path, folders: dict[str, Path]) -> list[_Candidate]:
    """Pair every ``<scene>_Rain*`` folder with ``<scene>_GT``; a rainy scene without GT is an error."""
    gts = {name[:-3].lower(): path for name, path in folders.items() if name.lower().endswith("_gt")}
    rains = {name: path for name, path in folders.items() if re.search(r"_rain", name, re.IGNORECASE)}
    if not rains:
        return []
    pairs, problems = [], []
    for name in sorted(rains, key=natural_key):
        scene = re.split(r"_rain", name, maxsplit=1, flags=re.IGNORECASE)[0].lower()
        if scene in gts:
            pairs.append((name, rains[name], gts[scene]))
        else:
            problems.append(f"rainy {rains[name]} has no {base}/{scene}_GT")
    if problems:
        raise ValueError(f"Unmatched NTURain scenes in {base}: add the missing GT folders or remove "
                         f"the rainy ones:{_clip(problems)}")
    return pairs


# ----------------------------------------------------------------------------------------------------
# the public entry point


def find_pairs(root: str | os.PathLike, layout: str, split: str = "train", *, rainy_dir: str | None = None,
               clean_dir: str | None = None) -> list[SequencePair]:
    """List and check the rainy/clean sequence pairs of a dataset folder (see the module docstring).

    Raises ValueError, naming the offending paths and the fix, for a missing layout folder, unmatched
    sequences, rainy and clean folders that are the same place, different frame counts, different
    frame sizes, or a sequence without frames.
    """
    layout_key = _normalise_layout(layout)
    split_key = _normalise_split(split)
    root_path = Path(os.path.expanduser(os.fspath(root)))
    if not root_path.is_dir():
        raise ValueError(f"The dataset folder {root_path} does not exist or is not a folder: check --data.")
    if layout_key == "nturain":
        candidates = _nturain_candidates(root_path, split_key, rainy_dir, clean_dir)
    else:
        candidates = _folder_candidates(root_path, layout_key, split_key, rainy_dir, clean_dir)
    group_of = LAYOUTS[layout_key].group_of if layout_key in LAYOUTS else (lambda name: None)
    return _check_pairs(candidates, group_of, videos=layout_key == "videos")


def _check_pairs(candidates: Sequence[_Candidate], group_of: Callable[[str], str | None],
                 videos: bool) -> list[SequencePair]:
    pairs, problems = [], []
    for name, rainy, clean in candidates:
        try:
            pair = _video_pair(name, rainy, clean) if videos else _frame_pair(name, rainy, clean)
        except ValueError as err:
            problems.append(str(err))
            continue
        pairs.append(SequencePair(pair[0], pair[1], pair[2], pair[3], pair[4], group_of(name)))
    if problems:
        raise ValueError(f"{len(problems)} of {len(candidates)} sequence pairs do not match; fix or remove "
                         f"them:{_clip(problems)}")
    return pairs


def _frame_pair(name: str, rainy_dir: Path, clean_dir: Path):
    if _same_place(rainy_dir, clean_dir):
        raise ValueError(f"{rainy_dir} and {clean_dir} are the same folder (the clean frames would be the "
                         f"rainy ones)")
    rainy, clean = list_frame_files(rainy_dir), list_frame_files(clean_dir)
    if not rainy or not clean:
        raise ValueError(f"{rainy_dir if not rainy else clean_dir} holds no image frames")
    if len(rainy) != len(clean):
        raise ValueError(f"{rainy_dir} has {len(rainy)} frames but {clean_dir} has {len(clean)}")
    rainy_size, clean_size = image_size(rainy[0]), image_size(clean[0])
    if rainy_size != clean_size:
        raise ValueError(f"{rainy[0]} is {_hw(rainy_size)} but {clean[0]} is {_hw(clean_size)}")
    return name, rainy, clean, len(rainy), rainy_size


def _video_pair(name: str, rainy: Path, clean: Path):
    (rainy_count, rainy_size), (clean_count, clean_size) = count_frames(rainy), count_frames(clean)
    if rainy_count != clean_count:
        raise ValueError(f"{rainy} has {rainy_count} frames but {clean} has {clean_count}")
    if rainy_size != clean_size:
        raise ValueError(f"{rainy} is {_hw(rainy_size)} but {clean} is {_hw(clean_size)}")
    if rainy_count <= 0:
        raise ValueError(f"{rainy} reports no frames")
    return name, rainy, clean, rainy_count, rainy_size


def _hw(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]} (HxW)"

