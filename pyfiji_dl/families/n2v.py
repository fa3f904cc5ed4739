"""Noise2Void: self-supervised denoising from noisy images alone (Krull et al., CVPR 2019).

Data: ``DATA/images/*.tif`` (time-lapse frames become samples), optionally
``DATA/GT/NAME.tif`` for the QC report. The adapter is :mod:`pyfiji_dl.models.n2v`.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..models.budget import PublishedDefaults, TrainingProfile
from .base import UNET_PAPER, TrainingOptions
from .restoration import RestorationFamily

#: What the time-budget training plan needs to know about Noise2Void (:mod:`pyfiji_dl.models.budget`).
TRAINING_PROFILE = TrainingProfile(
    family="n2v",
    # n2v examples (patch 64, batch 64-128 in 2D, 4 in 3D, lr 4e-4)
    published={2: PublishedDefaults(patch=(64, 64), batch=64, steps=100, epochs=100, lr=4e-4),
               3: PublishedDefaults(patch=(32, 64, 64), batch=4, steps=100, epochs=100, lr=4e-4)},
    # CSBDeep's U-Net pools 2**depth; 8 keeps the historical patches
    divisor=8,
    # measured with the default network on the 2-core machine of issue 17 while other jobs
    # shared it: patches of 64 x 64 took 4.4 s per step
    core_seconds_per_pixel=3.5e-5,
    # a batch of 64 patches of 64 x 64 takes seconds per step on a CPU; 32 halves it and
    # still masks ~290 pixels per step (9 per 64 x 64 patch: n2v_perc_pix 0.198 is per cent)
    cpu_batch=32,
    # ... but from about 7 minutes on this 2-core machine (40 steps of batch 128, the batch of
    # n2v's 2D examples) the larger batch wins: on a held-out DSB2018 part (benchmarks/
    # bench_quality.py) batch 32 | 128 gave +5.96 | +5.03 dB in 2 min, +6.20 | +6.18 in 5 min and
    # +5.92 | +6.31 in 10 min, where batch 32 plateaued after 2.5 min
    cpu_long_run_batch=128,
    long_run_min_steps=40,
    # Noise2Void's augmentation rotates patches by 90 degrees: Y and X must be equal
    square_patches=True,
)


@dataclass
class N2VOptions(TrainingOptions):
    """Training options.

    ``epochs``, ``steps``, ``patch``, ``batch`` and ``lr`` None are planned for the
    device and ``max_minutes`` (:func:`pyfiji_dl.models.budget.choose_training_plan`);
    on a GPU without a budget they are n2v's examples' (patch 64x64 or 32x64x64, shrunk
    to fit the images, batch 64 or 4, 100 x 100 steps, lr 4e-4).
    """

    depth: int = 2
    filters: int = 32
    perc_pix: float = 0.198
    radius: int = 5

    training_profile = TRAINING_PROFILE


class Noise2Void(RestorationFamily):
    name = "n2v"
    title = "Noise2Void"
    task = "self-supervised denoising"
    menu_label = "Noise2Void (denoising from noisy images alone)"
    help = "Noise2Void self-supervised denoising (noisy images only)"
    layout = ("DATA/images/*.tif noisy images (time-lapse frames become samples); optional DATA/GT/NAME.tif "
              "for QC")
    defaults = ("patch 64 (32,64,64 in 3D), batch 64 (4 in 3D), learning rate 4e-4, 0.198 % masked pixels (one in each 22 x 22 box), "
                "uniform_withCP, radius 5")
    options_class = N2VOptions
    export_task = "self-supervised denoising trained on noisy images alone"
    references = (("Krull, Buchholz, Jug. Noise2Void - Learning Denoising from Single Noisy Images. CVPR 2019.",
                   "10.1109/CVPR.2019.00223"), UNET_PAPER)

    def load_data(self, data, *, val=None, seed: int = 42, channel: int | None = None):
        from ..data.restoration import load_noisy_images

        return load_noisy_images(data, val_dir=val, seed=seed, channel=channel)


    # --- export ----------------------------------------------------------------------------

    def export_processing(self, exportable):
        """Noise2Void's fixed mean/std normalisation of its training data, and back to intensities."""
        from .exporting import Processing, numbers_text

        means, stds = self.adapter().mean_std(exportable.model.config)
        if means.ndim == 0:
            pre_kwargs = {"mean": float(means), "std": float(stds)}
            post_kwargs = {"gain": float(stds), "offset": float(means)}
        else:
            pre_kwargs = {"mean": means.tolist(), "std": stds.tolist(), "axis": "channel"}
            post_kwargs = {"gain": stds.tolist(), "offset": means.tolist(), "axis": "channel"}
        return Processing(
            pre=[{"id": "fixed_zero_mean_unit_variance", "kwargs": pre_kwargs}],
            post=[{"id": "scale_linear", "kwargs": post_kwargs}],
            description_pre=f"subtract the training mean ({numbers_text(means)}) and divide by the training "
                            f"standard deviation ({numbers_text(stds)}), as Noise2Void does",
            description_post="multiply by the standard deviation and add the mean again: the output has the "
                             "input's intensity scale",
            deepimagej_pre=_macro_mean_std(means, stds, inverse=False),
            deepimagej_post=_macro_mean_std(means, stds, inverse=True),
        )

    def fiji_network(self, exportable):
        """The network with n2v's fixed normalisation built in.

        CSBDeep's plugin can only normalise with percentiles, while a Noise2Void network
        expects the mean/std normalisation of its training data and returns values in
        those units. Building both into the graph lets Fiji users feed raw images and get
        intensities back (with the plugin's normalisation switched off).
        """
        import tensorflow as tf

        means, stds = self.adapter().mean_std(exportable.model.config)
        inputs = tf.keras.Input(shape=exportable.network.inputs[0].shape[1:], name="input")
        normalised = tf.keras.layers.Rescaling(1.0 / stds, offset=-means / stds, name="n2v_normalise")(inputs)
        output = exportable.network(normalised)
        restored = tf.keras.layers.Rescaling(stds, offset=means, name="n2v_denormalise")(output)
        return tf.keras.Model(inputs, restored, name="n2v_raw_intensities")

    def fiji_instructions(self, exportable) -> list:
        from .exporting import csbdeep_instructions, numbers_text

        means, stds = self.adapter().mean_std(exportable.model.config)
        return csbdeep_instructions(exportable, normalize=(
            "  Normalize image: OFF. The zip subtracts the training mean "
            f"({numbers_text(means)}) and divides by the training standard "
            f"deviation ({numbers_text(stds)}) itself, and returns intensities "
            "like the input's.",))


def _macro_mean_std(means, stds, *, inverse: bool) -> str:
    import numpy as np

    mean, std = float(np.atleast_1d(means)[0]), float(np.atleast_1d(stds)[0])
    if inverse:
        body = f'run("Multiply...", "value={std!r} stack");\nrun("Add...", "value={mean!r} stack");\n'
        what = "postprocessing: back to intensities (times the training standard deviation, plus the mean)"
    else:
        body = f'run("32-bit");\nrun("Subtract...", "value={mean!r} stack");\nrun("Divide...", "value={std!r} stack");\n'
        what = "preprocessing: the training mean and standard deviation Noise2Void normalises with"
    return f"// pyfiji_dl export: the package's {what}.\n{body}"


FAMILY = Noise2Void()
