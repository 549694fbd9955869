"""Dataset layouts, pairing checks, training windows and test sequences, on tiny fake trees."""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from training.datasets import VideoPairDataset, find_pairs, read_frames
from opencv_filter.media import image_size
from tests.opencv_filter.av_clips import encode, smooth_frames

SIZE = 16


def frame_value(t: int, rng: np.random.Generator, size=(SIZE, SIZE)) -> np.ndarray:
    """Frame t: a level of 10*t plus a faint texture, so round(mean / 10) recovers t after any crop/flip."""
    return (10 * t + rng.integers(0, 5, (*size, 3))).astype(np.uint8)


def write_seq(folder: Path, count: int, name=lambda i: f"{i:08d}.png", first: int = 0, size=(SIZE, SIZE),
              offset: int = 0, seed: int = 0) -> list[np.ndarray]:
    """Write ``count`` RGB frames named ``name(first + i)``; returns them (clean = rainy + offset)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(count):
        frame = np.clip(frame_value(i, rng, size).astype(int) + offset, 0, 255).astype(np.uint8)
        cv2.imwrite(str(folder / name(first + i)), frame[..., ::-1])
        frames.append(frame)
    return frames


def write_pair_tree(root: Path, rainy: str, clean: str, seqs=("a", "b"), count: int = 3, **kw) -> None:
    for i, seq in enumerate(seqs):
        write_seq(root / rainy / seq, count, seed=i, **kw)
        write_seq(root / clean / seq, count, seed=i, offset=40, **kw)


# ----------------------------------------------------------------------------------------------------
# every layout reads its own tree


@pytest.mark.parametrize("layout, split, rainy, clean, name, first", [
    ("vrds", "train", "lq", "gt", "{:08d}.png", 0),
    ("vrds", "test", "test/lq", "test/gt", "{:08d}.png", 0),
    ("lwdds", "train", "rainy_vid", "clean_vid", "{:06d}.png", 0),
    ("lwdds", "test", "test/syn/rainy_vid", "test/syn/clean_vid", "{:06d}.png", 0),
    ("rainvidss", "train", "train/rainy", "train/gt", "{:04d}.jpg", 0),
    ("rainsynall100", "train", "Rain", "GT", "{:d}.jpg", 1),
    ("rainsynall100", "test", "test/Rain", "test/GT", "{:d}.jpg", 1),
    ("generic", "train", "rainy", "clean", "{:06d}.png", 0),
])
def test_official_and_generic_layouts(tmp_path, layout, split, rainy, clean, name, first):
    write_pair_tree(tmp_path, rainy, clean, count=12, name=name.format, first=first)
    pairs = find_pairs(tmp_path, layout, split)
    assert [p.name for p in pairs] == ["a", "b"]
    pair = pairs[0]
    assert pair.num_frames == 12 and pair.size == (SIZE, SIZE) and not pair.is_video
    assert pair.rainy[0].parent == tmp_path / rainy / "a" and pair.clean[0].parent == tmp_path / clean / "a"
    # numeric order: 2 before 10, whatever the zero padding
    assert [p.name for p in pair.rainy] == [name.format(first + i) for i in range(12)]


def test_test_split_given_as_the_test_folder_itself(tmp_path):
    write_pair_tree(tmp_path, "lq", "gt")
    assert [p.name for p in find_pairs(tmp_path, "VRDS", "test")] == ["a", "b"]


def test_rainvidss_groups(tmp_path):
    write_pair_tree(tmp_path, "val/rainy", "val/gt", seqs=("seq_short_01", "seq_long_01", "other"),
                    name="{:04d}.jpg".format)
    groups = {p.name: p.group for p in find_pairs(tmp_path, "RainVID&SS", "test")}
    assert groups == {"seq_short_01": "ImageNet-VID+", "seq_long_01": "Cam-Vid+", "other": None}


def test_nturain_spac_release(tmp_path):
    base = tmp_path / "Dataset_Training_Synthetic"
    write_seq(base / "t1_GT", 4, name="{:05d}.jpg".format)
    write_seq(base / "t1_Rain_01", 4, name="{:05d}.jpg".format)
    write_seq(base / "t1_Rain_02", 4, name="{:05d}.jpg".format)
    write_seq(tmp_path / "Dataset_Testing_Synthetic" / "a1_GT", 3)
    write_seq(tmp_path / "Dataset_Testing_Synthetic" / "a1_Rain", 3)
    train = find_pairs(tmp_path, "nturain", "train")
    assert [(p.name, p.clean[0].parent.name) for p in train] == [("t1_Rain_01", "t1_GT"),
                                                                  ("t1_Rain_02", "t1_GT")]
    assert [p.name for p in find_pairs(tmp_path, "nturain", "test")] == ["a1_Rain"]


def test_nturain_per_sequence_folders(tmp_path):
    for seq in ("s1", "s2"):
        write_seq(tmp_path / "train" / seq / "rainy", 3)
        write_seq(tmp_path / "train" / seq / "clean", 3)
    pairs = find_pairs(tmp_path, "nturain")
    assert [(p.name, p.rainy[0].parent.name, p.clean[0].parent.name) for p in pairs] == [
        ("s1", "rainy", "clean"), ("s2", "rainy", "clean")]


def test_nturain_missing_gt_names_the_folder(tmp_path):
    write_seq(tmp_path / "Dataset_Training_Synthetic" / "t2_Rain", 2)
    write_seq(tmp_path / "Dataset_Training_Synthetic" / "t1_GT", 2)
    with pytest.raises(ValueError, match="t2_Rain"):
        find_pairs(tmp_path, "nturain")


def test_generic_folder_names_overridable(tmp_path):
    write_pair_tree(tmp_path, "input", "target")
    assert len(find_pairs(tmp_path, "generic", rainy_dir="input", clean_dir="target")) == 2


def write_video(path: Path, count: int, size=(SIZE, SIZE)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (size[1], size[0]))
    rng = np.random.default_rng(0)
    for t in range(count):
        writer.write(frame_value(t, rng, size))
    writer.release()


def test_video_pairs(tmp_path):
    write_video(tmp_path / "rainy" / "clip.avi", 6)
    write_video(tmp_path / "clean" / "clip.avi", 6)
    (pair,) = find_pairs(tmp_path, "videos")
    assert pair.is_video and pair.num_frames == 6 and pair.size == (SIZE, SIZE)
    item = VideoPairDataset([pair], frames=3, crop=8)[0]
    assert item["lq"].shape == (3, 3, 8, 8)
    assert [round(float(f.mean()) * 255 / 10) for f in item["lq"]] == [item["start"] + i for i in range(3)]


def test_video_count_mismatch(tmp_path):
    write_video(tmp_path / "rainy" / "clip.avi", 6)
    write_video(tmp_path / "clean" / "clip.avi", 4)
    with pytest.raises(ValueError, match="clip.avi has 6 frames"):
        find_pairs(tmp_path, "videos")


# ----------------------------------------------------------------------------------------------------
# pairing errors name the offending paths


def test_unmatched_sequence(tmp_path):
    write_pair_tree(tmp_path, "rainy", "clean")
    write_seq(tmp_path / "rainy" / "extra", 3)
    with pytest.raises(ValueError, match="Unmatched") as err:
        find_pairs(tmp_path, "generic")
    assert str(tmp_path / "rainy" / "extra") in str(err.value)


def test_frame_count_mismatch(tmp_path):
    write_pair_tree(tmp_path, "lq", "gt")
    os.remove(tmp_path / "gt" / "b" / "00000002.png")
    with pytest.raises(ValueError, match="has 3 frames but") as err:
        find_pairs(tmp_path, "vrds")
    assert str(tmp_path / "gt" / "b") in str(err.value)


def test_frame_size_mismatch(tmp_path):
    write_seq(tmp_path / "rainy" / "a", 2, size=(SIZE, SIZE))
    write_seq(tmp_path / "clean" / "a", 2, size=(SIZE, 24))
    with pytest.raises(ValueError, match="16x24") as err:
        find_pairs(tmp_path, "generic")
    assert str(tmp_path / "clean" / "a" / "00000000.png") in str(err.value)


@pytest.mark.parametrize("rainy_dir, clean_dir", [("rainy/", "rainy"), ("rainy", "./rainy/")])
def test_rainy_folder_resolving_to_the_clean_one(tmp_path, rainy_dir, clean_dir):
    write_pair_tree(tmp_path, "rainy", "clean")
    with pytest.raises(ValueError, match="same place") as err:
        find_pairs(tmp_path, "generic", rainy_dir=rainy_dir, clean_dir=clean_dir)
    assert str(tmp_path / "rainy") in str(err.value)


def test_clean_symlink_to_rainy(tmp_path):
    write_seq(tmp_path / "rainy" / "a", 2)
    (tmp_path / "clean").symlink_to(tmp_path / "rainy", target_is_directory=True)
    with pytest.raises(ValueError, match="same place"):
        find_pairs(tmp_path, "generic")


def test_missing_layout_explains_what_it_expected(tmp_path):
    write_pair_tree(tmp_path, "rainy", "clean")
    with pytest.raises(ValueError, match=r"No vrds train data .*lq/<seq>/"):
        find_pairs(tmp_path, "vrds")
    with pytest.raises(ValueError, match="Unknown dataset layout"):
        find_pairs(tmp_path, "nope")


def test_frames_directly_in_the_rainy_folder(tmp_path):
    write_seq(tmp_path / "rainy", 2)
    (tmp_path / "clean").mkdir()
    with pytest.raises(ValueError, match="one folder per sequence"):
        find_pairs(tmp_path, "generic")


# ----------------------------------------------------------------------------------------------------
# headers and pixels


def test_image_size_reads_png_and_jpeg_headers(tmp_path):
    image = np.zeros((13, 21, 3), np.uint8)
    for name, params in (("a.png", []), ("b.jpg", []), ("c.jpg", [cv2.IMWRITE_JPEG_PROGRESSIVE, 1]),
                         ("d.bmp", [])):
        cv2.imwrite(str(tmp_path / name), image, params)
        assert image_size(tmp_path / name) == (13, 21)


def test_frames_are_rgb(tmp_path):
    (tmp_path / "f").mkdir()
    red_bgr = np.zeros((4, 4, 3), np.uint8)
    red_bgr[..., 2] = 255
    cv2.imwrite(str(tmp_path / "f" / "0.png"), red_bgr)
    frames = read_frames([tmp_path / "f" / "0.png"])
    assert frames.shape == (1, 4, 4, 3) and frames[0, 0, 0].tolist() == [255, 0, 0]


# ----------------------------------------------------------------------------------------------------
# training windows


@pytest.fixture
def pairs(tmp_path):
    write_pair_tree(tmp_path, "rainy", "clean", seqs=("a", "b", "c"), count=8)
    return find_pairs(tmp_path, "generic")


def frame_indices(frames: torch.Tensor) -> list[int]:
    return [round(float(f.mean()) * 255 / 10) for f in frames]


def test_item_shapes_and_consecutive_frames(pairs):
    dataset = VideoPairDataset(pairs, frames=5, crop=8, repeat=2)
    assert len(dataset) == 6
    for index in range(len(dataset)):
        item = dataset[index]
        assert item["lq"].shape == item["gt"].shape == (5, 3, 8, 8)
        assert item["lq"].dtype == torch.float32 and 0 <= item["lq"].min() and item["gt"].max() <= 1
        assert item["name"] == pairs[index % 3].name
        assert frame_indices(item["lq"]) == list(range(item["start"], item["start"] + 5))


def test_same_crop_and_flips_on_lq_and_gt(pairs):
    dataset = VideoPairDataset(pairs, frames=4, crop=8)
    for epoch in range(4):
        dataset.set_epoch(epoch)
        for item in dataset:
            assert torch.allclose(item["gt"] - item["lq"], torch.full_like(item["lq"], 40 / 255), atol=1e-6)


def dihedral(frames: np.ndarray) -> list[np.ndarray]:
    """The 8 flip/transpose variants of (T, H, W, C) frames."""
    out = []
    for base in (frames, frames.transpose(0, 2, 1, 3)):
        out += [base, base[:, :, ::-1], base[:, ::-1], base[:, ::-1, ::-1]]
    return out


def test_flips_and_transpose_are_applied(pairs):
    source = read_frames(pairs[0].rainy)
    dataset = VideoPairDataset(pairs[:1], frames=2, crop=None, repeat=24)
    seen = set()
    for item in dataset:
        window = source[item["start"]:item["start"] + 2]
        lq = (item["lq"].numpy().transpose(0, 2, 3, 1) * 255).round().astype(np.uint8)
        matches = [i for i, variant in enumerate(dihedral(window)) if np.array_equal(variant, lq)]
        assert matches, "the item is not a flip/transpose of its source frames"
        seen.add(matches[0])
    assert len(seen) >= 4
    plain = VideoPairDataset(pairs[:1], frames=2, crop=None, augment=False)[0]
    window = source[plain["start"]:plain["start"] + 2]
    assert np.array_equal((plain["lq"].numpy().transpose(0, 2, 3, 1) * 255).round().astype(np.uint8), window)


def test_deterministic_by_seed_and_epoch(pairs):
    def items(seed, epoch):
        dataset = VideoPairDataset(pairs, frames=3, crop=8, seed=seed, repeat=3)
        dataset.set_epoch(epoch)
        return [dataset[i] for i in range(len(dataset))]

    def same(a, b):
        return all(x["start"] == y["start"] and torch.equal(x["lq"], y["lq"]) for x, y in zip(a, b))

    torch.manual_seed(123)
    np.random.seed(123)
    reference = items(seed=1, epoch=2)
    torch.manual_seed(7)
    np.random.seed(7)
    assert same(reference, items(seed=1, epoch=2))   # global RNG state plays no part
    assert not same(reference, items(seed=1, epoch=3))
    assert not same(reference, items(seed=2, epoch=2))


def test_dataloader_batches(pairs):
    loader = torch.utils.data.DataLoader(VideoPairDataset(pairs, frames=3, crop=8), batch_size=2)
    batch = next(iter(loader))
    assert batch["lq"].shape == (2, 3, 3, 8, 8) and len(batch["name"]) == 2 and batch["start"].shape == (2,)


def test_crop_larger_than_frames_is_a_clear_error(pairs):
    with pytest.raises(ValueError, match="smaller .* than the 32x32 crop"):
        VideoPairDataset(pairs, frames=3, crop=32)


def test_window_longer_than_sequences_is_a_clear_error(pairs):
    with pytest.raises(ValueError, match="fewer than the 9 frames"):
        VideoPairDataset(pairs, frames=9, crop=8)


def test_video_pairs_are_counted_by_decoding_not_from_the_container(tmp_path):
    """An audio track longer than the picture stretches the container's duration, not the frame count."""
    for side in ("rainy", "clean"):
        (tmp_path / side).mkdir()
        encode(tmp_path / side / "clip.mkv", smooth_frames(12, (32, 24), seed=len(side)), audio_s=0.62)
    (pair,) = find_pairs(tmp_path, "videos")
    assert pair.num_frames == 12 and pair.size == (24, 32)
    assert read_frames(pair.rainy).shape == (12, 24, 32, 3)
