"""The model card: one JSON file that says what a model folder holds.

``MODEL_DIR/pyfiji_dl.json`` names the model family (so ``pyfiji-dl predict`` knows
which adapter to use), the image layout it expects, its normalisation and its
thresholds. Config, weights and training history sit beside it.

In memory the card is a :class:`ModelCard`, typed like CSBDeep's ``BaseConfig``
(Weigert et al., Nature Methods 2018): the fields every family has, plus the
family's own part (:class:`CardDetails`, declared by the family's adapter in
this package as ``CARD_DETAILS``). :meth:`ModelCard.from_json` reads every card
earlier versions wrote, and :meth:`ModelCard.to_json` writes the same keys in the
same order (keys this version does not know are kept as they were read).
"""

from __future__ import annotations

import copy
import json
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path

from ..errors import PyfijiDLError
from ..io.atomic import atomic_path

CARD_FILE = "pyfiji_dl.json"


class ModelFolderError(PyfijiDLError, ValueError):
    """The folder is not a usable pyfiji_dl model."""


@dataclass
class CardDetails:
    """The part of a card only one family has; a family's adapter subclasses it (``CARD_DETAILS``).

    Each dataclass field is one key of the card's JSON, with the same name.
    """

    def decision_thresholds(self) -> dict:
        """The model's decision thresholds as ``{"prob": ...[, "nms": ...]}`` (empty: none)."""
        return {}

    def largest_object(self) -> int | None:
        """Largest annotated object in pixels, when training measured it (None otherwise)."""
        return None


@dataclass
class ModelCard:
    """What a model folder holds, for every family.

    Attributes
    ----------
    family : str
        The family's name (:mod:`pyfiji_dl.families`), which picks the adapter.
    ndim : int
        Spatial dimensions of the images it takes (2 or 3).
    n_channels : int
        Input channels (the model's last axis when more than one).
    axes : str
        Input layout, e.g. ``"YX"``, ``"ZYX"``, ``"YXC"``.
    normalization : dict
        How inputs are normalised (``method``, and ``low``/``high`` percentiles when
        ``method`` is ``"percentile"``).
    patch : list of int, optional
        Training patch.
    fine_tuned_from : str, optional
        The model folder whose weights training started from (lineage).
    training_plan : dict, optional
        The plan training ran with (:meth:`pyfiji_dl.models.budget.TrainingPlan.as_dict`):
        epochs, steps, patch, batch, learning-rate schedule, budget.
    data_check : dict, optional
        What the data check measured (shown in the QC report).
    details : CardDetails, optional
        The family's own part (None for a family this version does not know).
    extra : dict
        Keys this version does not know, kept as they were read and written back.
    """

    family: str
    ndim: int = 2
    n_channels: int = 1
    axes: str = "YX"
    normalization: dict = field(default_factory=dict)
    patch: list | None = None
    fine_tuned_from: str | None = None
    training_plan: dict | None = None
    data_check: dict | None = None
    details: CardDetails | None = None
    extra: dict = field(default_factory=dict)
    # the JSON keys in the order they were read or first set, so a card is written back as it was
    key_order: list = field(default_factory=list, repr=False, compare=False)

    COMMON_KEYS = ("family", "ndim", "n_channels", "axes", "normalization", "patch", "fine_tuned_from",
                   "training_plan", "data_check")

    def __post_init__(self):
        # what every command relies on; a card that breaks it was damaged or hand-edited
        if not isinstance(self.family, str) or not self.family:
            raise ValueError(f"'family' must name a model family, not {self.family!r}")
        if self.ndim not in (2, 3) or isinstance(self.ndim, bool):
            raise ValueError(f"'ndim' must be 2 or 3, not {self.ndim!r}")
        if not isinstance(self.n_channels, int) or isinstance(self.n_channels, bool) or self.n_channels < 1:
            raise ValueError(f"'n_channels' must be a positive whole number, not {self.n_channels!r}")

    # --- reading and writing ------------------------------------------------------------

    @classmethod
    def new(cls, family: str, **values) -> ModelCard:
        """A card for a new model; ``values`` (common and family keys) are written in the order given."""
        card = cls(family=family, details=_details_class(family)())
        card.update(family=family, **values)
        return card

    @classmethod
    def from_json(cls, data: dict) -> ModelCard:
        """The card of a JSON object written by any version of pyfiji_dl.

        Older cards lack keys newer versions write: those take their defaults. A
        family this version does not know keeps all its keys in ``extra``.
        """
        if not isinstance(data, dict):
            raise ValueError(f"a model card is a JSON object, not {type(data).__name__}")
        family = data.get("family")
        details_class = _details_class(family)
        details_keys = {f.name for f in fields(details_class)} if details_class else set()
        common = {key: data[key] for key in cls.COMMON_KEYS if key in data} | {"family": family}
        details = details_class(**{k: data[k] for k in details_keys if k in data}) if details_class else None
        extra = {k: v for k, v in data.items() if k not in common and k not in details_keys}
        card = cls(**common, details=details, extra=extra)
        card.key_order = list(data)
        return card

    def to_json(self) -> dict:
        """The JSON object of the card: the keys read or set, in their order, then any other
        field given a value (not None, not its default) since."""
        values = {key: getattr(self, key) for key in self.COMMON_KEYS}
        defaults = _defaults(self)
        if self.details is not None:
            values.update((f.name, getattr(self.details, f.name)) for f in fields(self.details))
            defaults.update(_defaults(self.details))
        values.update(self.extra)
        present = [key for key in self.key_order if key in values]
        present += [key for key, value in values.items()
                    if key not in present and value is not None and value != defaults.get(key)]
        return {key: values[key] for key in present}

    def update(self, **values) -> None:
        """Set common or family keys (unknown ones go to ``extra``); each is written, even when None."""
        detail_keys = {f.name for f in fields(self.details)} if self.details is not None else set()
        for key, value in values.items():
            if key in self.COMMON_KEYS:
                setattr(self, key, value)
            elif key in detail_keys:
                setattr(self.details, key, value)
            else:
                self.extra[key] = value
            if key not in self.key_order:
                self.key_order.append(key)

    def copy_with(self, **values) -> ModelCard:
        """A copy of the card with ``values`` set (as :meth:`update`); the card itself is not changed."""
        card = copy.deepcopy(self)
        card.update(**values)
        return card

    def has(self, key: str) -> bool:
        """Whether the card's JSON holds ``key`` (written by training, possibly as null)."""
        return key in self.to_json()

    # --- what several layers ask -----------------------------------------------------------

    @property
    def thresholds(self) -> dict:
        """Decision thresholds, one spelling for every family: ``{"prob": ...[, "nms": ...]}``.

        StarDist's cards store ``thresholds``, U-Net's a single ``threshold``; the
        family's :class:`CardDetails` reads its own. Empty for restoration models.
        """
        return self.details.decision_thresholds() if self.details is not None else {}

    @property
    def largest_object(self) -> int | None:
        """Largest annotated object in pixels, when the family's training measured it."""
        return self.details.largest_object() if self.details is not None else None

    @property
    def spatial_axes(self) -> str:
        """``"YX"`` or ``"ZYX"``."""
        return "ZYX" if self.ndim == 3 else "YX"

    @property
    def percentiles(self) -> tuple[float, float]:
        """The (low, high) percentiles of the input normalisation."""
        return self.normalization["low"], self.normalization["high"]


def _defaults(instance) -> dict:
    """The default of each field of a dataclass instance (those without one left out)."""
    defaults = {}
    for f in fields(instance):
        if f.default is not MISSING:
            defaults[f.name] = f.default
        elif f.default_factory is not MISSING:
            defaults[f.name] = f.default_factory()
    return defaults


def _details_class(family) -> type | None:
    """The family adapter's :class:`CardDetails` subclass (None: unknown family, or none declared)."""
    from . import UnknownAdapterError, adapter_for

    try:
        return getattr(adapter_for(family), "CARD_DETAILS", CardDetails)
    except UnknownAdapterError:
        return None


def write_card(model_dir: Path, card: ModelCard) -> Path:
    """Write ``card`` into ``model_dir`` (atomically)."""
    if not card.family:
        raise ValueError("a model card names its family")
    path = Path(model_dir) / CARD_FILE
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(card.to_json(), indent=2, default=str))
    return path


def read_card(model_dir: Path) -> ModelCard:
    """The card of ``model_dir``; a clear error when the folder is not a model."""
    model_dir = Path(model_dir)
    path = model_dir / CARD_FILE
    if not model_dir.is_dir():
        raise ModelFolderError(f"{model_dir}: no such model folder.")
    if not path.exists():
        raise ModelFolderError(
            f"{model_dir}: not a pyfiji_dl model (no {CARD_FILE}). Train one with "
            "'pyfiji-dl train ...' or give the folder a training run wrote."
        )
    try:
        data = json.loads(path.read_text())
        return ModelCard.from_json(data)
    except (json.JSONDecodeError, ValueError, TypeError) as exc:
        raise ModelFolderError(f"{path}: damaged model card ({exc}).") from exc
