"""Training windows and whole sequences read from checked rainy/clean pairs.

:class:`VideoPairDataset` serves the authors' training samples: T consecutive frames from a random
start, one random crop, and random horizontal/vertical flips and H/W transpose, all applied
identically to every frame of the rainy input and the clean target. Its randomness comes only from a
generator seeded by ``(seed, epoch, index)``, so a resumed run that calls :meth:`set_epoch` with the
same epoch sees exactly the same samples (DataLoader worker seeds play no part).

:func:`read_sequence` loads one whole pair for evaluation. Frames are read by the media layer
(``opencv_filter.media``) and returned RGB uint8.
"""
from __future__ import annotations

import os

import numpy as np
import torch
from torch.utils.data import Dataset

from opencv_filter.media import read_image, read_video, to_uint8

from .layouts import LAYOUT_NAMES, LAYOUTS, SequencePair, find_pairs

__all__ = ["LAYOUT_NAMES", "LAYOUTS", "SequencePair", "VideoPairDataset", "find_pairs", "read_frames",
           "read_sequence"]


# ----------------------------------------------------------------------------------------------------
# reading pixels


def _rgb8(frame: np.ndarray) -> np.ndarray:
    """A BGR frame from the media layer as the uint8 RGB the models train on (deeper sources rounded)."""
    return np.ascontiguousarray(to_uint8(frame)[:, :, ::-1])


def read_frames(source: list | os.PathLike, start: int = 0, count: int | None = None) -> np.ndarray:
    """Frames ``start .. start+count-1`` (all if count is None) of a frame list or video, (N, H, W, 3) RGB.

    Frames of different sizes within one sequence are an error naming the first odd one.
    """
    if isinstance(source, (list, tuple)):
        paths = source[start:] if count is None else source[start:start + count]
        frames = [_rgb8(read_image(p)) for p in paths]
        names = paths
    else:
        frames = [_rgb8(frame) for frame in read_video(source, start, count)]
        names = [f"{source} frame {start + i}" for i in range(len(frames))]
    for name, frame in zip(names, frames):
        if frame.shape != frames[0].shape:
            raise ValueError(f"{name} is {frame.shape[0]}x{frame.shape[1]} but {names[0]} is "
                             f"{frames[0].shape[0]}x{frames[0].shape[1]} (HxW): all frames of a sequence "
                             f"must have one size.")
    return np.stack(frames) if frames else np.zeros((0, 0, 0, 3), np.uint8)


def read_sequence(pair: SequencePair) -> tuple[np.ndarray, np.ndarray]:
    """All rainy and clean frames of one pair: two (N, H, W, 3) uint8 RGB arrays of equal shape."""
    rainy, clean = read_frames(pair.rainy), read_frames(pair.clean)
    if rainy.shape != clean.shape:
        where = pair.rainy if pair.is_video else pair.rainy[0].parent
        raise ValueError(f"Sequence {pair.name!r}: rainy frames {rainy.shape} and clean frames "
                         f"{clean.shape} differ in count or size; fix the files of {where}.")
    return rainy, clean


# ----------------------------------------------------------------------------------------------------
# training windows


class VideoPairDataset(Dataset):
    """Random T-frame, cropped, flipped windows of rainy/clean pairs; item = dict(lq, gt, name, start).

    ``lq``/``gt`` are float32 tensors (T, 3, crop, crop) in [0, 1], RGB. ``crop=None`` keeps whole frames
    (then transpose is applied only to square frames so shapes stay fixed). ``repeat`` lists every pair
    that many times per epoch (the authors repeat their training set 800 times); each repetition draws
    its own window. Item ``i`` in epoch ``e`` depends only on (seed, e, i): call :meth:`set_epoch` before
    each epoch, and keep DataLoader workers non-persistent so they see the new epoch.
    """

    def __init__(self, pairs: list[SequencePair], frames: int, crop: int | None, augment: bool = True,
                 seed: int = 0, repeat: int = 1) -> None:
        if not pairs:
            raise ValueError("VideoPairDataset got no sequence pairs: check the dataset folder and layout.")
        if frames < 1 or repeat < 1 or (crop is not None and crop < 1):
            raise ValueError(f"frames ({frames}), crop ({crop}) and repeat ({repeat}) must be positive.")
        short = [f"{p.name} ({p.num_frames} frames)" for p in pairs if p.num_frames < frames]
        if short:
            raise ValueError(f"{len(short)} sequences have fewer than the {frames} frames a training window "
                             f"needs: {', '.join(short[:8])}; use fewer frames or remove them.")
        if crop is not None:
            small = [f"{p.name} ({p.size[0]}x{p.size[1]})" for p in pairs if min(p.size) < crop]
            if small:
                raise ValueError(f"{len(small)} sequences have frames smaller (HxW) than the {crop}x{crop} "
                                 f"crop: {', '.join(small[:8])}; use a smaller crop or larger frames.")
        self.pairs, self.frames, self.crop = list(pairs), int(frames), crop
        self.augment, self.seed, self.repeat = augment, int(seed), int(repeat)
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.pairs) * self.repeat

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose samples ``__getitem__`` returns (same contract as DistributedSampler)."""
        self.epoch = int(epoch)

    def __getitem__(self, index: int) -> dict:
        return self.sample(index, self.epoch)

    def sample(self, index: int, epoch: int) -> dict:
        """Item ``index`` of epoch ``epoch``, independent of any global random state."""
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for a dataset of {len(self)} items")
        pair = self.pairs[index % len(self.pairs)]
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([self.seed, epoch, index])))
        start = int(rng.integers(0, pair.num_frames - self.frames + 1))
        lq = read_frames(pair.rainy, start, self.frames)
        gt = read_frames(pair.clean, start, self.frames)
        if lq.shape != gt.shape:
            raise ValueError(f"Sequence {pair.name!r} frames {start}..{start + self.frames - 1}: rainy "
                             f"{lq.shape[1:3]} and clean {gt.shape[1:3]} differ in size; fix the files.")
        lq, gt = self._crop(lq, gt, rng, pair)
        if self.augment:
            lq, gt = _flip_transpose(lq, gt, rng)
        return {"lq": _to_tensor(lq), "gt": _to_tensor(gt), "name": pair.name, "start": start}

    def _crop(self, lq: np.ndarray, gt: np.ndarray, rng: np.random.Generator,
              pair: SequencePair) -> tuple[np.ndarray, np.ndarray]:
        if self.crop is None:
            return lq, gt
        height, width = lq.shape[1:3]
        if min(height, width) < self.crop:
            raise ValueError(f"Sequence {pair.name!r} has {height}x{width} frames, smaller than the "
                             f"{self.crop}x{self.crop} crop: use a smaller crop or larger frames.")
        top = int(rng.integers(0, height - self.crop + 1))
        left = int(rng.integers(0, width - self.crop + 1))
        window = (slice(None), slice(top, top + self.crop), slice(left, left + self.crop))
        return lq[window], gt[window]


def _flip_transpose(lq: np.ndarray, gt: np.ndarray,
                    rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Horizontal flip, vertical flip and H/W transpose, each with p=0.5, the same on lq and gt."""
    hflip, vflip, transpose = rng.random(3) < 0.5
    square = lq.shape[1] == lq.shape[2]
    out = []
    for frames in (lq, gt):
        if hflip:
            frames = frames[:, :, ::-1]
        if vflip:
            frames = frames[:, ::-1]
        if transpose and square:
            frames = frames.transpose(0, 2, 1, 3)
        out.append(frames)
    return out[0], out[1]


def _to_tensor(frames: np.ndarray) -> torch.Tensor:
    """(T, H, W, 3) uint8 -> (T, 3, H, W) float32 in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(frames.transpose(0, 3, 1, 2))).float().div_(255.0)
