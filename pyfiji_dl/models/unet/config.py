"""U-Net settings: what the family declares, its data error and :class:`UNetConfig` (``config.json``)."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from ...errors import PyfijiDLError
from ...io.atomic import atomic_path
from ..card import CardDetails, ModelFolderError

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


@dataclass
class UNetCard(CardDetails):
    """The U-Net part of a model card: what the network expects and how its output becomes objects.

    Attributes
    ----------
    contrast : dict
        ``{"method": "none" | "percentile" | "clahe", ...}`` (CLAHE with Fiji's parameters).
    input, output, network, loss : dict
        The network's tensors, architecture and training loss, for exports and reports.
    threshold : float, optional
        Probability threshold of the mask (None in a card: 0.5, as before training).
    min_area, max_area : int, optional
        Object area limits (``area_unit``); None: no limit.
    area_unit : str
    split_touching : bool
        Split touching objects with a watershed on the distance map.
    connectivity : int
        Pixel connectivity of the objects (8).
    threshold_optimisation : dict, optional
        How ``threshold`` was optimised (None: given by the user); written when training ends.
    median_object_area : int, optional
        Median annotated object area (pixels), which ``min_area`` defaults from.
    early_stopped_at_epoch : int, optional
    weights : str, optional
        The weights file prediction loads.
    """

    contrast: dict | None = None
    input: dict | None = None
    output: dict | None = None
    network: dict | None = None
    loss: dict | None = None
    threshold: float | None = None
    min_area: int | None = None
    max_area: int | None = None
    area_unit: str | None = None
    split_touching: bool = False
    connectivity: int | None = None
    threshold_optimisation: dict | None = None
    median_object_area: int | None = None
    early_stopped_at_epoch: int | None = None
    weights: str | None = None

    @property
    def probability_threshold(self) -> float:
        """The mask threshold (0.5 when the card has none, as before training ends)."""
        return float(self.threshold if self.threshold is not None else 0.5)

    def decision_thresholds(self) -> dict:
        return {"prob": self.probability_threshold}


CARD_DETAILS = UNetCard



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

    @property
    def axes(self) -> str:
        """The network's axes as CSBDeep names them (``BaseModel`` shows them)."""
        return "YXC"

    def is_valid(self, return_invalid: bool = False):
        """CSBDeep's config check, which ``BaseModel`` runs on a new model's config.

        Returns
        -------
        bool, or (bool, tuple of str) with ``return_invalid``
            Whether the network can be built, and the names of the fields that prevent it.
        """
        checks = {
            "n_channel_in": self.n_channel_in >= 1, "depth": self.depth >= 1, "filters": self.filters >= 1,
            "kernel_size": self.kernel_size >= 1 and self.kernel_size % 2 == 1, "dropout": 0 <= self.dropout < 1,
            "loss": self.loss in ("focal", "weighted-bce"),
            "train_patch_size": all(p >= self.divisible_by and p % self.divisible_by == 0
                                    for p in self.train_patch_size),
        }
        invalid = tuple(name for name, ok in checks.items() if not ok)
        return (not invalid, invalid) if return_invalid else not invalid


def contrast_parameters(config: UNetConfig) -> dict:
    """The card's ``contrast`` entry: the method and, for CLAHE, Fiji's parameters."""
    if config.contrast == "clahe":
        return {"method": "clahe", **CLAHE_PARAMETERS}
    return {"method": config.contrast}


def normalization_parameters(config: UNetConfig) -> dict:
    """The card's ``normalization`` entry (percentiles of each image mapped to 0 and 1)."""
    return {"method": "percentile", "low": float(config.normalization_low),
            "high": float(config.normalization_high), "per_channel": True, "clip": False}


def round_up(value: int, unit: int) -> int:
    """``value`` rounded up to a multiple of ``unit``."""
    return int(math.ceil(value / unit) * unit)
