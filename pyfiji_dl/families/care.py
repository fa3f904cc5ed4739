"""CARE: supervised restoration, low SNR -> high SNR (Weigert et al., Nature Methods 2018).

Data: ``DATA/low/NAME.tif`` with ``DATA/GT/NAME.tif`` of the same name and shape.
The adapter is :mod:`pyfiji_dl.models.care` (CSBDeep).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..argtypes import positive_int
from ..models.budget import PublishedDefaults, TrainingProfile
from .base import UNET_PAPER, TrainingOptions
from .restoration import RestorationFamily

#: What the time-budget training plan needs to know about CARE (:mod:`pyfiji_dl.models.budget`).
TRAINING_PROFILE = TrainingProfile(
    family="care",
    # CSBDeep examples (patch 64, batch 16, lr 4e-4)
    published={2: PublishedDefaults(patch=(64, 64), batch=16, steps=100, epochs=100, lr=4e-4),
               3: PublishedDefaults(patch=(16, 64, 64), batch=16, steps=100, epochs=100, lr=4e-4)},
    # CSBDeep's U-Net pools 2**depth; 8 keeps the historical patches
    divisor=8,
    # measured with the default network on the 2-core machine of issue 17 while other jobs
    # shared it: patch 64 x batch 16 with 5x5 kernels took 2 s per step
    core_seconds_per_pixel=6.0e-5,
)


@dataclass
class CareOptions(TrainingOptions):
    """Training options.

    ``epochs``, ``steps``, ``patch``, ``batch`` and ``lr`` None are planned for the
    device and ``max_minutes`` (:func:`pyfiji_dl.models.budget.choose_training_plan`);
    without a budget they are the ZeroCostDL4Mic / CSBDeep CARE notebooks' (patch 64x64
    or 16x64x64, shrunk to fit the images, batch 16, 100 x 100 steps, lr 4e-4).
    """

    depth: int = 2
    kernel: int | None = None
    filters: int = 32
    patches_per_image: int = 100
    probabilistic: bool = False

    training_profile = TRAINING_PROFILE


class Care(RestorationFamily):
    name = "care"
    title = "CARE"
    task = "supervised restoration"
    menu_label = "CARE (restoration from low/ + GT/ pairs)"
    help = "CARE supervised restoration (low SNR -> high SNR)"
    layout = "DATA/low/NAME.tif (low SNR) with DATA/GT/NAME.tif (high SNR), same names and shapes"
    defaults = ("patch 64 (16,64,64 in 3D) from non-background regions, 100 patches per image, batch 16, "
                "learning rate 4e-4, U-Net depth 2, kernel 5 (3 in 3D)")
    options_class = CareOptions
    export_task = "supervised image restoration (denoising) trained on low/high signal-to-noise pairs"
    references = (("Weigert et al. Content-aware image restoration: pushing the limits of fluorescence microscopy. "
                   "Nature Methods 15, 1090-1097 (2018).", "10.1038/s41592-018-0216-7"), UNET_PAPER)

    def add_options(self, parser) -> None:
        super().add_options(parser)
        parser.add_argument("--kernel", type=positive_int, help="U-Net kernel size (default 5 in 2D, 3 in 3D)")
        parser.add_argument("--patches-per-image", type=positive_int,
                            help=f"patches per image (default {self.default('patches_per_image')})")
        parser.add_argument("--probabilistic", action="store_true", help="predict a distribution (Laplace loss)")

    def load_data(self, data, *, val=None, seed: int = 42, channel: int | None = None):
        from ..data.restoration import load_care_pairs

        return load_care_pairs(data, val_dir=val, seed=seed, channel=channel)


    # --- export ----------------------------------------------------------------------------

    def output_channel_names(self, n_out: int, model) -> list:
        if not getattr(model.config, "probabilistic", False):
            return super().output_channel_names(n_out, model)
        if n_out == 2:
            return ["mean", "scale"]
        half = n_out // 2
        return [f"mean_{i}" for i in range(half)] + [f"scale_{i}" for i in range(half)]

    def export_postprocessing_text(self, exportable) -> str:
        return ("none: the output is in normalised units; pyfiji-dl predict maps it back to the input's "
                "intensity range (out * (p_high - p_low) + p_low, with the input's percentiles), which the "
                "bioimageio format cannot express")

    def fiji_instructions(self, exportable) -> list:
        from .exporting import csbdeep_instructions

        return csbdeep_instructions(exportable, after=(
            "  The result is in normalised units (the percentiles mapped to 0 and 1); "
            "pyfiji-dl predict maps it back to the input's intensity range.",))


FAMILY = Care()
