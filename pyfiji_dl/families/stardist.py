"""StarDist: star-convex instance segmentation (Schmidt et al., MICCAI 2018; Weigert et al., WACV 2020).

Data: ``DATA/images/NAME.tif`` with ``DATA/masks/NAME.tif`` (label maps) or
``DATA/rois/NAME.zip`` (ROI Manager sets). Training checks that the objects fit
the model, then optimises the probability and overlap thresholds on the validation
images; the adapter is :mod:`pyfiji_dl.models.stardist`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from ..argtypes import positive_float, positive_int
from ..models.budget import PublishedDefaults, TrainingProfile
from .base import (UNET_PAPER, TrainingOptions, TrainingOutcome, announcer, check_start, default_text,
                   finish_training, sizes, train_adapter)
from .instances import InstanceFamily

log = logging.getLogger(__name__)

STARDIST_2D_PAPER = ("Schmidt, Weigert, Broaddus, Myers. Cell Detection with Star-Convex Polygons. MICCAI 2018.",
                     "10.1007/978-3-030-00934-2_30")
# deepImageJ's postprocessing macro in exported 2D packages (StarDist's NMS through its Fiji plugin)
STARDIST_MACRO = "stardist_postprocessing.ijm"
STARDIST_3D_PAPER = ("Weigert, Schmidt, Haase, Sugawara, Myers. Star-convex Polyhedra for 3D Object Detection and "
                     "Segmentation in Microscopy. WACV 2020.", "10.1109/WACV45572.2020.9093435")

#: What the time-budget training plan needs to know about StarDist (:mod:`pyfiji_dl.models.budget`).
TRAINING_PROFILE = TrainingProfile(
    family="stardist",
    # ZeroCostDL4Mic / StarDist example notebooks
    published={2: PublishedDefaults(patch=(256, 256), batch=4, steps=100, epochs=100, lr=3e-4),
               3: PublishedDefaults(patch=(48, 96, 96), batch=2, steps=100, epochs=100, lr=3e-4)},
    # the U-Net's pooling (2**depth, depth 3) times StarDist's grid (2)
    divisor=16,
    # measured with the default network on the 2-core machine of issue 17 while other jobs
    # shared it: patch 128 x batch 4 took 0.3 s per step
    core_seconds_per_pixel=1.2e-5,
    # patch 128 trained StarDist better than 256 in six minutes on two cores (issue 17): more
    # updates per minute
    cpu_patch=128,
    # ... but a budget that fits a few hundred steps of the published 256 x 256 affords its
    # context: on a held-out DSB2018 quarter (benchmarks/bench_quality.py, 10 min on two cores)
    # patch 128 scored F1 0.921, 0.921, 0.918 in three runs, all missing a nucleus cut by the
    # image's top edge that patch 256 found (0.952; StarDist's own example, patch 256: 0.935).
    # With 256 all four quarters held out in turn beat the example: mean F1 0.925 vs 0.897.
    # 250 estimated steps of 256 x 256 x 4 is about 7.5 min here (the estimate is about 3 times
    # the measured step there), so 5-minute runs keep patch 128: there 256 did not help (q1,
    # 5 min: F1 0.881 with 256; with 128 0.885, 0.921, 0.921, 0.903 in four runs, mean 0.908
    # against 0.911 for the example's four runs beside them, within one nucleus of 33).
    cpu_long_run_patch=256,
    long_run_min_steps=250,
    # StarDist's published learning rate (3e-4) is made for 100 epochs of 100 steps. A budget
    # that allows only a few hundred steps ends it on the plateau StarDist's loss crosses
    # early (the object probabilities are learnt, the ray distances not yet): on a DSB2018
    # quarter after 220 steps of 128 x 128 x 4, F1 0.26 with 3e-4 and 0.68 with 1e-3 (Adam's
    # own default, Kingma & Ba 2015), the learning rate then halved on plateau (issue 17).
    short_run_lr=1e-3,
    # objects and the context around them must fit a patch
    patch_holds_objects=True,
)


@dataclass
class StarDistOptions(TrainingOptions):
    """Training options.

    ``epochs``, ``steps``, ``patch``, ``batch`` and ``lr`` None are planned for the
    device, the object sizes and ``max_minutes``
    (:func:`pyfiji_dl.models.budget.choose_training_plan`); on a GPU without a budget
    they are the ZeroCostDL4Mic StarDist notebooks' (patch 256 or 48x96x96, shrunk to
    the smallest image, batch 4 or 2, 100 x 100 steps, lr 3e-4). ``rays`` None: 32
    (2D) or 96 (3D).
    """

    rays: int | None = None
    grid: int | tuple = 2
    depth: int = 3
    filters: int = 32
    extra: dict = field(default_factory=dict)

    saved_order = ("epochs", "steps", "patch", "batch", "rays", "grid", "lr", "depth", "filters", "seed", "augment",
                   "max_minutes", "extra")
    training_profile = TRAINING_PROFILE


class StarDist(InstanceFamily):
    name = "stardist"
    title = "StarDist"
    task = "instance segmentation"
    menu_label = "StarDist (nuclei, cells: label maps, ROIs)"
    help = "StarDist instance segmentation (nuclei, cells) from label maps or ROI sets"
    description = (
        "Train StarDist on DATA/images/NAME.tif with DATA/masks/NAME.tif (label maps) or "
        "DATA/rois/NAME.zip (ROI Manager sets). Checks the data first (pairs, shapes, whether "
        "the objects fit the model), shows a progress bar per epoch, then optimises the "
        "thresholds on the validation images and writes the QC report and provenance into "
        "MODEL. Defaults follow the ZeroCostDL4Mic StarDist notebooks."
    )
    options_class = StarDistOptions
    export_task = "instance segmentation of star-convex objects (e.g. nuclei)"
    task_tag = "instance-segmentation"
    fiji_plugin = "stardist"
    learns_from_corrected_objects = True
    channel_help = "1-based channel of multichannel images (default: all)"
    seed_help = "seed of the validation split and augmentation"
    augment_help = "no flips/rotations/intensity augmentation"
    max_minutes_help = ("time budget: the training defaults are planned to converge within it and no epoch "
                        "starts that would end after it; the model, thresholds and QC are written, and "
                        "--resume continues later")

    def citations(self, ndim: int) -> list:
        return [STARDIST_2D_PAPER] + ([STARDIST_3D_PAPER] if ndim == 3 else []) + [UNET_PAPER]

    def add_options(self, parser) -> None:
        parser.add_argument("--patch", type=sizes, help="training patch, e.g. 256 or 48,96,96 "
                            "(default 256 on a GPU, 128 on a CPU, 48,96,96 in 3D; at least twice the largest "
                            "object, shrunk to fit the images)")
        parser.add_argument("--batch", type=positive_int, help="batch size (default 4 in 2D, 2 in 3D)")
        parser.add_argument("--rays", type=positive_int, help="number of rays (default 32 in 2D, 96 in 3D)")
        parser.add_argument("--grid", type=sizes, help=f"subsampling grid (default {self.default('grid')})")
        parser.add_argument("--lr", type=positive_float, help=f"learning rate (default {default_text(self.published_default('lr'))})")
        parser.add_argument("--depth", type=positive_int, help=f"U-Net depth (default {self.default('depth')})")
        parser.add_argument("--filters", type=positive_int, help=f"U-Net base filters (default {self.default('filters')})")

    def _adjust_options(self, values: dict, args) -> dict:
        grid = values.get("grid")
        if grid is not None and len(grid) == 1:
            values["grid"] = grid[0]
        return values

    def train(self, data, model_dir, options, *, val=None, channel=None, resume=False, from_model=None,
              progress=True, command_line=None, extra_callbacks=None, restart=False) -> TrainingOutcome:
        """Check the data, train StarDist, optimise thresholds, write QC and provenance.

        Raises
        ------
        pyfiji_dl.data.instances.DatasetError
            Unpaired, unreadable, empty or mis-shaped files (all listed).
        pyfiji_dl.data.checks.ObjectsDoNotFitError
            Objects larger than the patch, or images smaller than it.
        """

        from ..data.checks import ObjectsDoNotFitError, check_objects_fit
        from ..models import training
        from ..models.card import read_card, write_card
        from ..models.training import read_history

        adapter = self.adapter()
        model_dir = check_start(model_dir, options, resume=resume, restart=restart, from_model=from_model)
        dataset = self.load_data(data, val=val, seed=options.seed, channel=channel)
        say = announcer(dataset, progress)
        say(f"data: {len(dataset.train)} training and {len(dataset.val)} validation image(s), "
            f"{dataset.ndim}D, {dataset.n_channels} channel(s)")

        if resume:
            saved = training.saved_config(model_dir)
            if not saved:
                raise training.ResumeError(f"{model_dir}: no config.json, so there is no StarDist training to resume.")
            config_patch, n_rays = saved["train_patch_size"], saved["n_rays"]
        else:
            config = adapter.make_config(dataset, options) if from_model is None else adapter.load_model(from_model).config
            config_patch, n_rays = list(config.train_patch_size), config.n_rays
            if from_model is not None:  # the source's network, with the patch planned for these data
                config_patch = list(adapter.plan_training(dataset, options)[0].patch)
        labels = [s.labels for s in dataset.all_samples]
        fit = check_objects_fit(labels, n_rays=n_rays, patch_size=tuple(config_patch),
                                anisotropy=adapter.anisotropy_of(dataset),
                                names=[s.name for s in dataset.all_samples])
        say(f"objects: {fit.n_objects} annotated, median size {fit.median_object}, largest {fit.largest_object}, "
            f"star-convex reconstruction IoU with {n_rays} rays: "
            + (f"{fit.star_convex_iou:.3f}" if fit.star_convex_iou is not None else "n/a"))
        for warning in fit.warnings:
            log.warning(warning)
        if fit.errors:
            raise ObjectsDoNotFitError("the objects do not fit the model; nothing was trained:\n  "
                                       + "\n  ".join(fit.errors))

        model = train_adapter(adapter, dataset, model_dir, options, resume=resume, restart=restart,
                              from_model=from_model, progress=progress, extra_callbacks=extra_callbacks)
        thresholds = adapter.thresholds(model)
        card = read_card(model_dir)
        card.update(
            thresholds=thresholds,
            patch=list(model.config.train_patch_size),
            n_rays=int(model.config.n_rays),
            grid=list(model.config.grid),
            largest_object_px=int(max(fit.largest_object)) if fit.largest_object else None,
            data_check=fit.as_dict(),
        )
        write_card(model_dir, card)

        say("Writing the quality-control report on the validation images...")
        report = self.write_report(model, adapter, card, dataset.val, model_dir / "qc",
                                   title=f"QC report: {model_dir.name} (StarDist)", history=read_history(model_dir),
                                   warnings=fit.warnings)
        provenance = finish_training(model_dir, options, dataset.files, self.name, thresholds=thresholds,
                                     resume=resume, from_model=from_model, command_line=command_line,
                                     extra={"data_check": fit.as_dict()})
        return TrainingOutcome(model_dir, report, provenance, thresholds, fit.warnings)

    def write_report(self, model, adapter, card, samples, out_dir, *, title, history, warnings=None) -> Path:
        from ..prediction.run import predict_samples
        from ..qc.instance_report import sample_images, write_matching_report

        return write_matching_report(out_dir, title=title, names=[s.name for s in samples],
                                     images=sample_images(samples), truths=[s.labels for s in samples],
                                     predictions=predict_samples(model, adapter, card, samples),
                                     history=history, card=card, extra_warnings=warnings)


    # --- export ----------------------------------------------------------------------------

    export_output = "object probability (channel 0) and ray distances, upsampled to the input size"

    def export_network(self, model) -> tuple:
        """StarDist's two outputs concatenated and upsampled to the input size (Fiji/deepImageJ layout)."""
        import tensorflow as tf

        layers = tf.keras.layers
        config = model.config
        grid = tuple(int(g) for g in config.grid)
        prob, dist = model.keras_model.outputs[:2]
        if any(g > 1 for g in grid):
            transpose = layers.Conv2DTranspose if config.n_dim == 2 else layers.Conv3DTranspose
            upsample = layers.UpSampling2D if config.n_dim == 2 else layers.UpSampling3D
            # a 1x1 transposed convolution with a kernel of ones puts each probability at
            # one pixel of its grid cell and zeros elsewhere: one NMS candidate per cell,
            # as in StarDist's own export (plain upsampling would repeat every candidate)
            prob = transpose(1, (1,) * config.n_dim, strides=grid, padding="same", kernel_initializer="ones",
                             use_bias=False, name="prob_upsampled")(prob)
            dist = upsample(grid, name="dist_upsampled")(dist)
        output = layers.Concatenate(name="prob_dist")([prob, dist])
        network = tf.keras.Model(model.keras_model.inputs[0], output, name="stardist_single_output")
        names = ["prob"] + [f"dist_{i}" for i in range(int(config.n_rays))]
        notes = []
        if len(model.keras_model.outputs) > 2:
            notes.append("the class output of this multi-class StarDist model is not exported (as in StarDist's "
                         "own export): the exported network gives object probability and distances only")
        return network, names, notes

    def export_processing(self, exportable):
        from .exporting import percentile_processing

        post_text = ("none in the format's terms: the output holds the object probability (channel 0) and the "
                     f"{len(exportable.output_channel_names) - 1} ray distances, upsampled to the input size; "
                     "objects come from StarDist's non-maximum suppression with the thresholds in config.stardist "
                     f"(deepImageJ: {STARDIST_MACRO})")
        if exportable.ndim != 2:  # StarDist's Fiji plugin has no 3D NMS
            return percentile_processing(exportable, post_text)
        thresholds = exportable.card.thresholds
        return percentile_processing(
            exportable, post_text,
            deepimagej_post=_macro_stardist(float(thresholds.get("prob", 0.5)), float(thresholds.get("nms", 0.4))),
            deepimagej_post_name=STARDIST_MACRO,
            deepimagej_post_needs=" (StarDist objects: needs the StarDist update site)")

    def cover_objects(self, exportable, normalised, output):
        if exportable.ndim != 2:
            return None  # 3D non-maximum suppression can take minutes: the object probability shows the result
        import contextlib
        import io

        import numpy as np

        from ..models.training import quiet_keras

        image = normalised[..., 0] if exportable.n_channels == 1 else normalised
        with quiet_keras(), contextlib.redirect_stderr(io.StringIO()):
            labels, _ = exportable.model.predict_instances(image, show_tile_progress=False)
        return np.asarray(labels)

    def export_config(self, exportable) -> dict:
        """``config.stardist`` as StarDist's own exporter writes it (its importer reads these keys)."""
        import json

        import stardist

        model = exportable.model
        config_json = json.loads((exportable.model_dir / "config.json").read_text())
        thresholds = exportable.card.thresholds or {
            "prob": float(model.thresholds.prob), "nms": float(model.thresholds.nms)}
        details = exportable.card.details
        result = {
            "stardist_version": stardist.__version__,
            "python_version": stardist.__version__,  # StarDist's exporter stores its own version under this key
            "thresholds": {"prob": float(thresholds["prob"]), "nms": float(thresholds["nms"])},
            "weights": "weights_best.h5",
            "config": config_json,
            "n_rays": int(config_json.get("n_rays", details.n_rays or 0)),
            "grid": list(config_json.get("grid", details.grid or [])),
            "output_layout": "single output: probability then distances, upsampled to the input size "
                             "(export_TF(single_output=True, upsample_grid=True))",
        }
        if exportable.ndim == 2:
            result["postprocessing_macro"] = STARDIST_MACRO
        return {"stardist": result}

    def export_thresholds(self, card) -> dict:
        return card.thresholds

    def export_loss(self, config) -> str:
        return "StarDist loss (binary cross-entropy on probability + distance loss)"

    def readme_details(self, exportable) -> list:
        card = exportable.card
        thresholds = card.thresholds
        return ["### StarDist thresholds", "",
                f"- probability threshold: {thresholds.get('prob', 'n/a')}",
                f"- overlap (NMS) threshold: {thresholds.get('nms', 'n/a')}",
                f"- rays: {card.details.n_rays}, grid: {card.details.grid}", ""]

    def check_fiji_export(self, card, model_dir) -> str | None:
        if card.ndim != 2:
            return (f"{model_dir} is a 3D StarDist model; the Fiji StarDist plugin handles 2D models only. "
                    "Use --format bioimageio (deepImageJ, bioimage.io tools) or pyfiji-dl predict.")
        return None

    def fiji_instructions(self, exportable) -> list:
        card = exportable.card
        norm, thresholds = card.normalization, card.thresholds
        prob, nms = thresholds.get("prob"), thresholds.get("nms")
        return [
            "In Fiji: Plugins > StarDist > StarDist 2D; Model: 'Model (.zip) from File'; Model file: this zip.",
            f"  Normalize Image: on; Percentile low: {norm.get('low', 1.0):g}; Percentile high: {norm.get('high', 99.8):g}",
            f"  Probability/Score Threshold: {prob:.4f}" if prob is not None else
            "  Probability/Score Threshold: (no optimised threshold in the model card; StarDist's default is 0.5)",
            f"  Overlap Threshold: {nms:.2f}" if nms is not None else "  Overlap Threshold: 0.4 (StarDist's default)",
            "  (the thresholds optimised on the validation images after training; pyfiji-dl predict uses them too)",
            f"  Rays: {card.details.n_rays or len(exportable.output_channel_names) - 1}, grid "
            f"{tuple(card.details.grid or ())}: the zip's output is already upsampled to the image size.",
            "  Large images: raise 'Number of Tiles'.",
        ]


def _macro_stardist(prob: float, nms: float) -> str:
    """deepImageJ's postprocessing: StarDist's NMS through its Fiji plugin, with the model's thresholds."""
    return f"""// pyfiji_dl export: StarDist objects from the network output, for deepImageJ.
// Needs the StarDist and CSBDeep Fiji update sites. The output image holds the object
// probability in its first channel and the ray distances in the others.
probThresh = {prob!r};
nmsThresh = {nms!r};
output = getTitle();
getDimensions(width, height, channels, slices, frames);
planes = maxOf(channels, slices);  // deepImageJ may put the channels on the z axis
if (channels > 1) {{
    run("Duplicate...", "title=stardist_prob duplicate channels=1");
    selectWindow(output);
    run("Duplicate...", "title=stardist_dist duplicate channels=2-" + planes);
}} else {{
    run("Duplicate...", "title=stardist_prob duplicate range=1-1");
    selectWindow(output);
    run("Duplicate...", "title=stardist_dist duplicate range=2-" + planes);
}}
run("Properties...", "channels=" + (planes - 1) + " slices=1 frames=1");
run("Command From Macro", "command=[de.csbdresden.stardist.StarDist2DNMS], args=['prob':'stardist_prob', 'dist':'stardist_dist', 'probThresh':'" + probThresh + "', 'nmsThresh':'" + nmsThresh + "', 'outputType':'Both', 'excludeBoundary':'2', 'roiPosition':'Automatic', 'verbose':'false'], process=[false]");
"""


FAMILY = StarDist()
