"""Is a model folder complete? One check for every command that opens a model.

A model folder is complete when it has, for its family (its adapter's ``MODEL_FILES``):

* its configuration (``config.json``, readable JSON),
* trained weights (``weights_best.h5`` or ``weights_last.h5``, readable HDF5),
* its thresholds where the family has them (StarDist: ``thresholds.json``, written
  by StarDist's threshold optimisation; U-Net: the optimised threshold in the card,
  written after training).

CSBDeep's loader warns and keeps a random network when no weights are found, and
StarDist falls back to default thresholds when ``thresholds.json`` is missing; both
would let an unfinished model predict and export as if trained. So ``predict``,
``evaluate``, ``export``, ``train --from`` and bioimageio packages opened as models
all call :func:`require_complete` first: it names what is missing and how to finish
it (resume the training, or train again). No TensorFlow is imported here.
"""

from __future__ import annotations

import json
from pathlib import Path

from . import UnknownAdapterError, adapter_for
from .card import ModelCard, ModelFolderError, read_card

class IncompleteModelError(ModelFolderError):
    """The model folder lacks a file it needs to be used (the message says which and what to do)."""


class DamagedModelError(ModelFolderError):
    """A file of the model folder cannot be read (the message names it)."""


def how_to_finish(model_dir: Path, family: str | None) -> str:
    """What the user can do to complete ``model_dir``: resume its training, or train again."""
    from .training import CHECKPOINT, TrainingState

    model_dir = Path(model_dir)
    command = f"pyfiji-dl train {family or 'FAMILY'} --data DATA --model {model_dir}"
    try:
        state = TrainingState.load(model_dir)
    except (ValueError, TypeError, OSError):
        state = None
    if state is not None and (model_dir / CHECKPOINT).exists():
        return (f"its training stopped after {state.epochs_done} of {state.epochs_total} epochs; finish it "
                f"with '{command} --resume'")
    return f"train it again with '{command} --restart' (or into a new folder)"


def _readable_json(path: Path) -> None:
    try:
        value = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DamagedModelError(f"{path}: damaged model file, not readable JSON ({exc}). Restore it from a "
                                "copy of the model, or train the model again.", path=path) from None
    if not isinstance(value, dict):
        raise DamagedModelError(f"{path}: damaged model file (not a JSON object). Restore it from a copy of "
                                "the model, or train the model again.", path=path)


def _readable_hdf5(path: Path) -> None:
    """Open the weights file and walk its groups: a truncated or foreign file fails here."""
    import h5py

    try:
        with h5py.File(path, "r") as weights:
            weights.visit(lambda name: None)
    except (OSError, KeyError, ValueError, RuntimeError) as exc:
        raise DamagedModelError(f"{path}: damaged weights file, not readable HDF5 ({exc}). Restore it from "
                                "a copy of the model, or train the model again.", path=path) from None


def missing_parts(model_dir: str | Path, card: ModelCard | None = None) -> list[str]:
    """What ``model_dir`` lacks to be used, one phrase each (empty: complete).

    Raises
    ------
    DamagedModelError
        A configuration or weights file that exists but cannot be read.
    ModelFolderError
        Not a model folder, or an unknown family.
    """
    model_dir = Path(model_dir)
    card = read_card(model_dir) if card is None else card
    family = card.family
    try:
        parts = adapter_for(family).MODEL_FILES
    except UnknownAdapterError:
        raise ModelFolderError(f"{model_dir}: unknown model family {family!r} in its card; this version of "
                               "pyfiji_dl cannot use it (update pyfiji_dl).", path=model_dir) from None
    missing = []
    config = model_dir / parts["config"]
    if config.exists():
        _readable_json(config)
    else:
        missing.append(f"the configuration ({parts['config']})")
    weights = [model_dir / name for name in parts["weights"] if (model_dir / name).exists()]
    if weights:
        _readable_hdf5(weights[0])  # the file that loads (best first)
    else:
        missing.append(f"trained weights ({' or '.join(parts['weights'])})")
    thresholds = parts.get("thresholds")
    if thresholds and thresholds.startswith("card:"):
        if not card.has(thresholds[5:]):
            missing.append("the optimised threshold (written when training ends)")
    elif thresholds:
        if (model_dir / thresholds).exists():
            _readable_json(model_dir / thresholds)
        else:
            missing.append(f"the optimised thresholds ({thresholds})")
    return missing


def require_complete(model_dir: str | Path, card: ModelCard | None = None) -> ModelCard:
    """The card of ``model_dir`` when the model is complete; an error saying what is missing otherwise.

    Raises
    ------
    IncompleteModelError
        Missing configuration, weights or thresholds; the message says how to finish
        the model.
    DamagedModelError
        A configuration, weights or thresholds file that cannot be read.
    ModelFolderError
        Not a model folder.
    """
    model_dir = Path(model_dir)
    card = read_card(model_dir) if card is None else card
    missing = missing_parts(model_dir, card)
    if missing:
        finish = how_to_finish(model_dir, card.family)
        raise IncompleteModelError(
            f"{model_dir}: the model is incomplete, so it cannot be used as a trained model. Missing: "
            f"{'; '.join(missing)}. {finish[0].upper()}{finish[1:]}.", path=model_dir)
    return card
