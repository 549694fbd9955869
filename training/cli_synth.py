"""``rainmamba synth``: write a paired rainy/clean dataset with synthetic, temporally coherent rain."""
from __future__ import annotations

import dataclasses

import click

from models.sizes import SizeParam

from .scenes import DEFAULT_CAMERA_SPEED, SCENE_KINDS, CameraMotion
from .synth import DROP_KINDS, RainParams, write_synthetic_dataset

_DEFAULTS = RainParams()

# What ``--diverse`` switches on (issue 14's kinds of rain), each still overridable by its own option.
DIVERSE = {
    "exposure": (1.0, 1.25),     # streaks lengthened, dimmed by the exposure: with the default --length at
                                 # most 50 px long, where ship-eval's unseen long streaks begin
    "layers": 3,                 # depth layers: parallax
    "defocus": (0.0, 1.5),       # layers away from the focal depth blurred up to this sigma
    "dark_prob": 0.15,           # rain darker than the scene
    "splash_prob": 0.3,
    "veil_prob": 0.3,            # mist and veiling
    "overcast_prob": 0.25,       # dimmed, flattened light, on clean and rainy alike
    "drop_prob": 0.5,            # lens drops in half the sequences ...
    "drop_kinds": DROP_KINDS,    # ... of every kind
}


class _RangeType(click.ParamType):
    """``lo,hi`` (or one number for a fixed value) -> (lo, hi)."""

    name = "lo,hi"

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        parts = [p.strip() for p in str(value).split(",")]
        try:
            numbers = [float(p) for p in parts]
        except ValueError:
            numbers = []
        if len(numbers) not in (1, 2):
            self.fail(f"{value!r} is not a range: write two numbers as lo,hi (e.g. 10,80) or one number.",
                      param, ctx)
        return (numbers[0], numbers[-1])


_RANGE = _RangeType()


class _KindsType(click.ParamType):
    """``refract,blur`` -> ("refract", "blur"), each one of DROP_KINDS."""

    name = "kind,..."

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        kinds = tuple(k.strip() for k in str(value).split(",") if k.strip())
        unknown = [k for k in kinds if k not in DROP_KINDS]
        if not kinds or unknown:
            self.fail(f"{value!r} is not a list of lens-drop kinds: choose from {', '.join(DROP_KINDS)}, "
                      f"comma-separated (e.g. refract,smear).", param, ctx)
        return kinds


def _shown(value) -> str:
    if isinstance(value, tuple) and all(isinstance(v, str) for v in value):
        return ",".join(value)
    if isinstance(value, tuple):
        return ",".join(f"{v:g}" for v in value)
    return f"{value:g}"


def _default_text(field: str) -> str:
    text = f"default: {_shown(getattr(_DEFAULTS, field))}"
    if field in DIVERSE:
        text += f"; --diverse: {_shown(DIVERSE[field])}"
    return f"[{text}]"


def _range_option(name: str, what: str):
    field = name.lstrip("-").replace("-", "_")
    return click.option(name, field, type=_RANGE, default=None, help=f"{what} {_default_text(field)}")


def _prob_option(name: str, what: str, of: str = "sequences"):
    field = name.lstrip("-").replace("-", "_")
    return click.option(name, field, type=click.FloatRange(0, 1), default=None,
                        help=f"Share of {of} {what} {_default_text(field)}")


@click.command("synth", context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.option("--clean", "clean_source", type=click.Path(exists=True, file_okay=False),
              help="Folder of clean material: videos, per-sequence frame folders and/or photos. "
                   "Default: generated scenes (see --scenes).")
@click.option("--scenes", type=click.Choice(SCENE_KINDS), default="procedural", show_default=True,
              help="Clean clips to use without --clean: procedural scenes, scikit-image's sample photos "
                   "(needs scikit-image), a mix of both, or 'varied': the mix plus a quarter of plain "
                   "scenes (flat colours, soft gradients, skies) that a model must leave as they are, or "
                   "'foliage': grass, fur and twigs, thin strokes like rain streaks but fixed in the scene, or "
                   "'structures': poles, cables, lit rims and glints, thin bright lines and spots on a darker "
                   "ground; all filmed by a moving camera.")
# the camera options' bounds are checked once, by CameraMotion, whose errors name these options
@click.option("--camera-speed", type=float, default=DEFAULT_CAMERA_SPEED, show_default=True,
              help="Fastest pan of the camera filming generated scenes and --clean photos (videos keep their own "
                   "motion), output pixels per frame, at least 0 (each sequence "
                   "draws its speed up to this). Footage pans far faster than the default: a model that "
                   "never saw it blends misaligned frames of a clean fast pan.")
@click.option("--camera-zoom", type=float, default=CameraMotion().zoom * 100, show_default=True,
              help="Largest zoom change of that camera over a sequence, percent (in or out), "
                   "0 to below 100. "
                   "Zooms and rolls move a frame's edges by more pixels the larger the frame, so footage "
                   "filmed at 480p or above moves much faster than a small training clip at the defaults.")
@click.option("--camera-roll", type=float, default=CameraMotion().roll, show_default=True,
              help="Largest roll of that camera over a sequence, degrees, at least 0.")
@click.option("--camera-closeup", type=float, default=CameraMotion().closeup, show_default=True,
              help="Closest framing of that camera, as a multiple of the widest one (which shows nearly the "
                   "whole scene or photo), at least 1; each sequence draws its framing between the two. A "
                   "photo framed whole in a small training frame is shrunk several times, far finer than "
                   "480p footage of it: 8 films scikit-image's 512-pixel photos in a 128x128 frame at up to "
                   "twice their own scale.")
@click.option("--sequences", "-n", type=click.IntRange(min=1), default=100, show_default=True,
              help="Number of sequences to write.")
@click.option("--frames", "-t", type=click.IntRange(min=1), default=10, show_default=True,
              help="Frames per sequence (at least the model's T, e.g. 5 or 7).")
@click.option("--size", type=SizeParam(native=True), default="128x128", show_default=True,
              help="Frame size HEIGHTxWIDTH; 'native' keeps the size of the --clean material.")
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed, same dataset.")
@_range_option("--density", "Streaks per 100x100 pixels.")
@_range_option("--angle", "Wind angle from vertical, degrees (positive leans right).")
@_range_option("--length", "Streak length, pixels.")
@_range_option("--width", "Streak width, pixels.")
@_range_option("--speed", "Streak speed, pixels per frame.")
@_range_option("--brightness", "Streak brightness, 0..1.")
@_range_option("--fog", "Rain fog opacity, 0..1.")
@_prob_option("--fog-prob", "with rain fog.")
@click.option("--drops/--no-drops", default=None,
              help="Raindrops on the lens in every / no sequence (persisting, sliding, refracting or "
                   "blurring the scene) [default: --drop-prob].")
@_prob_option("--drop-prob", "with lens drops, when neither --drops nor --no-drops is given.")
@click.option("--drop-kinds", type=_KindsType(), default=None,
              help=f"Lens-drop kinds, one per sequence: refract (a flipped, magnified view), blur (an "
                   f"out-of-focus blob), smear (a sliding trail) {_default_text('drop_kinds')}")
@_range_option("--drop-count", "Lens drops per 256x256 pixels.")
@_range_option("--drop-radius", "Lens drop radius as a fraction of the frame's shorter side.")
@click.option("--diverse", is_flag=True,
              help="Turn on the mix of rain kinds shown as '--diverse:' in these defaults: exposure blur, "
                   "3 depth layers with defocus, dark rain, splashes, mist, overcast light, lens drops of "
                   "every kind in half the sequences. Options given explicitly win.")
@_range_option("--exposure", "Motion blur by the exposure: streak length x this, brightness / this.")
@click.option("--layers", type=click.IntRange(min=1), default=None,
              help=f"Depth layers of streaks; far layers are shorter, thinner, slower, dimmer (parallax) "
                   f"{_default_text('layers')}")
@_range_option("--defocus", "Blur sigma (px) of the streak layer farthest from the focal depth.")
@_prob_option("--dark-prob", "whose streaks are darker than the scene.")
@_prob_option("--backlit-prob", "whose streaks are lit whatever their depth: thin far streaks as bright as near "
                                "ones, as rain lit from behind by the sun or a lamp.")
@_prob_option("--crisp-prob", "whose streaks are drawn crisp: one pixel sharp, without anti-aliasing or "
                              "softening, as a short shutter or a sharpened video shows them.")
@_prob_option("--splash-prob", "with splashes in the lower half of the frame.")
@_prob_option("--veil-prob", "with mist / veiling.")
@_prob_option("--overcast-prob", "with overcast light: dimmed and flattened, in clean and rainy alike.")
@_prob_option("--clean-prob", "with no rain at all (rainy == clean), so a model learns to keep clean "
                              "input as it is.")
@_prob_option("--haze-prob", "lit bright and flat: sunlit haze, snow or glare lifting the whole scene towards a "
                             "pale level, which looks like veiled rain, so that a model learns to keep it.",
              of="the rain-free pairs (--clean-prob)")
@_range_option("--haze", "How far a hazy rain-free scene is lifted towards its pale level, 0..1.")
@click.option("--overwrite", is_flag=True,
              help="Replace rainy/, clean/ and synth.json of a non-empty OUT_DIR.")
def synth_command(out_dir: str, clean_source: str | None, scenes: str, camera_speed: float,
                  camera_zoom: float, camera_roll: float, camera_closeup: float, sequences: int,
                  frames: int, size: tuple[int, int] | None, seed: int, drops: bool | None, diverse: bool,
                  overwrite: bool, **rain) -> None:
    """Render temporally coherent synthetic rain and write a paired dataset to OUT_DIR.

    Rain streaks of random density, angle, length, width, speed and brightness move from frame to
    frame; optional rain fog and raindrops on the lens, and with --diverse (or each option alone)
    exposure blur, depth layers, defocus, dark rain, splashes, mist and overcast light; backlit and crisp
    streaks have their own options only. The result is in the generic layout,
    OUT_DIR/rainy/<seq>/%06d.png + OUT_DIR/clean/<seq>/%06d.png, plus OUT_DIR/synth.json, ready for
    `rainmamba train --layout generic`. Ranges are lo,hi (one number fixes the value); each
    sequence draws its own values from them.

    \b
    Examples:
      rainmamba synth data/synth                      # 100 procedural 10x128x128 sequences
      rainmamba synth data/synth -n 500 --size 256x256 --density 30,150 --drops
      rainmamba synth data/mine --clean my_clean_videos/ --size native --frames 7
      rainmamba synth data/light --density 5,20 --angle -5,5 --fog-prob 0
      rainmamba synth data/diverse --scenes mixed --diverse --clean-prob 0.15
      rainmamba synth data/fastcam --scenes varied --camera-speed 24 --clean-prob 0.3
      rainmamba synth data/zoomcam --scenes varied --camera-zoom 50 --camera-roll 24
      rainmamba synth data/closeup --scenes varied --camera-closeup 8
      rainmamba synth data/foliage --scenes foliage --clean-prob 0.5
      rainmamba synth data/hazy --scenes foliage --clean-prob 0.5 --haze-prob 0.6
      rainmamba synth data/poles --scenes structures --camera-speed 24 --clean-prob 0.6
      rainmamba synth data/backlit --diverse --backlit-prob 0.6 --crisp-prob 0.5
      rainmamba train --preset tiny --data data/synth --layout generic --out runs/synth
    """
    overrides = dict(DIVERSE) if diverse else {}
    overrides.update({name: value for name, value in rain.items() if value is not None})
    if size is None and clean_source is None:
        raise click.BadParameter("'native' needs --clean: generated scenes have no size of their own.",
                                 param_hint="--size")
    try:
        params = dataclasses.replace(_DEFAULTS, **overrides)
        camera = CameraMotion(pan=camera_speed, zoom=camera_zoom / 100, roll=camera_roll, closeup=camera_closeup)
        from tqdm import tqdm

        with tqdm(total=sequences, unit="seq", desc="synth", disable=None) as bar:
            out = write_synthetic_dataset(out_dir, sequences, frames, *(size or (None, None)), seed=seed,
                                          params=params, clean_source=clean_source, drops=drops,
                                          scenes=scenes, overwrite=overwrite, progress=bar.update,
                                          camera=camera)
    except (ValueError, FileExistsError, ImportError, OSError) as err:
        raise click.ClickException(str(err)) from err
    click.echo(f"Wrote {sequences} sequences of {frames} frames to {out} (generic layout). Train on them "
               f"with: rainmamba train --data {out} --layout generic")
