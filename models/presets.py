"""The registry of RainMamba presets: one frozen dataclass per released checkpoint, plus ``tiny``.

A preset holds everything that is not in the weights: the architecture widths and depths that
shape the tensors, the test window and tile of the authors' protocol, and the training recipe.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass(frozen=True)
class Preset:
    """Architecture, test protocol and training recipe of one RainMamba variant."""

    name: str
    num_features: int                      # C: width of the Mamba stages at H/4
    frames: int                            # T: frames per temporal window
    tile: tuple[int, int]                  # spatial test tile (H, W)
    tile_overlap: tuple[int, int, int]     # test overlap (T, H, W)
    encoder_depths: tuple[int, ...] = (3, 3, 9, 3)
    encoder_widths: tuple[int, ...] = (96, 192, 384, 768)
    blocks: tuple[int, int, int] = (2, 3, 2)  # Global+Local pairs at H/4, H/8, then H/4 again
    decoder_width: int = 128                # channels before the first PixelShuffle
    residual: bool = False                  # add the input frames to the output (not in the official nets)
    # training recipe (SPEC.md sections 1 and 8)
    train_crop: int = 256
    lr: float = 4e-4
    batch_per_gpu: int = 2
    gpus: int = 4
    iterations: int = 300_000
    warmup_iterations: int = 2_000
    dcll_negative_distance: tuple[int, int] = (96, 60)  # (initial, floor)
    dcll_samples: int = 10
    dcll_samples_per_batch: bool = True     # divide the sample count by the batch size
    description: str = ""
    weights_url: str = ""
    weights_file: str = ""

    @property
    def overlap_frames(self) -> int:
        return self.tile_overlap[0]

    def replace(self, **changes) -> "Preset":
        return dataclasses.replace(self, **changes)


_AUTHORS_RELEASES = "https://github.com/TonyHongtaoWu/RainMamba (README: 'Pretrained models', Google Drive)"

PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset("vrds", 128, 5, (256, 256), (4, 32, 32), lr=4e-4, batch_per_gpu=2, train_crop=256,
               dcll_negative_distance=(96, 60), description="VRDS (rain streaks, raindrops, rain fog)",
               weights_url=_AUTHORS_RELEASES, weights_file="VRDS.pth"),
        Preset("lwdds", 128, 5, (256, 256), (4, 32, 32), lr=4e-4, batch_per_gpu=1, train_crop=256,
               dcll_negative_distance=(96, 60), description="LWDDS (waterdrops on the lens)",
               weights_url=_AUTHORS_RELEASES, weights_file="LWDDS.pth"),
        Preset("rainvidss", 128, 7, (128, 128), (6, 40, 40), lr=2e-4, batch_per_gpu=1, train_crop=128,
               dcll_negative_distance=(56, 48), dcll_samples_per_batch=False,
               description="RainVID&SS (ImageNet-VID+ / Cam-Vid+)",
               weights_url=_AUTHORS_RELEASES, weights_file="RainVIDSS.pth"),
        Preset("rainsynall100", 64, 5, (128, 128), (1, 4, 4), lr=2e-4, batch_per_gpu=1, train_crop=128,
               dcll_negative_distance=(56, 48), dcll_samples_per_batch=False,
               description="RainSynAll100 (heavy rain, accumulation)",
               weights_url=_AUTHORS_RELEASES, weights_file="RainSynAll100.pth"),
        # Not an official model: the same architecture family, small enough to train on a CPU.
        Preset("tiny", 32, 5, (128, 128), (4, 16, 16), encoder_depths=(1, 1, 2, 1),
               encoder_widths=(24, 48, 96, 192), blocks=(1, 1, 1), decoder_width=64, residual=True,
               train_crop=64, lr=1e-3, batch_per_gpu=4, gpus=1, iterations=4_000, warmup_iterations=100,
               dcll_negative_distance=(24, 16), dcll_samples=4,
               description="CPU-sized RainMamba for tests, demos and quick custom training"),
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
