"""U-Net adapter: transmitted-light (brightfield, phase contrast) image -> nuclei mask.

As in Salomon-Sörensen (Lund University MSc thesis, 2023) for nuclei in
transmitted light, after Ronneberger et al. (MICCAI 2015): a plain 2D U-Net with 3x3
convolutions, batch normalisation after every convolution, dropout 0.05, He-normal
initialisation and a sigmoid output, trained with the binary focal loss (gamma 2,
alpha 0.5; Lin et al., ICCV 2017) or with the original U-Net border-weighted
cross-entropy, Adam 2e-4, batch 4 and early stopping. Brightfield needs contrast
enhancement (a University of Tartu thesis on brightfield U-Nets found that without it
the network predicts background everywhere), so every image goes through the
same contrast step and percentile normalisation in training and prediction.
Instances are connected components of the thresholded probability, optionally split
by a watershed, with an area filter against debris.

The model folder follows CSBDeep's layout, so the shared bookkeeping
(:mod:`pyfiji_dl.models.training`) and tiling code work unchanged:
``config.json`` (:class:`UNetConfig`), ``weights_best.h5`` and ``weights_last.h5``
(Keras HDF5 weights) and the model card ``pyfiji_dl.json``, which holds every pre-
and post-processing parameter (so the network can be exported, e.g. to the
BioImage Model Zoo, from ``load_model(folder).keras_model`` and the card alone).

Why 16 base filters by default, not the 64 of the U-Net paper: on 2 CPU cores a
1080 x 1080 image takes ~0.7 s with 16 filters at depth 4 (1.9 M weights, close to the
1.2 M network of the Tartu brightfield thesis that met its "one second per image on a
desktop computer"), ~3-5 s with 32 and roughly four times that again with 64 (7.8 M
and 31 M weights). ``--filters 64`` gives the paper's width for GPU training.

The adapter is split by job: :mod:`.config` (what the family declares, :class:`UNetConfig`),
:mod:`.network`, :mod:`.losses`, :mod:`.model` (the model folder), :mod:`.inference`
(preprocessing and tiled prediction), :mod:`.objects` (masks to objects) and
:mod:`.trainer`; this module gathers the adapter interface that :func:`pyfiji_dl.models.adapter_for`
hands out. The names of :mod:`.model` (which imports CSBDeep, hence TensorFlow) load on first
use, so that reading a card and post-processing probabilities stay as light as before.
"""

from importlib import import_module

from .config import (CARD_DETAILS, CLAHE_PARAMETERS, CONFIG_FILE, DEFAULT_PATCH, FAMILY, FULL_CONNECTIVITY,
                     MAX_VALIDATION_PATCHES, MIN_AREA_FRACTION_OF_MEDIAN, MODEL_FILES, OUTPUTS, PERCENTILES,
                     THRESHOLD_CANDIDATES, WEIGHTS_BEST, WEIGHTS_LAST, UNetConfig, UNetDataError,
                     UNetCard, contrast_parameters, normalization_parameters)
from .inference import _clahe_function, predict, predict_normalized, preprocess
from .losses import binary_focal_loss, loss_for, weighted_binary_crossentropy
from .network import build_unet, receptive_radius, tile_halo
from .objects import annotation_instances, instances, mean_probabilities, postprocess
from .trainer import (default_area_limits, make_config, optimise_threshold, patch_batches, plan_training,
                      prepare_arrays, require_2d, train, validation_patches)

__all__ = [
    "CARD_DETAILS", "UNetCard", "CLAHE_PARAMETERS", "CONFIG_FILE", "DEFAULT_PATCH", "FAMILY", "FULL_CONNECTIVITY", "MAX_VALIDATION_PATCHES",
    "MIN_AREA_FRACTION_OF_MEDIAN", "MODEL_FILES", "OUTPUTS", "PERCENTILES", "THRESHOLD_CANDIDATES",
    "WEIGHTS_BEST", "WEIGHTS_LAST", "UNetConfig", "UNetDataError", "_clahe_function",
    "annotation_instances", "binary_focal_loss", "build_unet", "contrast_parameters", "default_area_limits",
    "instances", "loss_for", "make_config", "mean_probabilities",
    "normalization_parameters", "optimise_threshold", "patch_batches", "plan_training", "postprocess", "predict",
    "predict_normalized", "prepare_arrays", "preprocess", "receptive_radius", "require_2d",
    "tile_halo", "train", "validation_patches", "weighted_binary_crossentropy",
]

# loaded on first use: they import CSBDeep and TensorFlow
_MODEL_NAMES = ("UNetModel", "load_model", "thresholds")
__all__ += list(_MODEL_NAMES)


def __getattr__(name: str):
    if name in _MODEL_NAMES:
        return getattr(import_module(".model", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
