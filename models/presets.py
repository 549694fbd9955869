"""The registry of RainMamba presets: one per released checkpoint, plus ``tiny``.

A preset holds everything that is not in the weights, in four parts with one job each: the
architecture (the widths and depths that shape the tensors), the test protocol (the window and tile
of the authors' evaluation), the training recipe (the authors' optimiser, batch and loss schedule),
and where the released weights can be downloaded. docs/NETWORK.md describes what each number means.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass(frozen=True)
class Architecture:
    """The hyper-parameters that shape the network's tensors (docs/NETWORK.md, "Architecture")."""

    num_features: int                       # C: width of the Mamba stages at H/4
    encoder_depths: tuple[int, ...] = (3, 3, 9, 3)
    encoder_widths: tuple[int, ...] = (96, 192, 384, 768)
    blocks: tuple[int, int, int] = (2, 3, 2)  # Global+Local pairs at H/4, H/8, then H/4 again
    decoder_width: int = 128                # channels before the first PixelShuffle
    residual: bool = False                  # add the input frames to the output (not in the official nets)

    @property
    def bytes_per_pixel(self) -> int:
        """A bound on a float32 forward's peak memory per window pixel (T x H x W): measured peaks were
        7 to 8.6 bytes per feature channel C (C=32: 180-270, C=128: 1075-1107 bytes), so 9 C."""
        return 9 * self.num_features


@dataclass(frozen=True)
class TestProtocol:
    """The authors' evaluation window (docs/NETWORK.md, "Test protocol")."""

    __test__ = False  # not a pytest test class

    frames: int                             # T: frames per temporal window
    tile: tuple[int, int]                   # spatial test tile (H, W)
    tile_overlap: tuple[int, int, int]      # overlap between neighbouring windows and tiles (T, H, W)
    # fast mode without a tile given runs whole frames, within the engine's memory bound, instead of
    # `tile`: only where measured not to lose quality (benchmarks/results/cpu_tile_quality.md)
    fast_whole_frames: bool = False


@dataclass(frozen=True)
class TrainingRecipe:
    """The authors' training recipe (docs/NETWORK.md, "Training recipe"); names match ``training.TrainConfig``."""

    frames: int = 5                         # T of a training window
    crop: int = 256                         # square random crop
    lr: float = 4e-4
    batch_size: int = 2                     # per GPU
    gpus: int = 4
    iterations: int = 300_000
    warmup_iterations: int = 2_000
    dcll_negative_distance: tuple[int, int] = (96, 60)  # (initial, floor)
    dcll_samples: int = 10
    dcll_samples_per_batch: bool = True     # divide the sample count by the batch size


@dataclass(frozen=True)
class WeightSource:
    """Where the authors publish one checkpoint: the page that lists it and its Google Drive file."""

    file: str                               # the file name the authors give it
    page: str                               # the page with the download link
    drive_id: str = ""                      # Google Drive file id, when the page links one

    @property
    def view_url(self) -> str:
        """The Google Drive page of the file (what the authors' README links)."""
        return f"https://drive.google.com/file/d/{self.drive_id}/view" if self.drive_id else self.page

    @property
    def download_url(self) -> str:
        """A direct download link for the file ("" without a Drive id)."""
        return f"https://drive.google.com/uc?export=download&id={self.drive_id}" if self.drive_id else ""


@dataclass(frozen=True)
class Preset:
    """One RainMamba variant: its architecture, test protocol, training recipe and weight source."""

    name: str
    arch: Architecture
    protocol: TestProtocol
    recipe: TrainingRecipe = TrainingRecipe()
    weights: WeightSource | None = None     # None: no released weights (train them)
    description: str = ""


_AUTHORS_README = "https://github.com/TonyHongtaoWu/RainMamba#datasets-preparation-and-pretrained-models"


def _authors(file: str, drive_id: str) -> WeightSource:
    return WeightSource(file, _AUTHORS_README, drive_id)


# Not an official model: the same architecture family, small enough to train on a CPU.
_TINY = Preset("tiny", Architecture(32, encoder_depths=(1, 1, 2, 1), encoder_widths=(24, 48, 96, 192),
                                    blocks=(1, 1, 1), decoder_width=64, residual=True),
               TestProtocol(5, (128, 128), (4, 16, 16), fast_whole_frames=True),
               TrainingRecipe(frames=5, crop=64, lr=1e-3, batch_size=4, gpus=1, iterations=4_000,
                              warmup_iterations=100, dcll_negative_distance=(24, 16), dcll_samples=4),
               None, "CPU-sized RainMamba for tests, demos and quick custom training")

PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset("vrds", Architecture(128), TestProtocol(5, (256, 256), (4, 32, 32)),
               TrainingRecipe(frames=5, crop=256, lr=4e-4, batch_size=2, dcll_negative_distance=(96, 60)),
               _authors("VRDS.pth", "1iIkImRsHLYOdeSNvCRlm3SZvWilknF5c"),
               "VRDS (rain streaks, raindrops, rain fog)"),
        Preset("lwdds", Architecture(128), TestProtocol(5, (256, 256), (4, 32, 32)),
               TrainingRecipe(frames=5, crop=256, lr=4e-4, batch_size=1, dcll_negative_distance=(96, 60)),
               _authors("LWDDS.pth", "1kKrwo5n5W2ELWwMsLlpjjUkpKiCjiIO-"),
               "LWDDS (waterdrops on the lens)"),
        Preset("rainvidss", Architecture(128), TestProtocol(7, (128, 128), (6, 40, 40)),
               TrainingRecipe(frames=7, crop=128, lr=2e-4, batch_size=1, dcll_negative_distance=(56, 48),
                              dcll_samples_per_batch=False),
               _authors("RainVIDSS.pth", "1I018fVlH6BYkytbukhFRWSXDa_lGZ5k2"),
               "RainVID&SS (ImageNet-VID+ / Cam-Vid+)"),
        Preset("rainsynall100", Architecture(64), TestProtocol(5, (128, 128), (1, 4, 4)),
               TrainingRecipe(frames=5, crop=128, lr=2e-4, batch_size=1, dcll_negative_distance=(56, 48),
                              dcll_samples_per_batch=False),
               _authors("RainSynAll100.pth", "1ZepKftAvBVh3OPK2D01pXqnOeKY0XAbC"),
               "RainSynAll100 (heavy rain, accumulation)"),
        _TINY,
        # The shipped default's architecture: `tiny` without its first H/4 pair of Mamba blocks, which ran on the
        # most tokens; trained from `tiny` weights (models/weights/MODEL_CARD.md).
        dataclasses.replace(_TINY, name="lite", arch=dataclasses.replace(_TINY.arch, blocks=(0, 1, 1)),
                            description="the shipped default's architecture: tiny with one H/4 pair of Mamba "
                                        "blocks, for speed"),
    )
}

OFFICIAL_PRESETS = ("vrds", "lwdds", "rainvidss", "rainsynall100")


def get_preset(name: "str | Preset") -> Preset:
    """Return the preset called ``name`` (case-insensitive); a clear error lists the known ones."""
    if isinstance(name, Preset):
        return name
    key = str(name).lower().replace("&", "").replace("-", "").replace("_", "")
    if key not in PRESETS:
        raise ValueError(f"Unknown preset {name!r}: choose one of {', '.join(PRESETS)}.")
    return PRESETS[key]
