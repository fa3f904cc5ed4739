"""The model card: one JSON file that says what a model folder holds.

``MODEL_DIR/pyfiji_dl.json`` names the model family (so ``pyfiji-dl predict`` knows
which adapter to use), the image layout it expects, its normalisation and its
thresholds. Config, weights and training history sit beside it.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import PyfijiDLError
from ..io.atomic import atomic_path

CARD_FILE = "pyfiji_dl.json"


class ModelFolderError(PyfijiDLError, ValueError):
    """The folder is not a usable pyfiji_dl model."""


def write_card(model_dir: Path, card: dict) -> Path:
    if not card.get("family"):
        raise ValueError("a model card names its family")
    path = Path(model_dir) / CARD_FILE
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(card, indent=2, default=str))
    return path


def read_card(model_dir: Path) -> dict:
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
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ModelFolderError(f"{path}: damaged model card ({exc}).") from exc
