"""Synthetic rain, clean scenes, synthetic datasets on disk and the ``rainmamba synth`` command."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from models.cli import main
from training.datasets import find_pairs, read_frames
from training.scenes import SKIMAGE_PHOTOS, photo_scene, procedural_canvas, procedural_scene
from training.synth import RainParams, add_rain, render_streaks, write_synthetic_dataset

NO_EXTRAS = dict(fog_prob=0.0, drop_prob=0.0)


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def grey_clip(frames=4, size=48, level=0.3) -> np.ndarray:
    return np.full((frames, size, size, 3), level, np.float32)


# ----------------------------------------------------------------------------------------------------
# rain


def test_add_rain_changes_the_clip_and_keeps_its_shape():
    clean = procedural_scene(5, 64, 64, rng(1))
    rainy = add_rain(clean, RainParams(), rng(2))
    assert rainy.shape == clean.shape and rainy.dtype == np.float32
    assert 0 <= rainy.min() and rainy.max() <= 1
    assert np.abs(rainy - clean).mean() > 1e-3


def test_rain_layer_grows_with_density():
    means = []
    for density in (5, 30, 120):
        params = RainParams(density=(density, density), **NO_EXTRAS)
        means.append(float((add_rain(grey_clip(), params, rng(3)) - 0.3).mean()))
    assert 0 < means[0] < means[1] < means[2]


def test_no_streaks_at_zero_density():
    clean = grey_clip()
    assert np.array_equal(add_rain(clean, RainParams(density=(0, 0), **NO_EXTRAS), rng()), clean)


def best_shift(a: np.ndarray, b: np.ndarray, reach: int = 14) -> tuple[int, int]:
    """The (dy, dx) that best maps image a onto image b, judged away from the borders."""
    inner = (slice(reach, -reach), slice(reach, -reach))
    errors = {(dy, dx): float(np.square(np.roll(a, (dy, dx), axis=(0, 1))[inner] - b[inner]).mean())
              for dy in range(-reach, reach + 1) for dx in range(-reach, reach + 1)}
    return min(errors, key=errors.get)


@pytest.mark.parametrize("angle, speed", [(0.0, 6.0), (30.0, 10.0), (-20.0, 8.0)])
def test_streaks_move_coherently_between_frames(angle, speed):
    params = RainParams(density=(40, 40), angle=(angle, angle), angle_jitter=0.0, speed=(speed, speed),
                        length=(6, 6), **NO_EXTRAS)
    layer = render_streaks(4, 96, 96, params, rng(4))
    expected = (speed * np.cos(np.deg2rad(angle)), speed * np.sin(np.deg2rad(angle)))
    for t in range(3):
        assert np.abs(layer[t + 1] - layer[t]).mean() > 1e-3          # they move
        dy, dx = best_shift(layer[t], layer[t + 1])
        assert abs(dy - expected[0]) <= 1 and abs(dx - expected[1]) <= 1, (dy, dx, expected)


def test_lens_drops_persist_and_refract():
    canvas = procedural_canvas(64, 64, rng(5))
    clean = np.repeat(canvas[None], 6, axis=0)
    params = RainParams(density=(0, 0), fog_prob=0.0, drop_prob=1.0, drop_count=(12, 12),
                        drop_radius=(0.08, 0.1), drop_speed=(0.3, 0.3))
    rainy = add_rain(clean, params, rng(6))
    masks = np.abs(rainy - clean).max(axis=-1) > 0.02
    assert masks[0].mean() > 0.02                                       # drops are visible
    overlap = (masks[0] & masks[-1]).sum() / (masks[0] | masks[-1]).sum()
    assert overlap > 0.5                                               # the same drops, barely moved
    assert not np.array_equal(rainy[0], rainy[-1])                     # but they do slide


def test_fog_brightens_dark_scenes():
    params = RainParams(density=(0, 0), fog=(0.3, 0.3), fog_prob=1.0, drop_prob=0.0)
    assert add_rain(grey_clip(level=0.05), params, rng()).mean() > 0.1


def test_rain_is_deterministic_by_seed():
    clean = procedural_scene(3, 32, 32, rng(7))
    params = RainParams(fog_prob=0.5, drop_prob=0.5)
    assert np.array_equal(add_rain(clean, params, rng(8)), add_rain(clean, params, rng(8)))
    assert not np.array_equal(add_rain(clean, params, rng(8)), add_rain(clean, params, rng(9)))


def test_invalid_params_are_named():
    with pytest.raises(ValueError, match="density"):
        RainParams(density=(50, 10))
    with pytest.raises(ValueError, match="brightness"):
        RainParams(brightness=(0.5, 2.0))
    with pytest.raises(ValueError, match=r"\(T, H, W, 3\)"):
        add_rain(np.zeros((8, 8, 3), np.float32), RainParams(), rng())


# ----------------------------------------------------------------------------------------------------
# scenes


def test_procedural_scenes_move_and_vary_by_seed():
    a, b = procedural_scene(4, 48, 64, rng(10)), procedural_scene(4, 48, 64, rng(11))
    assert a.shape == (4, 48, 64, 3) and a.dtype == np.float32 and 0 <= a.min() and a.max() <= 1
    assert np.abs(a[0] - a[-1]).mean() > 1e-3                         # camera/object motion
    assert np.abs(a - b).mean() > 0.05                                 # different worlds
    assert np.array_equal(a, procedural_scene(4, 48, 64, rng(10)))


def test_photo_scene_from_a_skimage_photo():
    pytest.importorskip("skimage")
    from training.scenes import load_skimage_photo

    photo = load_skimage_photo("chelsea")
    clip = photo_scene(photo, 3, 40, 56, rng(12))
    assert clip.shape == (3, 40, 56, 3) and 0 <= clip.min() and clip.max() <= 1
    assert np.abs(clip[0] - clip[-1]).mean() > 1e-4
    small = photo_scene(photo[:20, :20], 2, 32, 32, rng(0))          # smaller than the frame: enlarged
    assert small.shape == (2, 32, 32, 3)


def _texture(clip: np.ndarray) -> float:
    """Mean absolute difference between horizontal neighbours: 0 for a flat field."""
    return float(np.abs(np.diff(clip, axis=2)).mean())


def test_plain_scenes_are_low_texture_and_deterministic():
    from training.scenes import plain_scene

    clips = [plain_scene(3, 40, 48, rng(seed)) for seed in range(12)]
    assert all(c.shape == (3, 40, 48, 3) and 0 <= c.min() and c.max() <= 1 for c in clips)
    assert max(_texture(c) for c in clips) < 0.02                          # no edges, at most faint grain
    textured = [_texture(procedural_scene(3, 40, 48, rng(seed))) for seed in range(12)]
    assert np.median(textured) > 3 * np.median([_texture(c) for c in clips])
    assert np.array_equal(clips[0], plain_scene(3, 40, 48, rng(0)))


def test_foliage_scenes_are_fine_strokes_that_move_only_with_the_camera():
    """Grass, fur and twigs: more fine texture than procedural scenes, the same clip for the same seed,
    and nothing moving on its own: each frame is the first one moved by the camera (no rain-like motion)."""
    from training.scenes import CameraMotion, foliage_scene, scene_clip

    clips = [foliage_scene(2, 48, 48, rng(seed)) for seed in range(8)]
    assert all(c.shape == (2, 48, 48, 3) and 0 <= c.min() and c.max() <= 1 for c in clips)
    procedural = [_texture(procedural_scene(2, 48, 48, rng(seed))) for seed in range(8)]
    assert np.median([_texture(c) for c in clips]) > 1.3 * np.median(procedural)
    assert np.array_equal(scene_clip("foliage", 2, 48, 48, rng(3)), foliage_scene(2, 48, 48, rng(3)))
    still = [foliage_scene(3, 48, 48, rng(seed), CameraMotion(pan=0, zoom=0, roll=0)) for seed in range(4)]
    panning = [foliage_scene(3, 48, 48, rng(seed), CameraMotion(pan=8, zoom=0, roll=0)) for seed in range(4)]
    change = [[float(np.abs(c[1:] - c[:-1]).mean()) for c in clips] for clips in (still, panning)]
    assert max(change[0]) < 0.5 * min(change[1])                            # a still camera: only its shake


def test_structures_scenes_are_thin_bright_lines_that_move_only_with_the_camera():
    """Poles, cables, rims and glints: thin lines and spots far brighter than a darker ground, the same clip
    for the same seed, and nothing moving on its own."""
    from training.scenes import CameraMotion, scene_clip, structures_scene

    clips = [structures_scene(2, 64, 64, rng(seed)) for seed in range(8)]
    assert all(c.shape == (2, 64, 64, 3) and 0 <= c.min() and c.max() <= 1 for c in clips)
    areas = []
    for clip in clips:
        luma = clip[0].mean(-1)
        bright = (luma > np.median(luma) + 0.25).astype(np.uint8)
        assert 0.01 < bright.mean() < 0.4
        wide = cv2.morphologyEx(bright, cv2.MORPH_OPEN, np.ones((5, 5), np.uint8))   # what a 5x5 square fits in
        areas.append(wide.sum() / bright.sum())
    assert np.median(areas) < 0.15                                          # lines and spots, not areas
    assert np.array_equal(scene_clip("structures", 2, 48, 48, rng(3)), structures_scene(2, 48, 48, rng(3)))
    still = [structures_scene(3, 48, 48, rng(seed), CameraMotion(pan=0, zoom=0, roll=0)) for seed in range(8)]
    panning = [structures_scene(3, 48, 48, rng(seed), CameraMotion(pan=8, zoom=0, roll=0)) for seed in range(8)]
    change = [[float(np.abs(c[1:] - c[:-1]).mean()) for c in clips] for clips in (still, panning)]
    assert np.median(change[0]) < 0.3 * np.median(change[1])              # a still camera: only its shake


def test_varied_scenes_mix_plain_ones_into_mixed_and_mixed_is_unchanged():
    pytest.importorskip("skimage")
    from training.scenes import load_skimage_photo, photo_scene as photo, scene_clip

    textures = [_texture(scene_clip("varied", 2, 32, 32, rng(seed))) for seed in range(40)]
    plain = sum(t < 0.01 for t in textures)
    assert 3 <= plain <= 20                                               # about a quarter
    # "mixed" draws exactly as before "varied" existed: a coin, then a photo or a procedural scene
    generator = rng(3)
    expected = (photo(load_skimage_photo(SKIMAGE_PHOTOS[int(generator.integers(len(SKIMAGE_PHOTOS)))]), 2, 32,
                      32, generator) if generator.random() < 0.5 else procedural_scene(2, 32, 32, generator))
    assert np.array_equal(scene_clip("mixed", 2, 32, 32, rng(3)), expected)
    with pytest.raises(ValueError, match="Unknown scene kind 'sky'"):
        scene_clip("sky", 2, 32, 32, rng(0))


def _pan(clip: np.ndarray) -> float:
    """The median frame-to-frame translation of a clip, in pixels (phase correlation of grey frames)."""
    import cv2

    grey = clip.mean(axis=-1).astype(np.float32)
    return float(np.median([np.hypot(*cv2.phaseCorrelate(a, b)[0]) for a, b in zip(grey[:-1], grey[1:])]))


@pytest.mark.parametrize("kind", ["procedural", "photos", "foliage", "structures"])
def test_the_camera_pans_up_to_the_speed_asked(kind):
    pytest.importorskip("skimage")
    from training.scenes import DEFAULT_CAMERA_SPEED, CameraMotion, scene_clip

    slow = [_pan(scene_clip(kind, 4, 64, 64, rng(seed))) for seed in range(8)]
    fast = [_pan(scene_clip(kind, 4, 64, 64, rng(seed), CameraMotion(pan=20))) for seed in range(8)]
    assert max(slow) < DEFAULT_CAMERA_SPEED + 1.5 and 8 < max(fast) < 22 and np.median(fast) > 3 * np.median(slow)


def _zoom_roll(clip: np.ndarray) -> tuple[float, float]:
    """The zoom factor and roll (degrees) from a clip's first frame to its last (log-polar phase correlation)."""
    import cv2

    first, last = (cv2.cvtColor(np.ascontiguousarray(f), cv2.COLOR_RGB2GRAY) for f in (clip[0], clip[-1]))
    h, w = first.shape
    radius = min(h, w) / 2
    polar = [cv2.warpPolar(f, (w, h), (w / 2, h / 2), radius, cv2.WARP_POLAR_LOG + cv2.INTER_LINEAR)
             for f in (first, last)]
    (dx, dy), _ = cv2.phaseCorrelate(*polar, cv2.createHanningWindow((w, h), cv2.CV_32F))
    return float(np.exp(dx * np.log(radius) / w)), float(dy * 360 / h)


def test_the_camera_zooms_and_rolls_up_to_the_bounds_asked():
    pytest.importorskip("skimage")
    from training.scenes import CameraMotion, scene_clip

    def measure(camera):
        zooms, rolls = zip(*(_zoom_roll(scene_clip("photos", 4, 96, 96, rng(seed), camera)) for seed in range(8)))
        return np.abs(np.log(zooms)), np.abs(rolls)

    still_zoom, still_roll = measure(CameraMotion(pan=0, zoom=0, roll=0))
    zoom, zoom_roll = measure(CameraMotion(pan=0, zoom=0.5, roll=0))
    roll_zoom, roll = measure(CameraMotion(pan=0, zoom=0, roll=24))
    assert np.median(still_zoom) < 0.02 and np.median(still_roll) < 1.5
    assert zoom.max() > np.log(1.25) and zoom.max() < np.log(1.6) and np.median(zoom_roll) < 1.5
    assert roll.max() > 12 and roll.max() < 28 and np.median(roll_zoom) < 0.02


def test_a_closer_camera_films_a_smaller_part_of_the_scene():
    from training.scenes import CameraMotion, camera_clip

    # a canvas whose value is its x coordinate: a frame's value range is the share of the width it shows
    canvas = np.repeat(np.linspace(0, 1, 400, dtype=np.float32)[None, :, None], 300, 0).repeat(3, 2)

    def shown(camera):
        return np.array([np.ptp(camera_clip(canvas, 2, 48, 48, rng(seed), camera)[0, 24, :, 0])
                         for seed in range(12)])

    wide, close = shown(CameraMotion(pan=0)), shown(CameraMotion(pan=0, closeup=8))
    fit = 48 / (0.9 * 300)                         # output pixels per canvas pixel at the widest framing
    assert wide.max() <= 48 / fit / 400 + 0.01 and wide.min() > 48 / (1.7 * fit) / 400
    assert np.median(close) < 0.5 * np.median(wide) and close.min() > 48 / (8.5 * fit) / 400
    np.testing.assert_array_equal(camera_clip(canvas, 2, 48, 48, rng(3), CameraMotion()),
                                  camera_clip(canvas, 2, 48, 48, rng(3), CameraMotion(closeup=1.6)))


@pytest.mark.parametrize("changes, option", [({"pan": -1}, "--camera-speed"), ({"pan": float("nan")}, "--camera-speed"),
                                             ({"zoom": 1.0}, "--camera-zoom"), ({"roll": -2}, "--camera-roll"),
                                             ({"closeup": 0.5}, "--camera-closeup"),
                                             ({"closeup": float("inf")}, "--camera-closeup")])
def test_a_bad_camera_motion_names_its_option(changes, option):
    from training.scenes import CameraMotion

    with pytest.raises(ValueError, match=option):
        CameraMotion(**changes)


# ----------------------------------------------------------------------------------------------------
# datasets on disk


def test_synthetic_dataset_reads_back_and_is_deterministic(tmp_path):
    for out in ("a", "b"):
        write_synthetic_dataset(tmp_path / out, 3, 4, 24, 32, seed=5, drops=True)
    pairs = find_pairs(tmp_path / "a", "generic")
    assert [p.name for p in pairs] == ["seq_00000", "seq_00001", "seq_00002"]
    assert all(p.num_frames == 4 and p.size == (24, 32) for p in pairs)
    for pair, twin in zip(pairs, find_pairs(tmp_path / "b", "generic")):
        assert np.array_equal(read_frames(pair.rainy), read_frames(twin.rainy))
        assert not np.array_equal(read_frames(pair.rainy), read_frames(pair.clean))
    assert (tmp_path / "a" / "synth.json").is_file()


def test_synthetic_dataset_refuses_a_non_empty_folder(tmp_path):
    write_synthetic_dataset(tmp_path, 2, 2, 16, 16)
    with pytest.raises(FileExistsError, match="not empty"):
        write_synthetic_dataset(tmp_path, 1, 2, 16, 16)
    write_synthetic_dataset(tmp_path, 1, 2, 16, 16, overwrite=True)
    assert len(find_pairs(tmp_path, "generic")) == 1                  # stale sequences removed


def test_synthetic_dataset_from_clean_material(tmp_path):
    source = tmp_path / "source"
    (source / "clip").mkdir(parents=True)
    frames = (procedural_scene(6, 20, 28, rng(13)) * 255).astype(np.uint8)
    for t, frame in enumerate(frames):
        cv2.imwrite(str(source / "clip" / f"{t}.png"), frame[..., ::-1])
    cv2.imwrite(str(source / "photo.png"), frames[0][..., ::-1])
    write_synthetic_dataset(tmp_path / "out", 2, 4, None, None, clean_source=source)
    pairs = find_pairs(tmp_path / "out", "generic")
    clean = read_frames(pairs[0].clean)                                # item 0: the frame folder
    start = [t for t in range(3) if np.array_equal(frames[t], clean[0])]
    assert start and np.array_equal(frames[start[0]:start[0] + 4], clean)
    assert pairs[1].size == (20, 28) and pairs[1].num_frames == 4     # item 1: the photo, native size


def test_too_short_clean_source_is_a_clear_error(tmp_path):
    (tmp_path / "src" / "clip").mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "src" / "clip" / "0.png"), np.zeros((16, 16, 3), np.uint8))
    with pytest.raises(ValueError, match="has 1 frames, fewer than the 3"):
        write_synthetic_dataset(tmp_path / "out", 1, 3, 16, 16, clean_source=tmp_path / "src")
    assert not (tmp_path / "out").exists()                            # checked before writing anything


# ----------------------------------------------------------------------------------------------------
# the command


def test_synth_command_writes_a_generic_tree(tmp_path):
    out = tmp_path / "synth"
    result = CliRunner().invoke(main, ["synth", str(out), "-n", "2", "-t", "3", "--size", "24x32",
                                       "--density", "20,40", "--angle", "10", "--drops", "--seed", "3"])
    assert result.exit_code == 0, result.output
    pairs = find_pairs(out, "generic")
    assert len(pairs) == 2 and pairs[0].num_frames == 3 and pairs[0].size == (24, 32)
    again = CliRunner().invoke(main, ["synth", str(out), "-n", "1"])
    assert again.exit_code == 1 and "not empty" in again.output and "Traceback" not in again.output


@pytest.mark.parametrize("args, message", [
    (["--density", "3,x"], "not a range"),
    (["--size", "12by12"], "not a frame size"),
    (["--size", "native"], "needs --clean"),
    (["--brightness", "0.5,3"], "brightness"),
    (["--camera-speed", "-2"], "--camera-speed"),
    (["--camera-speed", "nan"], "--camera-speed"),
    (["--camera-zoom", "100"], "--camera-zoom"),
    (["--camera-roll", "-1"], "--camera-roll"),
    (["--camera-closeup", "0.9"], "--camera-closeup"),
])
def test_synth_command_rejects_bad_options(tmp_path, args, message):
    result = CliRunner().invoke(main, ["synth", str(tmp_path / "out"), "-n", "1", *args])
    assert result.exit_code != 0 and message in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("option", ["--camera-speed", "--camera-zoom", "--camera-roll", "--camera-closeup"])
def test_a_camera_motion_with_clean_material_is_refused_not_ignored(tmp_path, option):
    clips = tmp_path / "clips" / "seq"
    clips.mkdir(parents=True)
    for i in range(3):
        cv2.imwrite(str(clips / f"{i:04d}.png"), np.full((24, 32, 3), 90 + i, np.uint8))
    result = CliRunner().invoke(main, ["synth", str(tmp_path / "out"), "-n", "1", "-t", "3", "--size", "native",
                                       "--clean", str(tmp_path / "clips"), option, "12"])
    assert result.exit_code != 0 and option in result.output and "--clean" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "out").exists()


def test_the_camera_options_move_over_photos_in_a_clean_folder(tmp_path):
    from training.scenes import CameraMotion, FolderClips

    photos = tmp_path / "photos"
    photos.mkdir()
    texture = np.random.default_rng(3).integers(0, 256, (120, 160, 3), dtype=np.uint8)
    cv2.imwrite(str(photos / "texture.png"), texture)
    fast = CameraMotion(pan=24.0, zoom=0.4, roll=20.0)
    source = FolderClips(photos)
    assert source.has_photos
    image = read_frames([photos / "texture.png"])[0]
    moved = source.clip(0, 4, 40, 48, np.random.default_rng([5, 0]), fast)
    np.testing.assert_array_equal(moved, photo_scene(image, 4, 40, 48, np.random.default_rng([5, 0]), fast))
    default = source.clip(0, 4, 40, 48, np.random.default_rng([5, 0]))
    np.testing.assert_array_equal(default, photo_scene(image, 4, 40, 48, np.random.default_rng([5, 0])))
    assert not np.array_equal(moved, default)

    result = CliRunner().invoke(main, ["synth", str(tmp_path / "out"), "-n", "1", "-t", "4", "--size", "40x48",
                                       "--clean", str(photos), "--camera-speed", "24", "--no-drops"])
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "out" / "synth.json").read_text())
    assert record["camera"]["pan"] == 24.0


def test_synth_help_teaches():
    result = CliRunner().invoke(main, ["synth", "--help"])
    assert result.exit_code == 0 and "Examples:" in result.output and "--drops" in result.output
