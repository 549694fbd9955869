"""The optional rain of ``training.synth`` (issue 14): exposure, depth layers, defocus, dark rain, splashes,
mist, overcast, lens-drop kinds and rain-free pairs, each switched on alone."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from training.heldout import read_train_params
from training.synth import RainParams, add_rain, add_rain_pair, render_streaks, write_synthetic_dataset

QUIET = dict(fog_prob=0.0, drop_prob=0.0, angle=(0.0, 0.0), angle_jitter=0.0)
BLACK = np.zeros((4, 64, 64, 3), np.float32)
GREY = np.full((4, 64, 64, 3), 0.5, np.float32)


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _luma(clip: np.ndarray) -> np.ndarray:
    return clip.mean(-1)


def test_exposure_makes_streaks_longer_and_dimmer():
    lit, peak = [], []
    for exposure in (1.0, 2.5):
        params = RainParams(density=(40, 40), length=(10, 10), exposure=(exposure, exposure), **QUIET)
        layers = [_luma(add_rain(BLACK, params, rng(s))) for s in range(4)]
        lit.append(np.mean([(layer > 0.01).mean() for layer in layers]))
        peak.append(np.mean([np.percentile(layer[layer > 0.03], 90) for layer in layers]))
    assert lit[1] > 1.5 * lit[0] and peak[1] < peak[0]


def _explained(layer: np.ndarray, shift: int) -> float:
    """The share of frame 1's rain pixels that are frame 0's moved down by ``shift`` rows."""
    lit = layer > 0.02
    before, after = lit[0, :-shift], lit[1, shift:]
    return float((before & after).sum() / after.sum())


def test_depth_layers_fall_at_different_speeds():
    one = RainParams(density=(30, 30), speed=(12, 12), length=(3, 3), width=(1, 1), **QUIET)
    for seed in range(2):
        single = _luma(add_rain(BLACK, one, rng(seed)))
        layered = _luma(add_rain(BLACK, one.replace(layers=2), rng(seed)))
        assert _explained(single, 12) > 0.9 and _explained(single, 6) < 0.15
        # the near layer moves 12 px a frame, the far one 6: parallax
        assert _explained(layered, 12) > 0.5 and _explained(layered, 6) > 0.2


def test_defocus_softens_streaks():
    def sharpness(params: RainParams, seed: int) -> float:
        layer = _luma(add_rain(BLACK, params, rng(seed)))
        return float(np.mean([np.abs(cv2.Laplacian(f, cv2.CV_32F)).mean() / max(f.mean(), 1e-6) for f in layer]))

    base = RainParams(density=(40, 40), layers=3, **QUIET)
    sharp = np.mean([sharpness(base, seed) for seed in range(4)])
    soft = np.mean([sharpness(base.replace(defocus=(4.0, 4.0)), seed) for seed in range(4)])
    assert soft < 0.8 * sharp


def _side_by_side(lit: np.ndarray) -> float:
    """The share of lit pixels whose right-hand neighbour is lit too (vertical 1-px lines: about 0)."""
    return float((lit[..., :-1] & lit[..., 1:]).sum() / max(lit.sum(), 1))


def test_crisp_streaks_are_one_pixel_sharp():
    thin = RainParams(density=(10, 10), width=(1, 1), **QUIET)
    for seed in range(3):
        soft = _luma(add_rain(BLACK, thin, rng(seed)))
        crisp = _luma(add_rain(BLACK, thin.replace(crisp_prob=1.0), rng(seed)))
        assert _side_by_side(crisp > 0.01) < 0.2 < 0.6 < _side_by_side(soft > 0.01)   # a neighbour now and then
        assert crisp.max() > soft.max()                   # all its light in one pixel, not spread over three


def test_backlit_streaks_shine_whatever_their_depth():
    params = RainParams(density=(60, 60), width=(1, 3), brightness=(0.2, 0.8), **QUIET)
    for seed in range(3):
        normal = render_streaks(3, 64, 64, params, rng(seed), crisp=True)
        backlit = render_streaks(3, 64, 64, params, rng(seed), crisp=True, backlit=True)
        assert np.array_equal(normal > 0, backlit > 0)    # the same streaks in the same places ...
        thin = (normal > 0) & ~np.roll(normal > 0, 1, axis=-1) & ~np.roll(normal > 0, -1, axis=-1)
        assert backlit[thin].mean() > 1.4 * normal[thin].mean()   # ... the thin, far ones much brighter
        assert backlit.max() <= 0.8 + 1e-6                # within the brightness range all the same

    def lit_mean(p: RainParams) -> float:                 # through add_rain: the option reaches the renderer
        clips = [_luma(add_rain(BLACK, p, rng(s))) for s in range(6)]
        return float(np.mean([clip[clip > 0.02].mean() for clip in clips]))

    crisp = params.replace(crisp_prob=1.0, width=(1, 1))     # every streak one pixel wide
    assert lit_mean(crisp.replace(backlit_prob=1.0)) > 1.25 * lit_mean(crisp)


def test_dark_rain_only_takes_light_away():
    params = RainParams(density=(60, 60), dark_prob=1.0, **QUIET)
    rainy = add_rain(GREY, params, rng(3))
    assert (rainy <= GREY + 1e-6).all() and (rainy < GREY - 0.05).mean() > 0.01


def test_splashes_land_in_the_lower_half_and_last_briefly():
    params = RainParams(density=(0, 0), splash_prob=1.0, splash_count=(3, 3), **QUIET)
    layer = _luma(add_rain(BLACK, params, rng(4)))
    lit = layer > 0.05
    assert lit[:, 32:].sum() > 20 and lit[:, :28].sum() == 0
    assert not np.array_equal(lit[0], lit[3])


def test_mist_lifts_every_pixel():
    params = RainParams(density=(0, 0), veil_prob=1.0, veil=(0.2, 0.2), **QUIET)
    rainy = add_rain(BLACK, params, rng(5))
    assert rainy.min() > 0.05 and rainy.std() > 0.005          # everywhere, but not flat


def test_overcast_dims_clean_and_rainy_alike():
    params = RainParams(density=(0, 0), overcast_prob=1.0, overcast=(0.3, 0.3), **QUIET)
    scene = np.random.default_rng(0).uniform(0.2, 0.8, (3, 32, 32, 3)).astype(np.float32)
    clean, rainy = add_rain_pair(scene, params, rng(6))
    assert clean.mean() == pytest.approx(scene.mean() * 0.7, rel=1e-4)
    assert clean.std() < 0.7 * scene.std()                      # contrast lost too
    assert np.allclose(rainy, clean, atol=1e-6)                 # no streaks asked for: no rain


def test_rain_free_pairs_map_clean_to_itself():
    clean, rainy = add_rain_pair(GREY, RainParams(clean_prob=1.0), rng(7))
    assert np.array_equal(clean, GREY) and np.array_equal(rainy, GREY)
    _, rainy = add_rain_pair(GREY, RainParams(clean_prob=0.0, density=(50, 50)), rng(7))
    assert not np.array_equal(rainy, GREY)


def test_haze_lights_rain_free_pairs_bright_and_flat():
    scene = np.random.default_rng(0).uniform(0.0, 0.5, (3, 32, 32, 3)).astype(np.float32)
    clean, rainy = add_rain_pair(scene, RainParams(clean_prob=1.0, haze_prob=1.0, haze=(0.5, 0.5)), rng(9))
    assert np.array_equal(clean, rainy)                          # scene light, not rain: kept as it is
    assert clean.mean() > scene.mean() + 0.2 and clean.std() < 0.6 * scene.std()
    assert np.allclose(clean[0] - clean[1], (scene[0] - scene[1]) * 0.5, atol=1e-6)   # one level for the whole clip


def test_haze_leaves_rainy_pairs_and_old_seeds_alone():
    params = RainParams(clean_prob=0.5, haze_prob=1.0, density=(30, 30))
    pairs = [add_rain_pair(GREY, params, rng(seed)) for seed in range(8)]
    rainy_pairs = [clean for clean, rainy in pairs if not np.array_equal(clean, rainy)]
    assert 0 < len(rainy_pairs) < 8 and all(np.array_equal(clean, GREY) for clean in rainy_pairs)
    assert all(clean.mean() > 0.52 for clean, rainy in pairs if np.array_equal(clean, rainy))   # lifted
    for seed in range(6):                          # haze_prob 0 draws nothing: datasets of a seed stay as they were
        old = add_rain_pair(GREY, RainParams(clean_prob=0.5), rng(seed))
        new = add_rain_pair(GREY, RainParams(clean_prob=0.5, haze=(0.1, 0.9)), rng(seed))
        assert all(np.array_equal(a, b) for a, b in zip(old, new))


@pytest.mark.parametrize("kind", ["refract", "blur", "smear"])
def test_each_lens_drop_kind_changes_the_view(kind):
    scene = np.random.default_rng(1).uniform(0, 1, (2, 64, 64, 3)).astype(np.float32)
    params = RainParams(density=(0, 0), drop_prob=1.0, drop_count=(100, 100), drop_kinds=(kind,),
                        fog_prob=0.0)
    rainy = add_rain(scene, params, rng(8))
    changed = np.abs(rainy - scene).max(-1) > 0.05
    assert changed[0].mean() > 0.01
    if kind == "smear":              # trails: taller than wide
        ys, xs = np.nonzero(changed[0])
        assert np.ptp(ys) > np.ptp(xs) * 0.5


def test_smear_trails_cover_more_than_round_drops():
    scene = np.random.default_rng(1).uniform(0, 1, (1, 96, 96, 3)).astype(np.float32)
    area = {}
    for kind in ("refract", "smear"):
        params = RainParams(density=(0, 0), drop_prob=1.0, drop_count=(40, 40), drop_kinds=(kind,), fog_prob=0.0)
        area[kind] = np.mean([(np.abs(add_rain(scene, params, rng(s)) - scene).max(-1) > 0.02).mean()
                              for s in range(3)])
    assert area["smear"] > 1.5 * area["refract"]


@pytest.mark.parametrize("changes, words", [({"layers": 0}, "layers=0"), ({"drop_kinds": ("wet",)}, "drop_kinds"),
                                            ({"dark_prob": 2.0}, "dark_prob"), ({"exposure": (0.5, 1.0)}, "exposure"),
                                            ({"overcast": (0.2, 1.0)}, "overcast"),
                                            ({"haze_prob": 1.5}, "haze_prob"), ({"haze": (0.5, 1.2)}, "haze"),
                                            ({"haze_prob": 0.5}, "clean_prob"), ({"backlit_prob": 2.0}, "backlit_prob"),
                                            ({"crisp_prob": -0.1}, "crisp_prob")])
def test_bad_options_are_named(changes, words):
    with pytest.raises(ValueError, match=words):
        RainParams(**changes)


def test_datasets_record_and_write_the_new_options(tmp_path):
    params = RainParams(overcast_prob=1.0, overcast=(0.4, 0.4), density=(0, 0), drop_kinds=("blur", "smear"),
                        fog_prob=0.0)
    write_synthetic_dataset(tmp_path, 1, 2, 32, 32, params=params)
    assert read_train_params(tmp_path) == params
    clean = cv2.imread(str(tmp_path / "clean" / "seq_00000" / "000000.png"))
    rainy = cv2.imread(str(tmp_path / "rainy" / "seq_00000" / "000000.png"))
    assert np.array_equal(clean, rainy)        # overcast is in the clean frames too; no rain was asked for
    unlit = write_synthetic_dataset(tmp_path / "plain", 1, 2, 32, 32, params=params.replace(overcast_prob=0.0))
    assert cv2.imread(str(unlit / "clean" / "seq_00000" / "000000.png")).mean() > clean.mean() * 1.3


# ----------------------------------------------------------------------------------------------------
# the command line


def _synth(tmp_path, name: str, *args: str):
    from click.testing import CliRunner

    from models.cli import main

    out = tmp_path / name
    result = CliRunner().invoke(main, ["synth", str(out), "-n", "3", "-t", "2", "--size", "24x24", *args])
    return out, result


def test_synth_diverse_records_the_mix_and_explicit_options_win(tmp_path):
    from training.cli_synth import DIVERSE

    out, result = _synth(tmp_path, "mix", "--diverse", "--layers", "2", "--clean-prob", "0.15")
    assert result.exit_code == 0, result.output
    params = read_train_params(out)
    assert params == RainParams().replace(**{**DIVERSE, "layers": 2, "clean_prob": 0.15})
    plain, result = _synth(tmp_path, "plain")
    assert result.exit_code == 0, result.output
    assert read_train_params(plain) == RainParams()          # without --diverse nothing new is on


def test_synth_each_new_option_reaches_the_renderer(tmp_path):
    out, result = _synth(tmp_path, "each", "--clean-prob", "1", "--exposure", "1.5,2", "--defocus", "0,1",
                         "--dark-prob", "0.2", "--splash-prob", "0.3", "--veil-prob", "0.4",
                         "--overcast-prob", "0.5", "--drop-prob", "0.6", "--drop-kinds", "blur,smear",
                         "--haze-prob", "0.7", "--haze", "0.3,0.4", "--backlit-prob", "0.8",
                         "--crisp-prob", "0.9")
    assert result.exit_code == 0, result.output
    params = read_train_params(out)
    assert (params.exposure, params.defocus, params.dark_prob, params.splash_prob, params.veil_prob,
            params.overcast_prob, params.drop_prob, params.drop_kinds, params.clean_prob, params.haze_prob,
            params.haze, params.backlit_prob, params.crisp_prob) == \
        ((1.5, 2.0), (0.0, 1.0), 0.2, 0.3, 0.4, 0.5, 0.6, ("blur", "smear"), 1.0, 0.7, (0.3, 0.4), 0.8, 0.9)
    for seq in ("seq_00000", "seq_00002"):                   # --clean-prob 1: every pair rain-free
        clean = cv2.imread(str(out / "clean" / seq / "000001.png"))
        assert np.array_equal(clean, cv2.imread(str(out / "rainy" / seq / "000001.png")))
    forced, result = _synth(tmp_path, "forced", "--diverse", "--no-drops")
    assert result.exit_code == 0 and read_train_params(forced).drop_prob == 0.0


@pytest.mark.parametrize("args, words", [(["--drop-kinds", "refract,wet"], "--drop-kinds"),
                                         (["--clean-prob", "1.5"], "--clean-prob"),
                                         (["--layers", "0"], "--layers"),
                                         (["--exposure", "0.5,1"], "exposure"),
                                         (["--haze-prob", "2"], "--haze-prob"), (["--haze", "0.5,1.5"], "haze"),
                                         (["--haze-prob", "0.5"], "--clean-prob"),
                                         (["--crisp-prob", "1.5"], "--crisp-prob"),
                                         (["--backlit-prob", "x"], "--backlit-prob")])
def test_synth_bad_new_options_are_named(tmp_path, args, words):
    _, result = _synth(tmp_path, "bad", *args)
    assert result.exit_code != 0 and words in result.output and "Traceback" not in result.output


def test_synth_help_teaches_the_mix():
    from click.testing import CliRunner

    from models.cli import main

    text = CliRunner().invoke(main, ["synth", "--help"]).output
    for option in ("--diverse", "--clean-prob", "--exposure", "--layers", "--drop-kinds", "--overcast-prob",
                   "--haze-prob", "--backlit-prob", "--crisp-prob"):
        assert option in text
    assert "--diverse: 3" in text                             # the mix's value shown beside each default
