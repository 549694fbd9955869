"""The one scene-cut rule: no false cut on rainy shots, every cut found, flashes cut around, random-access safe."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from models import scenes
from tests.models.scene_corpus import FLASH, Clip, corpus_clips, count_errors, mean_luma_rule


@pytest.fixture(scope="module")
def clips() -> list[Clip]:
    return list(corpus_clips())


def detect(video: np.ndarray) -> set[int]:
    return set(scenes.detect_cuts(video))


def test_no_false_cut_on_any_continuous_rainy_shot(clips):
    shots = [clip for clip in clips if clip.kind == "shot"]
    assert len(shots) >= 30 and {c.name.split("/")[-1] for c in shots} >= {"light", "heavy", "torrential", "drops"}
    found = {clip.name: sorted(detect(clip.video)) for clip in shots}
    assert {name: cuts for name, cuts in found.items() if cuts} == {}


@pytest.mark.parametrize("kind", ["cut", "similar", "flash"])
def test_every_cut_is_found_and_nothing_else(clips, kind):
    chosen = [clip for clip in clips if clip.kind == kind]
    errors = count_errors(detect, chosen)
    assert (errors.total_false, errors.total_missed, errors.wrong) == (0, 0, [])


def test_a_fade_is_not_chopped_into_shots(clips):
    fades = [clip for clip in clips if clip.kind == "fade"]
    assert fades and all(len(detect(clip.video)) <= 1 for clip in fades)


def test_the_old_mean_luma_rule_fires_on_rain(clips):
    """The comparison the README reports: today's rule on the same corpus (it must make false cuts)."""
    shots = [clip for clip in clips if clip.kind == "shot" and not clip.name.endswith("/dry")]
    assert count_errors(mean_luma_rule(0.1), shots).total_false > len(shots)


def test_a_flash_is_a_shot_of_its_own(clips):
    flash = next(clip for clip in clips if clip.kind == "flash")
    assert detect(flash.video) == {FLASH, FLASH + 1}


def test_the_threshold_trades_cuts_for_misses(clips):
    clip = next(c for c in clips if c.kind == "cut")
    assert detect(clip.video) == clip.cuts
    assert scenes.detect_cuts(clip.video, threshold=1.0) == []


def test_each_decision_reads_frames_k_minus_2_to_k_plus_1_only(clips):
    clip = next(c for c in clips if c.kind == "similar")
    signatures = [scenes.frame_signature(f) for f in clip.video]
    whole = scenes.cuts_from_signatures(signatures)
    n = len(signatures)
    for k in range(1, n):
        window = [signatures[i] if 0 <= i < n else None for i in range(k - 2, k + 2)]
        assert scenes.is_cut(window) == (k in whole)
        # what lies outside the window cannot change the answer
        noise = np.random.default_rng(k).random((n, 3, scenes.GRID, scenes.GRID)).astype(np.float32)
        altered = [signatures[i] if k - 2 <= i <= k + 1 else noise[i] for i in range(n)]
        assert (k in scenes.cuts_from_signatures(altered)) == (k in whole)


def test_the_stream_marks_exactly_the_batch_cuts(clips):
    clip = next(c for c in clips if c.kind == "cut")
    video = list(np.concatenate([clip.video, clip.video[:10]]))            # shots A, B, A
    pairs = list(scenes.mark_cuts(iter(video)))
    assert len(pairs) == len(video) and all(f is g for (f, _), g in zip(pairs, video))
    assert [k for k, (_, cut) in enumerate(pairs) if cut] == scenes.detect_cuts(video)
    assert scenes.detect_cuts(video) == [10, 20]
    [(only, flag)] = scenes.mark_cuts([video[0]])
    assert only is video[0] and flag is False
    assert list(scenes.mark_cuts([])) == []


def test_closing_the_stream_closes_its_source():
    closed = []

    def source():
        try:
            while True:
                yield np.zeros((3, 16, 16), np.float32)
        finally:
            closed.append(True)

    stream = scenes.mark_cuts(source())
    next(stream)
    stream.close()
    assert closed == [True]


def test_signature_is_the_same_for_uint8_float_torch_and_larger_frames(clips):
    frame = clips[0].video[0]
    reference = scenes.frame_signature(frame)
    as_uint8 = (frame * 255).round().astype(np.uint8)
    assert np.abs(scenes.frame_signature(as_uint8) - reference).max() < 0.01
    as_uint16 = as_uint8.astype(np.uint16) * 257
    assert np.abs(scenes.frame_signature(as_uint16) - scenes.frame_signature(as_uint8)).max() < 1e-4
    assert np.array_equal(scenes.frame_signature(torch.from_numpy(frame)), reference)
    larger = np.repeat(np.repeat(frame, 4, axis=1), 4, axis=2)          # 256x384: area-averaged back first
    assert np.abs(scenes.frame_signature(larger) - reference).mean() < 0.01
    uneven = np.pad(np.repeat(np.repeat(frame, 3, axis=1), 3, axis=2), ((0, 0), (0, 2), (0, 1)), mode="edge")
    assert np.abs(scenes.frame_signature(uneven) - reference).mean() < 0.01    # 194x289: no whole factor to 64
    assert reference.shape == (3, scenes.GRID, scenes.GRID) and reference.dtype == np.float32


def test_a_frame_that_is_not_rgb_planar_is_refused():
    with pytest.raises(ValueError, match=r"RGB \(3, H, W\)"):
        scenes.frame_signature(np.zeros((16, 16, 3), np.float32))
