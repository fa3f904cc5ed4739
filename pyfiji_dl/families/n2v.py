"""Noise2Void: self-supervised denoising from noisy images alone (Krull et al., CVPR 2019).

Data: ``DATA/images/*.tif`` (time-lapse frames become samples), optionally
``DATA/GT/NAME.tif`` for the QC report. The adapter is :mod:`pyfiji_dl.models.n2v`.
"""

from __future__ import annotations

from dataclasses import dataclass

from .base import UNET_PAPER
from .restoration import RestorationFamily


@dataclass
class N2VOptions:
    """Training options.

    ``epochs``, ``steps``, ``patch``, ``batch`` and ``lr`` None are planned for the
    device and ``max_minutes`` (:func:`pyfiji_dl.models.budget.choose_training_plan`);
    on a GPU without a budget they are n2v's examples' (patch 64x64 or 32x64x64, shrunk
    to fit the images, batch 64 or 4, 100 x 100 steps, lr 4e-4).
    """

    epochs: int | None = None
    steps: int | None = None
    patch: tuple | None = None
    batch: int | None = None
    lr: float | None = None
    depth: int = 2
    filters: int = 32
    perc_pix: float = 0.198
    radius: int = 5
    seed: int = 42
    augment: bool = True
    max_minutes: float | None = None


class Noise2Void(RestorationFamily):
    name = "n2v"
    title = "Noise2Void"
    task = "self-supervised denoising"
    menu_label = "Noise2Void (denoising from noisy images alone)"
    help = "Noise2Void self-supervised denoising (noisy images only)"
    layout = ("DATA/images/*.tif noisy images (time-lapse frames become samples); optional DATA/GT/NAME.tif "
              "for QC")
    defaults = ("patch 64 (32,64,64 in 3D), batch 64 (4 in 3D), learning rate 4e-4, 19.8 %% masked pixels, "
                "uniform_withCP, radius 5")
    options_class = N2VOptions
    export_task = "self-supervised denoising trained on noisy images alone"
    references = (("Krull, Buchholz, Jug. Noise2Void - Learning Denoising from Single Noisy Images. CVPR 2019.",
                   "10.1109/CVPR.2019.00223"), UNET_PAPER)

    def load_data(self, data, *, val=None, seed: int = 42, channel: int | None = None):
        from ..data.restoration import load_noisy_images

        return load_noisy_images(data, val_dir=val, seed=seed, channel=channel)


FAMILY = Noise2Void()
