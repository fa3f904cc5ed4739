"""U-Net: semantic segmentation of transmitted-light images (brightfield, phase contrast).

A 2D U-Net (Ronneberger et al., MICCAI 2015) trained with the binary focal loss
(Lin et al., ICCV 2017) or the U-Net paper's border-weighted cross-entropy; the
probability threshold is optimised on the validation images and objects are the
connected components of the mask (optionally split by a watershed). Data: those of
StarDist, with label maps or binary masks (foreground is every non-zero pixel).
The adapter is :mod:`pyfiji_dl.models.unet`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..argtypes import fraction, nonnegative_float, nonnegative_int, positive_float, positive_int, probability
from ..errors import OptionError
from ..models.budget import PublishedDefaults, TrainingProfile
from .base import (UNET_PAPER, TrainingOptions, TrainingOutcome, announcer, check_start, default_text,
                   finish_training, sizes, train_adapter)
from .instances import InstanceFamily

LOSSES = ("focal", "weighted-bce")
CONTRAST_METHODS = ("none", "percentile", "clahe")
DEPTHS = (2, 3, 4)

#: What the time-budget training plan needs to know about the U-Net (:mod:`pyfiji_dl.models.budget`).
TRAINING_PROFILE = TrainingProfile(
    family="unet",
    # Salomon-Sörensen, Lund MSc thesis 2023 (batch 4, Adam 2e-4), patch 256
    published={2: PublishedDefaults(patch=(256, 256), batch=4, steps=100, epochs=100, lr=2e-4)},
    # 2**4, the deepest U-Net (DEPTHS)
    divisor=16,
    # StarDist's figure (its network is a U-Net too); no U-Net timing is cited for it
    core_seconds_per_pixel=1.2e-5,
    # as StarDist's: patch 128 trained better than 256 within a CPU budget (issue 17, measured on StarDist)
    cpu_patch=128,
    # nuclei and the context around them must fit a patch
    patch_holds_objects=True,
)


@dataclass
class UnetOptions(TrainingOptions):
    """Training options of the U-Net (Ronneberger et al., MICCAI 2015) with the binary focal
    loss (Lin et al., ICCV 2017), for nuclei in transmitted-light images.

    Attributes
    ----------
    epochs, steps : int
        Epochs in total and steps (batches) per epoch.
    patch : tuple of int, optional
        Square training patch (Y, X), a multiple of ``2**depth``. Default 256,
        shrunk to the smallest image.
    batch : int
        Batch size (default 4).
    lr : float
        Adam learning rate (default 2e-4).
    filters : int
        Filters of the first level, doubled at each level down. Default 16, for
        ~1 s per 1080 x 1080 image on a CPU (see :mod:`pyfiji_dl.models.unet`); 64 is the
        classic width, ~16x slower.
    depth : int
        Pooling steps, 2 to 4 (default 4; inputs must be multiples of ``2**depth``,
        which prediction handles by padding).
    dropout : float
        After every convolution (default 0.05).
    loss : str
        ``"focal"`` (binary focal loss, Lin et al. 2017) or ``"weighted-bce"`` (cross-entropy
        weighted by the U-Net paper's border weight map, which teaches the network the
        gaps between touching nuclei).
    focal_gamma, focal_alpha : float
        Focal loss parameters (default 2 and 0.5).
    w0, sigma : float
        Border weight map parameters (U-Net paper: 10 and 5 px).
    contrast : str
        ``"percentile"`` (stretch percentiles 1-99.8 to 0-1, default), ``"clahe"``
        (Fiji's CLAHE, block 127, 256 bins, slope 3, then the same percentiles) or
        ``"none"`` (linear min-max scaling to 0-1, the image's contrast unchanged).
    patience : int, optional
        Stop when the validation loss has not improved for this many epochs; the
        best weights are kept. None: never stop early. Default 20, for the default
        100 epochs.
    threshold : float, optional
        Probability threshold of the mask; None optimises it on the validation
        images for the best pixel IoU.
    min_area, max_area : int, optional
        Object area limits in pixels. ``min_area`` None: a quarter of the median
        annotated object; ``max_area`` None: no limit.
    split_touching : bool
        Split touching objects with a watershed on the distance map.
    seed : int
        Validation split, initial weights, patches and augmentation.
    augment : bool
        Flips, 90-degree rotations and intensity changes.
    max_minutes : float, optional
        Stop after the epoch that reaches this time (``--resume`` continues).
    """

    filters: int = 16
    depth: int = 4
    dropout: float = 0.05
    loss: str = "focal"
    focal_gamma: float = 2.0
    focal_alpha: float = 0.5
    w0: float = 10.0
    sigma: float = 5.0
    contrast: str = "percentile"
    patience: int | None = 20
    threshold: float | None = None
    min_area: int | None = None
    max_area: int | None = None
    split_touching: bool = False

    training_profile = TRAINING_PROFILE

    def check(self, *, network: bool = True) -> None:
        """Raise ``ValueError`` naming every option out of range.

        ``network`` False skips depth, filters and patch, which a fine-tuned model
        takes from its source.
        """
        problems = []
        if network and self.depth not in DEPTHS:
            problems.append(f"depth must be 2, 3 or 4, not {self.depth}")
        if network and self.filters < 1:
            problems.append(f"filters must be positive, not {self.filters}")
        if self.loss not in LOSSES:
            problems.append(f"loss must be one of {', '.join(LOSSES)}, not {self.loss!r}")
        if self.contrast not in CONTRAST_METHODS:
            problems.append(f"contrast must be one of {', '.join(CONTRAST_METHODS)}, not {self.contrast!r}")
        if not 0 <= self.dropout < 1:
            problems.append(f"dropout must be in [0, 1), not {self.dropout}")
        if not 0 <= self.focal_alpha <= 1 or self.focal_gamma < 0:
            problems.append(f"focal alpha must be in [0, 1] and gamma >= 0, not {self.focal_alpha}, {self.focal_gamma}")
        if self.w0 < 0 or self.sigma <= 0:
            problems.append(f"w0 must be >= 0 and sigma > 0, not {self.w0}, {self.sigma}")
        if self.threshold is not None and not 0 < self.threshold < 1:
            problems.append(f"threshold must be between 0 and 1, not {self.threshold}")
        if self.patience is not None and self.patience < 1:
            problems.append(f"patience must be at least 1 epoch, not {self.patience}")
        for name in ("epochs", "steps", "batch"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                problems.append(f"{name} must be at least 1, not {getattr(self, name)}")
        if self.min_area is not None and self.max_area is not None and self.min_area > self.max_area:
            problems.append(f"min_area {self.min_area} is larger than max_area {self.max_area}")
        if network and self.patch:
            div = 2 ** self.depth
            if any(p % div or p < div for p in self.patch):
                problems.append(f"patch {tuple(self.patch)} must be made of multiples of {div} (2**depth), e.g. "
                                f"{max(div, (self.patch[0] // div) * div)}")
        if problems:
            raise OptionError("U-Net options: " + "; ".join(problems))


class UNet(InstanceFamily):
    name = "unet"
    title = "U-Net"
    task = "semantic segmentation of transmitted-light images"
    menu_label = "U-Net (transmitted light: masks, objects)"
    help = "U-Net semantic segmentation: transmitted light (brightfield, phase contrast) -> nuclei mask"
    description = (
        "Train a U-Net on DATA/images/NAME.tif with DATA/masks/NAME.tif (label maps or binary masks "
        "0/1 or 0/255: foreground is every non-zero pixel) or DATA/rois/NAME.zip (ROI Manager sets). "
        "Defaults (U-Net paper, with the focal loss of Lin et al. 2017): 3x3 convolutions with batch normalisation, dropout 0.05, "
        "He-normal initialisation, sigmoid output, binary focal loss (gamma 2, alpha 0.5), Adam 2e-4, "
        "batch 4, early stopping, percentile normalisation 1-99.8. After training the probability "
        "threshold is optimised on the validation images (best pixel IoU) and the QC report scores "
        "pixels, objects with any overlap and objects matched at IoU side by side."
    )
    options_class = UnetOptions
    export_task = "semantic segmentation (foreground probability)"
    task_tag = "semantic-segmentation"
    fiji_plugin = "csbdeep"
    references = (UNET_PAPER,)
    learns_from_corrected_objects = True
    evaluation_title = "Evaluation of {model} (U-Net) on {data}"
    channel_help = "1-based channel of multichannel images (default: all)"
    seed_help = "seed of the validation split, weights and patches"
    augment_help = "no flips/rotations/intensity augmentation"
    max_minutes_help = ("time budget: the training defaults are planned to converge within it and no epoch "
                        "starts that would end after it; the model, threshold and QC are written, and "
                        "--resume continues later")
    from_help = "fine-tune: start from this U-Net folder's weights"

    def add_options(self, parser) -> None:
        default = self.default
        parser.add_argument("--patch", type=sizes, help="training patch, a multiple of 2**depth, e.g. 256 "
                            "(default 256 on a GPU, 128 on a CPU, at least twice the largest object, shrunk "
                            "to fit the images)")
        parser.add_argument("--batch", type=positive_int, help=f"batch size (default {self.published_default('batch')})")
        parser.add_argument("--lr", type=positive_float,
                            help=f"learning rate (default {default_text(self.published_default('lr'))})")
        parser.add_argument("--filters", type=positive_int,
                            help=f"base filters (default {default('filters')}: a 1080x1080 image in about a second "
                                 "on a CPU; the U-Net paper's 64 is ~16x slower)")
        parser.add_argument("--depth", type=positive_int, choices=DEPTHS, help=f"poolings (default {default('depth')})")
        parser.add_argument("--dropout", type=fraction,
                            help=f"dropout after every convolution (default {default_text(default('dropout'))})")
        parser.add_argument("--loss", choices=LOSSES,
                            help="binary focal loss (default), or cross-entropy weighted by the U-Net border "
                                 "weight map, which teaches the gaps between touching nuclei")
        parser.add_argument("--focal-gamma", type=nonnegative_float,
                            help=f"focal loss gamma (default {default_text(default('focal_gamma'))})")
        parser.add_argument("--focal-alpha", type=fraction,
                            help=f"focal loss alpha (default {default_text(default('focal_alpha'))})")
        parser.add_argument("--w0", type=nonnegative_float,
                            help=f"border weight height for weighted-bce (default {default_text(default('w0'))})")
        parser.add_argument("--sigma", type=positive_float,
                            help=f"border weight width in pixels (default {default_text(default('sigma'))})")
        parser.add_argument("--contrast", choices=CONTRAST_METHODS,
                            help="contrast before the network: percentile (1-99.8 to 0-1, default), clahe (Fiji's "
                                 "CLAHE: block 127, 256 bins, slope 3, then percentiles) or none (min-max scaling)")
        parser.add_argument("--patience", type=nonnegative_int,
                            help="stop when the validation loss has not improved for this many epochs, keeping "
                                 f"the best weights (default {default('patience')}; 0: never)")
        parser.add_argument("--threshold", type=probability,
                            help="probability threshold (default: optimised on the validation images)")
        parser.add_argument("--min-area", type=nonnegative_int, help="smallest object in pixels (default: a quarter of the "
                            "median annotated object)")
        parser.add_argument("--max-area", type=nonnegative_int, help="largest object in pixels (default: no limit)")
        parser.add_argument("--split-touching", action="store_true",
                            help="split touching objects with a watershed (as Fiji's Process > Binary > Watershed)")

    def _adjust_options(self, values: dict, args) -> dict:
        if values.get("patience") == 0:
            values["patience"] = None  # never stop early
        return values

    def train(self, data, model_dir, options, *, val=None, channel=None, resume=False, from_model=None,
              progress=True, command_line=None, extra_callbacks=None, restart=False) -> TrainingOutcome:
        """Check the data, train a U-Net, optimise its threshold, write QC and provenance.

        The data are those of StarDist (``images/`` with ``masks/`` or ``rois/``, paired
        by name, split by file); masks may be label maps or binary (0/1, 0/255):
        foreground is every non-zero pixel. The QC report scores the validation images
        by pixels, by objects with any overlap and by objects matched at IoU, side by side.

        Raises
        ------
        pyfiji_dl.data.instances.DatasetError
            Unpaired, unreadable, empty or mis-shaped files (all listed).
        pyfiji_dl.models.unet.UNetDataError
            3D data, images smaller than the patch, channels that do not fit.
        """
        import numpy as np

        from ..models.card import read_card, write_card
        from ..models.training import read_history

        adapter = self.adapter()
        model_dir = check_start(model_dir, options, resume=resume, restart=restart, from_model=from_model)
        dataset = self.load_data(data, val=val, seed=options.seed, channel=channel)
        say = announcer(dataset, progress)
        adapter.require_2d(dataset)
        foreground = sum(int(np.count_nonzero(s.labels)) for s in dataset.train)
        total = sum(s.labels.size for s in dataset.train)
        foreground_fraction = round(foreground / total, 4) if total else 0.0
        say(f"data: {len(dataset.train)} training and {len(dataset.val)} validation image(s), "
            f"{dataset.ndim}D, {dataset.n_channels} channel(s), {100 * foreground_fraction:.1f} % foreground pixels")

        model = train_adapter(adapter, dataset, model_dir, options, resume=resume, restart=restart,
                              from_model=from_model, progress=progress, extra_callbacks=extra_callbacks)
        card = read_card(model_dir)
        # the adapter measured the objects and the class weights it trained with; reported, not recomputed
        data_check = {
            "training foreground fraction": foreground_fraction,
            "median annotated object area (px)": card.details.median_object_area,
            "balanced class weights (background, foreground)": [round(w, 3) for w in model.config.class_weights],
        }
        card.update(data_check=data_check)
        write_card(model_dir, card)
        thresholds = card.thresholds

        say("Writing the quality-control report on the validation images...")
        report = self.write_report(model, adapter, card, dataset.val, model_dir / "qc",
                                   title=f"QC report: {model_dir.name} (U-Net)", history=read_history(model_dir))
        provenance = finish_training(model_dir, options, dataset.files, self.name, thresholds=thresholds,
                                     resume=resume, from_model=from_model, command_line=command_line,
                                     extra={"data_check": data_check,
                                            "early_stopped_at_epoch": card.details.early_stopped_at_epoch})
        return TrainingOutcome(model_dir, report, provenance, thresholds, [])

    def write_report(self, model, adapter, card, samples, out_dir, *, title, history, warnings=None) -> Path:
        """Pixel, any-overlap and IoU-matched scores side by side
        (:func:`~pyfiji_dl.qc.instance_report.write_semantic_report`)."""
        from ..prediction.run import segment_samples
        from ..qc.instance_report import write_semantic_report

        masks, predictions = segment_samples(model, adapter, card, samples)
        post = card.details
        post_processing = {
            "probability threshold": post.threshold,
            "object area limits (px)": f"{post.min_area} - {post.max_area or 'no limit'}",
            "split touching objects": post.split_touching,
            "contrast / normalisation": f"{(post.contrast or {}).get('method')} / "
                                        f"percentiles {card.normalization.get('low')}-{card.normalization.get('high')}",
        }
        return write_semantic_report(out_dir, card, samples, [adapter.annotation_instances(s.labels) for s in samples],
                                     masks, predictions, title=title, history=history, extra_warnings=warnings,
                                     summary_extra=post_processing)


    # --- export ----------------------------------------------------------------------------

    export_output = "foreground probability"

    def output_channel_names(self, n_out: int, model) -> list:
        return ["probability"] if n_out == 1 else [f"probability_{i}" for i in range(n_out)]

    def export_processing(self, exportable):
        from .exporting import POSTPROCESSING_MACRO, percentile_processing

        post = exportable.card.details
        post_text = (f"none: the output is a probability map; objects are the connected components (8-connected) "
                     f"of probability > {post.probability_threshold}"
                     + (f" with at least {post.min_area} pixels" if post.min_area else "")
                     + f" (pyfiji-dl predict does this; deepImageJ: {POSTPROCESSING_MACRO})")
        processing = percentile_processing(exportable, post_text, deepimagej_post=_macro_objects(post))
        contrast = _clahe_contrast(exportable.card)
        if contrast is not None:
            processing.outside_step = (
                f"Fiji's CLAHE (Process > Enhance Local Contrast (CLAHE): blocksize {contrast.get('block_size', 127)}, "
                f"histogram bins {contrast.get('bins', 256)}, maximum slope {contrast.get('max_slope', 3.0)}, not "
                "'fast'), which the bioimageio format cannot express: apply it before the package's preprocessing "
                "(the test input already has it)")
            processing.description_pre = f"{processing.outside_step}; then {processing.description_pre}"
            processing.deepimagej_pre = _macro_clahe(contrast) + processing.deepimagej_pre
        return processing

    def prepare_outside_format(self, exportable, raw):
        """Fiji's CLAHE, for a U-Net trained with it (the format has no step for it)."""
        contrast = _clahe_contrast(exportable.card)
        if contrast is None:
            return raw
        import numpy as np

        from ..models import unet

        enhance = unet._clahe_function()
        parameters = {k: contrast.get(k, v) for k, v in unet.CLAHE_PARAMETERS.items()}
        channels = [np.asarray(enhance(raw[..., c], **parameters), np.float32) for c in range(raw.shape[-1])]
        return np.stack(channels, axis=-1)

    def cover_objects(self, exportable, normalised, output):
        """Connected components of the thresholded probability (2D)."""
        import numpy as np
        from scipy import ndimage

        mask = output[..., 0] > exportable.card.details.probability_threshold
        labels, _ = ndimage.label(mask, structure=np.ones((3, 3), bool))
        return labels

    def fiji_instructions(self, exportable) -> list:
        from .exporting import csbdeep_instructions

        contrast = _clahe_contrast(exportable.card)
        before = () if contrast is None else (
            "First, as in training: Process > Enhance Local Contrast (CLAHE) with blocksize "
            f"{contrast.get('block_size', 127)}, histogram {contrast.get('bins', 256)}, maximum slope "
            f"{contrast.get('max_slope', 3.0)} ('fast' off).",)
        post = exportable.card.details
        after = (f"  The result is a probability map; threshold it at {post.probability_threshold} (Image > Adjust > "
                 "Threshold), then Analyze > Analyze Particles"
                 + (f" with size >= {post.min_area} pixels" if post.min_area else "") + " for objects.",)
        return csbdeep_instructions(exportable, before=before, after=after)


def _clahe_contrast(card) -> dict | None:
    """The card's CLAHE parameters when the model was trained on CLAHE-enhanced images, else None."""
    contrast = card.details.contrast or {}
    return contrast if contrast.get("method") == "clahe" else None


def _macro_clahe(contrast: dict) -> str:
    return (f"""// pyfiji_dl export: the contrast enhancement this U-Net was trained with (Fiji's CLAHE).
run("Enhance Local Contrast (CLAHE)", "blocksize={contrast.get('block_size', 127)} """
            f"""histogram={contrast.get('bins', 256)} maximum={contrast.get('max_slope', 3.0)} mask=*None*");
""")


def _macro_objects(post) -> str:
    """deepImageJ's postprocessing: objects from the probability map as ``pyfiji-dl predict`` makes them."""
    threshold = post.probability_threshold
    min_area = int(post.min_area or 0)
    max_area = post.max_area
    size = f"{min_area}-{int(max_area) if max_area else 'Infinity'}"
    watershed = 'run("Watershed");\n' if post.split_touching else ""
    return f"""// pyfiji_dl export: U-Net objects from the probability map, for deepImageJ.
// Threshold at the probability the model was tuned for, then 8-connected particles
// within the model's area limits (pixels), as pyfiji-dl predict does; the objects go
// to the ROI Manager and a label image ('Count Masks').
threshold = {threshold!r};
probability = getTitle();
run("Duplicate...", "title=unet_mask");
setThreshold(threshold, 1e30);
setOption("BlackBackground", true);
run("Convert to Mask");
{watershed}run("Analyze Particles...", "size={size} pixel show=[Count Masks] add");
"""


FAMILY = UNet()
