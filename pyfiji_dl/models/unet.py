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
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from scipy import ndimage

from ..errors import PyfijiDLError
from ..data.augment import random_flips_rotations
from ..data.instances import InstanceDataset
from ..data.normalize import normalize_percentile
from ..io.atomic import atomic_path
from . import training
from .card import ModelFolderError, read_card, write_card

if TYPE_CHECKING:
    from ..families.unet import UnetOptions

FAMILY = "unet"
OUTPUTS = "semantic"  # prediction writes probability, binary mask, label maps, ROI sets, object tables
# What a complete model folder holds besides its card (models/completeness.py checks it);
# "card:KEY" is a value training writes into the card when it ends (the optimised threshold).
MODEL_FILES = {"config": "config.json", "weights": ("weights_best.h5", "weights_last.h5"),
               "thresholds": "card:threshold_optimisation"}
CONFIG_FILE = "config.json"
WEIGHTS_BEST = "weights_best.h5"
WEIGHTS_LAST = "weights_last.h5"
# Fiji's CLAHE defaults (Process > Enhance Local Contrast; Zuiderveld, Graphics Gems IV, 1994)
CLAHE_PARAMETERS = {"block_size": 127, "bins": 256, "max_slope": 3.0}
PERCENTILES = (1.0, 99.8)
DEFAULT_PATCH = 256
# Validation patches scored after every epoch: enough for a stable val_loss,
# few enough that validating stays a small part of an epoch on a CPU.
MAX_VALIDATION_PATCHES = 64
THRESHOLD_CANDIDATES = tuple(round(0.05 * k, 2) for k in range(1, 20))
# Objects smaller than this fraction of the median annotated object are dropped by
# default: half the diameter of a typical nucleus is rarely a whole nucleus, while
# debris and noise specks are.
MIN_AREA_FRACTION_OF_MEDIAN = 0.25
# Connectivity of the objects: 8-connected, as Fiji's particle analyser and Salomon-Sörensen 2023.
FULL_CONNECTIVITY = np.ones((3, 3), bool)


class UNetDataError(PyfijiDLError, ValueError):
    """The data cannot train a U-Net; the message says why and what to do."""


@dataclass
class UNetConfig:
    """What builds, trains and feeds the network; saved as ``config.json``.

    The network fields fix the architecture (a saved model is rebuilt from them);
    ``contrast`` and the normalisation percentiles fix what its input looks like;
    the ``train_*`` and loss fields record how it was trained.
    """

    n_channel_in: int = 1
    depth: int = 4
    filters: int = 16
    kernel_size: int = 3
    dropout: float = 0.05
    batch_norm: bool = True
    upsampling: str = "transpose-2x2"
    contrast: str = "percentile"
    normalization_low: float = PERCENTILES[0]
    normalization_high: float = PERCENTILES[1]
    loss: str = "focal"
    focal_gamma: float = 2.0
    focal_alpha: float = 0.5
    w0: float = 10.0
    sigma: float = 5.0
    class_weights: list | None = None
    train_patch_size: tuple = (DEFAULT_PATCH, DEFAULT_PATCH)
    train_batch_size: int = 4
    train_learning_rate: float = 2e-4
    train_epochs: int = 100
    train_steps_per_epoch: int = 100
    train_patience: int | None = 20
    train_reduce_lr: dict | None = None
    seed: int = 42

    def save(self, model_dir: Path) -> Path:
        path = Path(model_dir) / CONFIG_FILE
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(asdict(self), indent=2, default=list))
        return path

    @classmethod
    def load(cls, model_dir: Path) -> "UNetConfig":
        path = Path(model_dir) / CONFIG_FILE
        if not path.exists():
            raise ModelFolderError(f"{model_dir}: no {CONFIG_FILE}; this is not a trained U-Net folder.")
        values = json.loads(path.read_text())
        known = {f.name for f in fields(cls)}
        config = cls(**{k: v for k, v in values.items() if k in known})
        config.train_patch_size = tuple(config.train_patch_size)
        return config

    @property
    def divisible_by(self) -> int:
        return 2**self.depth


def contrast_parameters(config: UNetConfig) -> dict:
    """The card's ``contrast`` entry: the method and, for CLAHE, Fiji's parameters."""
    if config.contrast == "clahe":
        return {"method": "clahe", **CLAHE_PARAMETERS}
    return {"method": config.contrast}


def normalization_parameters(config: UNetConfig) -> dict:
    """The card's ``normalization`` entry (percentiles of each image mapped to 0 and 1)."""
    return {"method": "percentile", "low": float(config.normalization_low),
            "high": float(config.normalization_high), "per_channel": True, "clip": False}


# --- network ------------------------------------------------------------------------

def build_unet(n_channels: int = 1, *, filters: int = 16, depth: int = 4, kernel_size: int = 3,
               dropout: float = 0.05, batch_norm: bool = True, name: str = "unet"):
    """The U-Net as a plain Keras functional model.

    Each level: two ``kernel_size`` convolutions ('same' padding, He-normal
    initialisation), each followed by batch normalisation, ReLU and dropout; 2x2 max
    pooling down, 2x2 transposed convolution (the paper's "up-conv") up, skip
    connections by concatenation; a 1x1 convolution with a sigmoid gives the
    foreground probability.

    Parameters
    ----------
    n_channels : int
        Input channels.
    filters : int
        Filters of the first level; doubled at every level down.
    depth : int
        Number of poolings; input height and width must be multiples of ``2**depth``.
    kernel_size : int
    dropout : float
    batch_norm : bool
    name : str

    Returns
    -------
    tf.keras.Model
        One input ``(None, None, None, n_channels)``, one output ``(None, None, None, 1)``
        in [0, 1].
    """
    import tensorflow as tf

    layers = tf.keras.layers

    def conv_block(x, n_filters: int, prefix: str):
        for i in (1, 2):
            x = layers.Conv2D(n_filters, kernel_size, padding="same", use_bias=not batch_norm,
                              kernel_initializer="he_normal", name=f"{prefix}_conv{i}")(x)
            if batch_norm:
                x = layers.BatchNormalization(name=f"{prefix}_bn{i}")(x)
            x = layers.Activation("relu", name=f"{prefix}_relu{i}")(x)
            if dropout:
                x = layers.Dropout(dropout, name=f"{prefix}_dropout{i}")(x)
        return x

    inputs = layers.Input(shape=(None, None, n_channels), name="image")
    x = inputs
    skips = []
    for level in range(depth):
        x = conv_block(x, filters * 2**level, f"down{level}")
        skips.append(x)
        x = layers.MaxPooling2D(2, name=f"down{level}_pool")(x)
    x = conv_block(x, filters * 2**depth, "bottom")
    for level in reversed(range(depth)):
        x = layers.Conv2DTranspose(filters * 2**level, 2, strides=2, kernel_initializer="he_normal",
                                   name=f"up{level}_upconv")(x)
        x = layers.Concatenate(name=f"up{level}_concat")([skips[level], x])
        x = conv_block(x, filters * 2**level, f"up{level}")
    outputs = layers.Conv2D(1, 1, activation="sigmoid", dtype="float32", name="probability")(x)
    return tf.keras.Model(inputs, outputs, name=name)


def receptive_radius(depth: int, kernel_size: int = 3) -> int:
    """Pixels of context per side that reach an output pixel (an upper bound)."""
    from .tiling import unet_receptive_radius

    return unet_receptive_radius(n_depth=depth, kernel_size=kernel_size, conv_after_unet=False)


# --- losses -------------------------------------------------------------------------

def binary_focal_loss(gamma: float = 2.0, alpha: float = 0.5, epsilon: float = 1e-7):
    """The binary focal loss (Lin et al. 2017) as a Keras loss.

    Per pixel, with ``p`` the predicted foreground probability (clipped to
    ``[epsilon, 1 - epsilon]``) and ``y`` the target (0 or 1)::

        -alpha * y * (1 - p)**gamma * ln(p) - (1 - alpha) * (1 - y) * p**gamma * ln(1 - p)

    averaged over the pixels of each sample (natural logarithm, as Keras'
    ``BinaryFocalCrossentropy(apply_class_balancing=True)``; Salomon-Sörensen 2023 writes log2,
    which only scales the loss by 1/ln 2).

    Parameters
    ----------
    gamma : float
        Focusing: easy pixels (``p`` close to ``y``) count less (default 2, Lin et al. 2017).
    alpha : float
        Weight of the foreground class; 0.5 weighs both classes alike.
    epsilon : float

    Returns
    -------
    callable
        ``loss(y_true, y_pred) -> (batch,)``; ``y_true`` is ``(batch, Y, X, 1)``
        (only its first channel is read), ``y_pred`` ``(batch, Y, X, 1)``.
    """
    def focal_loss(y_true, y_pred):
        import tensorflow as tf

        y = tf.cast(y_true[..., :1], y_pred.dtype)
        p = tf.clip_by_value(y_pred, epsilon, 1.0 - epsilon)
        per_pixel = -(alpha * y * tf.pow(1.0 - p, gamma) * tf.math.log(p)
                      + (1.0 - alpha) * (1.0 - y) * tf.pow(p, gamma) * tf.math.log(1.0 - p))
        return tf.reduce_mean(per_pixel, axis=[1, 2, 3])

    focal_loss.__name__ = "binary_focal_loss"
    return focal_loss


def weighted_binary_crossentropy(epsilon: float = 1e-7):
    """Cross-entropy weighted pixel by pixel (the U-Net paper's eq. 1) as a Keras loss.

    ``y_true`` carries two channels: the mask (0/1) and the weight of each pixel
    (:func:`pyfiji_dl.data.weights.unet_weight_map`). Per sample::

        mean over pixels of  -w * (y * ln(p) + (1 - y) * ln(1 - p))

    Returns
    -------
    callable
        ``loss(y_true, y_pred) -> (batch,)`` with ``y_true`` ``(batch, Y, X, 2)``.
    """
    def weighted_bce(y_true, y_pred):
        import tensorflow as tf

        y = tf.cast(y_true[..., :1], y_pred.dtype)
        w = tf.cast(y_true[..., 1:2], y_pred.dtype)
        p = tf.clip_by_value(y_pred, epsilon, 1.0 - epsilon)
        per_pixel = -w * (y * tf.math.log(p) + (1.0 - y) * tf.math.log(1.0 - p))
        return tf.reduce_mean(per_pixel, axis=[1, 2, 3])

    weighted_bce.__name__ = "weighted_binary_crossentropy"
    return weighted_bce


def loss_for(config: UNetConfig):
    """The Keras loss a config asks for."""
    if config.loss == "focal":
        return binary_focal_loss(config.focal_gamma, config.focal_alpha)
    if config.loss == "weighted-bce":
        return weighted_binary_crossentropy()
    raise ValueError(f"unknown U-Net loss {config.loss!r} (known: focal, weighted-bce)")


# --- the model object -----------------------------------------------------------------

class UNetModel:
    """A U-Net in a model folder, shaped like CSBDeep's models.

    ``UNetModel(config, name, basedir)`` creates the folder ``basedir/name`` and
    writes ``config.json``; ``UNetModel(None, name, basedir)`` rebuilds the saved
    network and loads ``weights_best.h5`` (or ``weights_last.h5``).

    Attributes
    ----------
    config : UNetConfig
    keras_model : tf.keras.Model
    basedir : Path
    name : str
    logdir : Path
        The model folder.
    callbacks : list
        Keras callbacks of the current training (see :meth:`prepare_for_training`).
    weights_loaded : str or None
        File name of the weights loaded from the folder.
    early_stopped_at : int or None
        Epoch after which early stopping ended the last training.
    """

    def __init__(self, config: UNetConfig | None, name: str | None = None, basedir: str | Path = "."):
        self.basedir = Path(basedir)
        self.name = name or "unet"
        self.logdir = self.basedir / self.name
        self.callbacks: list = []
        self.weights_loaded = None
        self.early_stopped_at = None
        if config is None:
            self.config = UNetConfig.load(self.logdir)
        else:
            self.config = config
            self.logdir.mkdir(parents=True, exist_ok=True)
            config.save(self.logdir)
        self.keras_model = build_unet(self.config.n_channel_in, filters=self.config.filters,
                                      depth=self.config.depth, kernel_size=self.config.kernel_size,
                                      dropout=self.config.dropout, batch_norm=self.config.batch_norm)
        if config is None:
            for weights in (WEIGHTS_BEST, WEIGHTS_LAST):
                if (self.logdir / weights).exists():
                    self.load_weights(weights)
                    break

    def __repr__(self) -> str:
        return f"UNetModel({self.logdir}, depth={self.config.depth}, filters={self.config.filters})"

    def load_weights(self, name: str = WEIGHTS_BEST) -> None:
        self.keras_model.load_weights(str(self.logdir / name))
        self.weights_loaded = name

    def _axes_div_by(self, query_axes: str) -> list:
        """Divisibility the network needs per axis (CSBDeep's method of that name)."""
        return [self.config.divisible_by if a in "YX" else 1 for a in query_axes.upper()]

    def _axes_tile_overlap(self, query_axes: str) -> list:
        """Halo per axis that makes tiled prediction equal whole-image prediction."""
        halo = _round_up(receptive_radius(self.config.depth, self.config.kernel_size), self.config.divisible_by)
        return [halo if a in "YX" else 0 for a in query_axes.upper()]

    def prepare_for_training(self) -> None:
        """Compile (Adam, the configured loss) and make the best-weights/early-stopping callback."""
        import tensorflow as tf

        self.keras_model.compile(optimizer=tf.keras.optimizers.Adam(self.config.train_learning_rate),
                                 loss=loss_for(self.config))
        self.callbacks = [_best_weights_callback(self)]
        if self.config.train_reduce_lr:
            # CSBDeep's and StarDist's models add the same callback from config.train_reduce_lr
            self.callbacks.insert(0, tf.keras.callbacks.ReduceLROnPlateau(
                monitor="val_loss", verbose=0, **self.config.train_reduce_lr))


def _best_weights_callback(model: UNetModel):
    """Keeps ``weights_best.h5`` (lowest val_loss) and stops early after ``train_patience`` epochs.

    The implementation every family shares (:func:`training.early_stopping_callback`);
    writes ``weights_last.h5`` when training ends.
    """

    def report(epoch):
        model.early_stopped_at = epoch

    return training.early_stopping_callback(model.logdir, model.config.train_patience,
                                            best_weights=model.logdir / WEIGHTS_BEST,
                                            last_weights=model.logdir / WEIGHTS_LAST, report=report)


def _open(model_dir: Path, config: UNetConfig | None = None) -> UNetModel:
    return training.open_model(UNetModel, model_dir, config)


def load_model(model_dir: Path) -> UNetModel:
    """Open a trained U-Net folder (config and best weights).

    Raises
    ------
    ModelFolderError
        Not a U-Net folder, or no weights in it.
    """
    training.check_family(model_dir, FAMILY, "a U-Net")
    model = _open(model_dir)
    if model.weights_loaded is None:
        raise ModelFolderError(f"{model_dir}: no {WEIGHTS_BEST} or {WEIGHTS_LAST}; the training never finished "
                               "an epoch. Train again, or --resume it.")
    return model


# --- images in, probabilities out ---------------------------------------------------

def preprocess(image: np.ndarray, contrast: dict, normalization: dict) -> np.ndarray:
    """Contrast enhancement and percentile normalisation, as the network was trained.

    Parameters
    ----------
    image : ndarray
        ``YX``, or ``YXC`` with channels last; raw intensities.
    contrast : dict
        The card's ``contrast``: ``{"method": "none" | "percentile" | "clahe", ...}``;
        CLAHE (Fiji's, :func:`pyfiji_dl.annotation.clahe.clahe`) runs on each channel
        before the normalisation.
    normalization : dict
        The card's ``normalization``: percentiles ``low`` and ``high`` of each
        channel are mapped to 0 and 1 (no clipping).

    Returns
    -------
    ndarray of float32
        Same shape.
    """
    image = np.asarray(image)
    if image.ndim not in (2, 3):
        raise ValueError(f"a U-Net image is YX or YXC, not an array of shape {image.shape}")
    method = contrast.get("method", "percentile")
    if method == "clahe":
        enhance = _clahe_function()
        parameters = {k: contrast.get(k, v) for k, v in CLAHE_PARAMETERS.items()}
        planes = [image] if image.ndim == 2 else [image[..., c] for c in range(image.shape[-1])]
        # Fiji's CLAHE works on ImageJ's pixel types (8-, 16-bit, float); others go as float
        planes = [np.ascontiguousarray(p if p.dtype in (np.uint8, np.uint16, np.float32) else p.astype(np.float32))
                  for p in planes]
        enhanced = [np.asarray(enhance(plane, **parameters), dtype=np.float32) for plane in planes]
        image = enhanced[0] if image.ndim == 2 else np.stack(enhanced, axis=-1)
    elif method not in ("none", "percentile"):
        raise ValueError(f"unknown contrast method {method!r} (known: none, percentile, clahe)")
    return normalize_percentile(image, normalization["low"], normalization["high"],
                                channel_axis=-1 if image.ndim == 3 else None)


def _clahe_function():
    try:
        from ..annotation.clahe import clahe
    except ImportError as exc:
        raise RuntimeError("contrast 'clahe' needs pyfiji_dl.annotation.clahe, which this installation does "
                           f"not have ({exc}); use --contrast percentile.") from None
    return clahe


def _input_with_channels(image: np.ndarray, n_channels: int) -> np.ndarray:
    x = image[..., np.newaxis] if image.ndim == 2 else image
    if x.ndim != 3 or x.shape[-1] != n_channels:
        raise ValueError(f"the model takes YX images with {n_channels} channel(s), not an array of shape {image.shape}")
    return x


def predict_normalized(model: UNetModel, image: np.ndarray, *, n_tiles=None) -> np.ndarray:
    """Foreground probability of an already preprocessed image (see :func:`preprocess`).

    The image is padded (mirrored) to a multiple of ``2**depth``; with more than
    one tile, each tile is predicted with a halo of the network's receptive field,
    aligned to the pooling grid, and only its core is kept, so tiles give the
    whole-image result (up to float rounding).

    Parameters
    ----------
    model : UNetModel
    image : ndarray
        ``YX`` or ``YXC``, float.
    n_tiles : int or tuple, optional
        Tiles along Y and X (a third entry for C must be 1). Default: as few as fit
        in memory (:func:`pyfiji_dl.models.tiling.choose_n_tiles`).

    Returns
    -------
    ndarray of float32
        ``YX``, values in [0, 1].
    """
    from .tiling import choose_n_tiles

    x = _input_with_channels(np.asarray(image, dtype=np.float32), model.config.n_channel_in)
    height, width = x.shape[:2]
    div = model.config.divisible_by
    halo = model._axes_tile_overlap("Y")[0]
    if n_tiles is None:
        n_tiles = choose_n_tiles(x.shape, "YXC", grid=(div, div), overlap=(halo, halo))
    n_tiles = (int(n_tiles),) * 2 if np.isscalar(n_tiles) else tuple(int(n) for n in n_tiles)
    if len(n_tiles) not in (2, 3) or min(n_tiles[:2]) < 1 or (len(n_tiles) == 3 and n_tiles[2] != 1):
        raise ValueError(f"n_tiles {n_tiles}: give tiles along Y and X (and 1 for channels)")
    padded_shape = (_round_up(height, div), _round_up(width, div))
    padded = np.pad(x, ((0, padded_shape[0] - height), (0, padded_shape[1] - width), (0, 0)), mode="reflect")
    probability = np.empty(padded_shape, np.float32)
    y_ranges = _tile_ranges(padded_shape[0], n_tiles[0], div, halo)
    x_ranges = _tile_ranges(padded_shape[1], n_tiles[1], div, halo)
    with training.quiet_keras():
        for (y0, y1), (ry0, ry1) in y_ranges:
            for (x0, x1), (rx0, rx1) in x_ranges:
                tile = padded[np.newaxis, ry0:ry1, rx0:rx1]
                # a direct call, not predict(): no per-shape retracing, no progress output
                out = np.asarray(model.keras_model(tile, training=False))[0, ..., 0]
                probability[y0:y1, x0:x1] = out[y0 - ry0:y1 - ry0, x0 - rx0:x1 - rx0]
    return probability[:height, :width]


def _tile_ranges(size: int, n_tiles: int, div: int, halo: int) -> list:
    """``((core_start, core_stop), (read_start, read_stop))`` per tile along one axis.

    ``size`` and ``halo`` are multiples of ``div``; cores are split in whole
    ``div`` blocks, so every tile sits on the network's pooling grid.
    """
    n_blocks = size // div
    n_tiles = max(1, min(n_tiles, n_blocks))
    edges = [round(k * n_blocks / n_tiles) * div for k in range(n_tiles + 1)]
    ranges = []
    for start, stop in zip(edges[:-1], edges[1:]):
        ranges.append(((start, stop), (max(0, start - halo), min(size, stop + halo))))
    return ranges


def predict(model: UNetModel, image: np.ndarray, *, n_tiles=None, block: dict | None = None) -> np.ndarray:
    """Foreground probability of one raw image (``YX``, or ``YXC`` channels last).

    Applies the model's contrast enhancement and normalisation, then
    :func:`predict_normalized`.

    Parameters
    ----------
    model : UNetModel
    image : ndarray
        Raw intensities.
    n_tiles : int or tuple, optional
        See :func:`predict_normalized`.
    block : dict, optional
        Accepted for the adapters' common signature and not needed: a U-Net's
        output is local, so tiles already bound memory for images of any size.

    Returns
    -------
    ndarray of float32
        ``YX`` probability map in [0, 1].
    """
    config = model.config
    normalized = preprocess(image, contrast_parameters(config), normalization_parameters(config))
    return predict_normalized(model, normalized, n_tiles=n_tiles)


# --- probabilities -> masks and objects ------------------------------------------------

def instances(probability: np.ndarray, *, threshold: float = 0.5, min_area: int | None = None,
              max_area: int | None = None, split_touching: bool = False) -> np.ndarray:
    """Objects from a probability map: threshold, connected components, split, area filter.

    Parameters
    ----------
    probability : ndarray
        ``YX`` foreground probability.
    threshold : float
        Pixels with ``probability > threshold`` are foreground.
    min_area, max_area : int, optional
        Keep objects with ``min_area <= pixels <= max_area``.
    split_touching : bool
        Split touching objects by a watershed on the distance map, seeded by its
        maxima of prominence >= 0.5 px (as Fiji's Process > Binary > Watershed).

    Returns
    -------
    ndarray of int32
        Label map, objects numbered 1..n in raster order of their first pixel,
        8-connected (as Fiji's particle analyser).
    """
    from ..annotation.watershed import split_touching as split

    mask = np.asarray(probability) > threshold
    if split_touching:
        labels = split(mask)
    else:
        labels, _ = ndimage.label(mask, structure=FULL_CONNECTIVITY)
    return filter_areas(labels, min_area, max_area)


def filter_areas(labels: np.ndarray, min_area: int | None = None, max_area: int | None = None) -> np.ndarray:
    """Drop objects outside ``[min_area, max_area]`` pixels and renumber the rest 1..n."""
    labels = np.asarray(labels)
    if not labels.any():
        return labels.astype(np.int32)
    areas = np.bincount(labels.ravel())
    keep = areas > 0
    keep[0] = False
    if min_area is not None:
        keep &= areas >= min_area
    if max_area is not None:
        keep &= areas <= max_area
    new_ids = np.zeros(areas.size, np.int32)
    new_ids[keep] = np.arange(1, int(keep.sum()) + 1, dtype=np.int32)
    return new_ids[labels]


def mean_probabilities(labels: np.ndarray, probability: np.ndarray) -> dict:
    """Mean foreground probability of every object, by label id."""
    if not labels.any():
        return {}
    counts = np.bincount(labels.ravel())
    sums = np.bincount(labels.ravel(), weights=np.asarray(probability, np.float64).ravel())
    ids = np.nonzero(counts)[0]
    return {int(i): float(sums[i] / counts[i]) for i in ids if i}


def postprocess(probability: np.ndarray, card: dict) -> tuple[np.ndarray, np.ndarray, dict]:
    """Mask, objects and their probabilities with the card's post-processing.

    Parameters
    ----------
    probability : ndarray
        ``YX`` probability map.
    card : dict
        Model card: ``threshold``, ``min_area``, ``max_area``, ``split_touching``.

    Returns
    -------
    mask : ndarray of bool
        ``probability > threshold`` (the semantic answer, before the area filter).
    labels : ndarray of int32
        Objects (see :func:`instances`).
    probabilities : dict
        Mean probability by label id.
    """
    threshold = float(card.get("threshold", 0.5))
    labels = instances(probability, threshold=threshold, min_area=card.get("min_area"),
                       max_area=card.get("max_area"), split_touching=bool(card.get("split_touching", False)))
    return probability > threshold, labels, mean_probabilities(labels, probability)


def annotation_instances(annotation: np.ndarray) -> np.ndarray:
    """Objects of an annotation: label maps as they are, binary masks as connected components.

    A mask with a single non-zero value (0/1, 0/255, or one object) becomes its
    8-connected components, so object metrics and the border weight map see
    separate nuclei (touching nuclei in a binary mask stay one object).
    """
    annotation = np.asarray(annotation)
    values = np.unique(annotation)
    if values.size <= 2:
        labels, _ = ndimage.label(annotation > 0, structure=np.ones((3,) * annotation.ndim, bool))
        return labels.astype(np.int32)
    return annotation.astype(np.int32, copy=False)


# --- training -------------------------------------------------------------------------

def _round_up(value: int, unit: int) -> int:
    return int(math.ceil(value / unit) * unit)


def _default_patch(shapes: list, div: int) -> tuple:
    smallest = int(min(min(s[:2]) for s in shapes))
    side = min(DEFAULT_PATCH, (smallest // div) * div)
    if side < div:
        raise UNetDataError(f"the smallest image ({smallest} px) is smaller than {div} px, the least a U-Net of this "
                            "depth takes; use a smaller --depth or larger images")
    return side, side


def plan_training(dataset: InstanceDataset, options: UnetOptions, *, progress: bool = False):
    """The training plan for this device, these objects and the budget; options with it filled in.

    Returns
    -------
    options : UnetOptions
    plan : pyfiji_dl.models.budget.TrainingPlan
    """
    from ..data.checks import object_extents
    from .budget import plan_options
    from .device import configure_tensorflow

    device = configure_tensorflow(quiet=not progress)["device"]
    extents = [e for s in dataset.all_samples for e in object_extents(_as_labels(s.labels))]
    # 16 = 2**4, the deepest U-Net: the patch also fits a fine-tuned source of any depth
    options, plan = plan_options(FAMILY, options, [s.labels.shape[:2] for s in dataset.all_samples], extents,
                                 device=device, divisor=16)
    # the U-Net's early stopping has its own option (--patience, seed 002's rule)
    return options, replace(plan, early_stopping_patience=options.patience)


def _as_labels(mask: np.ndarray) -> np.ndarray:
    """Objects of a label map or of a binary mask (8-connected components)."""

    mask = np.asarray(mask)
    if mask.max() <= 1 or len(np.unique(mask)) <= 2:
        return ndimage.label(mask > 0, structure=FULL_CONNECTIVITY)[0]
    return mask.astype(np.int32, copy=False)


def make_config(dataset: InstanceDataset, options: UnetOptions, reduce_lr: dict | None = None) -> UNetConfig:
    """A :class:`UNetConfig` for ``dataset`` from ``options`` (class weights from the training masks)."""
    from ..data.weights import balanced_class_weights

    if any(getattr(options, name) is None for name in ("epochs", "steps", "batch", "lr")):
        options, plan = plan_training(dataset, options)
        reduce_lr = reduce_lr or plan.reduce_lr
    options.check()
    div = 2**options.depth
    shapes = [s.labels.shape for s in dataset.all_samples]
    patch = tuple(options.patch) if options.patch else _default_patch(shapes, div)
    if len(patch) == 1:
        patch = patch * 2
    low, high = (0.0, 100.0) if options.contrast == "none" else PERCENTILES
    return UNetConfig(
        n_channel_in=dataset.n_channels, depth=options.depth, filters=options.filters, dropout=options.dropout,
        contrast=options.contrast, normalization_low=low, normalization_high=high, loss=options.loss,
        focal_gamma=options.focal_gamma, focal_alpha=options.focal_alpha, w0=options.w0, sigma=options.sigma,
        class_weights=list(balanced_class_weights([s.labels for s in dataset.train])),
        train_patch_size=tuple(int(p) for p in patch), train_batch_size=options.batch,
        train_learning_rate=options.lr, train_epochs=options.epochs, train_steps_per_epoch=options.steps,
        train_patience=options.patience, train_reduce_lr=dict(reduce_lr) if reduce_lr else None, seed=options.seed,
    )


def _retrain_config(config: UNetConfig, options: UnetOptions, dataset: InstanceDataset) -> UNetConfig:
    """A fine-tuning config: the source's network and preprocessing, our training settings and loss.

    The class weights of the border-weighted loss come from the new training masks.
    """
    import sys

    from ..data.weights import balanced_class_weights

    defaults = {f.name: f.default for f in fields(options)}
    kept = [f"--{name} {getattr(options, name)}" for name, saved in
            (("contrast", config.contrast), ("filters", config.filters), ("depth", config.depth))
            if getattr(options, name) != saved and getattr(options, name) != defaults[name]]
    if kept:
        print(f"pyfiji-dl: warning: {', '.join(kept)} ignored: fine-tuning keeps the source model's network and "
              f"contrast ({config.filters} filters, depth {config.depth}, contrast {config.contrast}), which its "
              "weights expect", file=sys.stderr, flush=True)
    div = config.divisible_by
    patch = tuple(options.patch) if options.patch else None
    if patch and len(patch) == 1:
        patch = patch * 2
    if patch and any(p % div or p < div for p in patch):
        raise ValueError(f"patch {patch} must be made of multiples of {div} (2**depth of the source model)")
    return replace(config, loss=options.loss, focal_gamma=options.focal_gamma, focal_alpha=options.focal_alpha,
                   w0=options.w0, sigma=options.sigma, train_patch_size=patch or config.train_patch_size,
                   class_weights=list(balanced_class_weights([s.labels for s in dataset.train])),
                   train_batch_size=options.batch, train_learning_rate=options.lr, train_epochs=options.epochs,
                   train_steps_per_epoch=options.steps, train_patience=options.patience, seed=options.seed)


def require_2d(dataset: InstanceDataset) -> None:
    """Raise :class:`UNetDataError` for 3D data (this U-Net is 2D)."""
    if dataset.ndim != 2:
        raise UNetDataError(f"the images are {dataset.ndim}D; this U-Net is 2D. Train on single planes "
                            "(time-lapses are split into frames automatically), or use StarDist for 3D.")


def _check_data(config: UNetConfig, dataset: InstanceDataset, source: Path) -> None:
    require_2d(dataset)
    problems = []
    if config.n_channel_in != dataset.n_channels:
        problems.append(f"{source} takes {config.n_channel_in} channel(s); the data have {dataset.n_channels} "
                        "(choose one with --channel)")
    patch = config.train_patch_size
    small = [f"{s.name} {tuple(s.labels.shape)}" for s in dataset.all_samples
             if any(n < p for n, p in zip(s.labels.shape, patch))]
    if small:
        problems.append(f"images smaller than the training patch {tuple(patch)}: {', '.join(small[:6])}; "
                        f"use a smaller --patch (a multiple of {config.divisible_by})")
    if problems:
        raise UNetDataError("the data do not fit the U-Net; nothing was trained:\n  " + "\n  ".join(problems))


def prepare_arrays(samples: list, config: UNetConfig) -> list:
    """``(image, target)`` per sample: the preprocessed image (``YXC``) and ``YX1`` mask or ``YX2`` mask + weights."""
    from ..data.weights import unet_weight_map

    contrast, normalization = contrast_parameters(config), normalization_parameters(config)
    arrays = []
    for sample in samples:
        x = _input_with_channels(preprocess(sample.image, contrast, normalization), config.n_channel_in)
        labels = annotation_instances(sample.labels)
        target = [(labels > 0).astype(np.float32)]
        if config.loss == "weighted-bce":
            target.append(unet_weight_map(labels, config.w0, config.sigma, config.class_weights))
        arrays.append((x, np.stack(target, axis=-1)))
    return arrays


def _jitter_intensity(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    # the ranges of data.augment.instance_augmenter (illumination and gain differ between
    # microscopes); applied to the image only, since the targets carry mask and weights
    x = x * rng.uniform(0.6, 2.0) + rng.uniform(-0.2, 0.2)
    if rng.random() < 0.5:
        x = x + rng.normal(0, rng.uniform(0, 0.03), x.shape)
    return x


def patch_batches(arrays: list, patch: tuple, batch: int, seed: int, augment: bool = True):
    """Endless batches of random patches ``(x, y)``, images drawn in proportion to their area.

    Augmentation: flips and 90-degree rotations of image and target together
    (:func:`pyfiji_dl.data.augment.random_flips_rotations`) and intensity changes of
    the image.
    """
    rng = np.random.default_rng(seed)
    sizes = np.array([(x.shape[0] - patch[0] + 1) * (x.shape[1] - patch[1] + 1) for x, _ in arrays], float)
    odds = sizes / sizes.sum()
    while True:
        xs, ys = [], []
        for _ in range(batch):
            x, y = arrays[rng.choice(len(arrays), p=odds)]
            top = int(rng.integers(0, x.shape[0] - patch[0] + 1))
            left = int(rng.integers(0, x.shape[1] - patch[1] + 1))
            px = x[top:top + patch[0], left:left + patch[1]]
            py = y[top:top + patch[0], left:left + patch[1]]
            if augment:
                px, py = random_flips_rotations(px, py, rng, 2)
                px = _jitter_intensity(px, rng)
            xs.append(px)
            ys.append(py)
        yield np.stack(xs).astype(np.float32), np.stack(ys).astype(np.float32)


def validation_patches(arrays: list, patch: tuple, limit: int = MAX_VALIDATION_PATCHES):
    """Patches on a regular grid over the validation images (the last row/column flush with the edge).

    At most ``limit``, evenly spaced, so that validating stays cheap.
    """
    xs, ys = [], []
    for x, y in arrays:
        tops = sorted({*range(0, x.shape[0] - patch[0] + 1, patch[0]), x.shape[0] - patch[0]})
        lefts = sorted({*range(0, x.shape[1] - patch[1] + 1, patch[1]), x.shape[1] - patch[1]})
        for top in tops:
            for left in lefts:
                xs.append(x[top:top + patch[0], left:left + patch[1]])
                ys.append(y[top:top + patch[0], left:left + patch[1]])
    if len(xs) > limit:
        keep = np.unique(np.linspace(0, len(xs) - 1, limit).round().astype(int))
        xs, ys = [xs[i] for i in keep], [ys[i] for i in keep]
    return np.stack(xs).astype(np.float32), np.stack(ys).astype(np.float32)


def optimise_threshold(probabilities: list, truths: list, candidates=THRESHOLD_CANDIDATES) -> tuple[float, float]:
    """The probability threshold with the best pooled pixel IoU on validation images.

    Parameters
    ----------
    probabilities : list of ndarray
        Predicted probability maps.
    truths : list of ndarray
        Annotations (foreground: non-zero).
    candidates : sequence of float

    Returns
    -------
    (threshold, pixel_iou)
        Ties go to the candidate nearest 0.5; (0.5, 0.0) without any foreground.
    """
    best = (0.5, -1.0)
    for threshold in sorted(candidates, key=lambda t: abs(t - 0.5)):
        tp = fp = fn = 0
        for probability, truth in zip(probabilities, truths):
            predicted, actual = probability > threshold, truth > 0
            both = int(np.count_nonzero(predicted & actual))
            tp += both
            fp += int(np.count_nonzero(predicted)) - both
            fn += int(np.count_nonzero(actual)) - both
        iou = tp / (tp + fp + fn) if tp else 0.0
        if iou > best[1]:
            best = (float(threshold), iou)
    return best[0], max(best[1], 0.0)


def default_area_limits(samples: list) -> dict:
    """``min_area`` (a quarter of the median annotated object) and the object sizes it comes from."""
    areas = np.concatenate([np.bincount(annotation_instances(s.labels).ravel())[1:] for s in samples] or [[]])
    areas = areas[areas > 0]
    if not areas.size:
        return {"min_area": None, "median_object_area": None}
    median = float(np.median(areas))
    return {"min_area": max(1, int(MIN_AREA_FRACTION_OF_MEDIAN * median)), "median_object_area": median}


def train(dataset: InstanceDataset, model_dir: Path, options: UnetOptions, *, resume: bool = False,
          from_model: Path | None = None, progress: bool = True, extra_callbacks: list | None = None) -> UNetModel:
    """Train (or resume, or fine-tune) a U-Net into ``model_dir``; return it with its best weights.

    After training, the best weights (lowest validation loss) are loaded, the
    probability threshold is optimised on the validation images (unless
    ``options.threshold`` is given) and the card gets every post-processing
    parameter.

    Parameters
    ----------
    dataset : InstanceDataset
        2D images with label maps or binary masks (foreground: > 0).
    model_dir : Path
        Must be new or empty, unless ``resume``.
    options : UnetOptions
    resume : bool
        Continue an interrupted run from its last checkpoint, to the same total.
    from_model : Path, optional
        Fine-tune: the network, its weights and its preprocessing come from this
        U-Net; the training settings and loss from ``options``.
    progress : bool
    extra_callbacks : list, optional

    Returns
    -------
    UNetModel
    """
    import tensorflow as tf

    from .device import configure_tensorflow

    options.check(network=from_model is None and not resume)
    model_dir = Path(model_dir).resolve()
    configure_tensorflow(quiet=not progress)
    options, plan = plan_training(dataset, options, progress=progress)
    epochs_done = 0
    if resume:
        model, epochs_done, epochs_total = training.reopen_for_resume(_open, model_dir)
        _check_data(model.config, dataset, model_dir)
    else:
        if progress:
            print(plan.summary(), flush=True)
        training.check_new_model_dir(model_dir)
        if from_model is not None:
            source = load_model(from_model)
            config = _retrain_config(source.config, options, dataset)
            config.train_reduce_lr = dict(plan.reduce_lr)
            _check_data(config, dataset, Path(from_model))
        else:
            config = make_config(dataset, options, plan.reduce_lr)
            _check_data(config, dataset, model_dir)
        tf.random.set_seed(options.seed)  # the same seed gives the same initial weights
        model = _open(model_dir, config)
        if from_model is not None:
            model.keras_model.set_weights(source.keras_model.get_weights())
        epochs_total = options.epochs
        write_card(model_dir, _card(model.config, fine_tuned_from=from_model) | {"training_plan": plan.as_dict()})
        training.TrainingState(0, epochs_total, model.config.train_learning_rate).save(model_dir)

    config = model.config
    train_arrays = prepare_arrays(dataset.train, config)
    X_val, Y_val = validation_patches(prepare_arrays(dataset.val, config), config.train_patch_size)
    batches = patch_batches(train_arrays, config.train_patch_size, config.train_batch_size,
                            config.seed + epochs_done, augment=options.augment)

    def fit(epochs):
        model.keras_model.fit(batches, epochs=epochs, steps_per_epoch=config.train_steps_per_epoch,
                              validation_data=(X_val, Y_val), validation_batch_size=config.train_batch_size,
                              callbacks=model.callbacks, verbose=0)

    training.fit_with_bookkeeping(model, model_dir, fit, epochs_total=epochs_total, epochs_done=epochs_done,
                                  progress=progress, description="U-Net training",
                                  max_minutes=options.max_minutes, extra_callbacks=extra_callbacks)
    if (model_dir / WEIGHTS_BEST).exists():
        model.load_weights(WEIGHTS_BEST)  # restore the best epoch, not the last
    if model.early_stopped_at and progress:
        print(f"Early stopping after epoch {model.early_stopped_at}: no better validation loss for "
              f"{config.train_patience} epochs; keeping the best weights.", flush=True)

    card = read_card(model_dir)
    if options.threshold is None:
        if progress:
            print(f"Optimising the probability threshold on {len(dataset.val)} validation image(s)...", flush=True)
        probabilities = [predict(model, s.image) for s in dataset.val]
        threshold, iou = optimise_threshold(probabilities, [s.labels for s in dataset.val])
        card["threshold_optimisation"] = {"criterion": "pooled pixel IoU on the validation images",
                                          "pixel_iou": iou, "candidates": "0.05 to 0.95 in steps of 0.05"}
    else:
        threshold = float(options.threshold)
        card["threshold_optimisation"] = None
    areas = default_area_limits(dataset.train)
    card.update({
        "threshold": threshold,
        "min_area": options.min_area if options.min_area is not None else areas["min_area"],
        "max_area": options.max_area,
        "median_object_area": areas["median_object_area"],
        "split_touching": bool(options.split_touching),
        "early_stopped_at_epoch": model.early_stopped_at,
        "weights": WEIGHTS_BEST,
    })
    write_card(model_dir, card)
    return model


def _card(config: UNetConfig, *, fine_tuned_from=None) -> dict:
    """The model card before training: what the network expects and how to post-process it."""
    halo = _round_up(receptive_radius(config.depth, config.kernel_size), config.divisible_by)
    return {
        "family": FAMILY,
        "ndim": 2,
        "n_channels": config.n_channel_in,
        "axes": "YX" + ("C" if config.n_channel_in > 1 else ""),
        "patch": list(config.train_patch_size),
        "contrast": contrast_parameters(config),
        "normalization": normalization_parameters(config),
        "input": {"keras_shape": [None, None, None, config.n_channel_in], "layout": "byxc",
                  "divisible_by": config.divisible_by, "padding": "reflect to a multiple of divisible_by",
                  "tile_halo": halo},
        "output": {"keras_shape": [None, None, None, 1], "meaning": "foreground probability",
                   "activation": "sigmoid"},
        "network": {"architecture": "U-Net", "depth": config.depth, "filters": config.filters,
                    "kernel_size": config.kernel_size, "batch_norm": config.batch_norm, "dropout": config.dropout,
                    "upsampling": config.upsampling, "initializer": "he_normal"},
        "loss": ({"name": "binary focal", "gamma": config.focal_gamma, "alpha": config.focal_alpha}
                 if config.loss == "focal" else
                 {"name": "weighted binary cross-entropy (U-Net border weights)", "w0": config.w0,
                  "sigma": config.sigma, "class_weights": config.class_weights}),
        "threshold": 0.5,
        "min_area": None,
        "max_area": None,
        "area_unit": "pixel",
        "split_touching": False,
        "connectivity": 8,
        "fine_tuned_from": str(Path(fine_tuned_from).resolve()) if fine_tuned_from else None,
    }


def thresholds(model: UNetModel) -> dict:
    """The probability threshold of a trained model, as ``{"prob": ...}``."""
    return {"prob": float(read_card(model.logdir).get("threshold", 0.5))}
