"""What every model family shares while training: progress, history, resume.

* a progress bar per epoch with the losses (tqdm, on stderr);
* ``training_history.csv`` rewritten atomically after every epoch;
* a resume checkpoint (``checkpoint/weights_last.h5`` + ``training_state.json``)
  written atomically after every epoch, so an interrupted run continues where it
  stopped with ``--resume`` and the same total number of epochs;
* a time budget (``--max-minutes``) that ends training before an epoch that would
  not finish within it (from the measured epoch times), not after;
* early stopping on the validation loss that keeps the best weights, and the
  learning-rate reduction on plateau, the same for every family.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import shutil
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

from .. import progress as reporting
from ..errors import PyfijiDLError
from ..io.atomic import atomic_path
from ..io.tables import read_csv, write_csv

log = logging.getLogger(__name__)

STATE_FILE = "training_state.json"
LOG_FILE = "training.log"  # written by 'train --background'; may exist before training starts
HISTORY_FILE = "training_history.csv"
CHECKPOINT = Path("checkpoint") / "weights_last.h5"


class ResumeError(PyfijiDLError, ValueError):
    """``--resume`` cannot continue this model folder."""


@dataclass
class TrainingState:
    """Where a training run stands; saved after every epoch."""

    epochs_done: int
    epochs_total: int
    learning_rate: float | None = None
    finished: bool = False

    def save(self, model_dir: Path) -> None:
        with atomic_path(Path(model_dir) / STATE_FILE) as tmp:
            tmp.write_text(json.dumps(self.__dict__, indent=2))

    @classmethod
    def load(cls, model_dir: Path) -> "TrainingState | None":
        path = Path(model_dir) / STATE_FILE
        if not path.exists():
            return None
        return cls(**json.loads(path.read_text()))


def resume_state(model_dir: Path) -> TrainingState:
    """The state to resume from, or a :class:`ResumeError` saying why there is none."""
    state = TrainingState.load(model_dir)
    if state is not None and state.finished and not (Path(model_dir) / CHECKPOINT).exists():
        raise ResumeError(
            f"{model_dir}: this training finished all {state.epochs_total} epochs. To train it further, "
            "start a new model folder with --from pointing at this one."
        )
    if state is None or not (Path(model_dir) / CHECKPOINT).exists():
        if folder_status(model_dir) == "new":
            raise ResumeError(f"{model_dir}: nothing to resume (no training was started there). "
                              "Start a new training without --resume.")
        raise ResumeError(
            f"{model_dir}: nothing to resume: no epoch of its training finished (no {CHECKPOINT}). "
            "Start it again with --restart (this replaces the folder's training files)."
        )
    return state


def read_history(model_dir: Path) -> list[dict]:
    """Training history rows (floats), empty if none was written."""
    path = Path(model_dir) / HISTORY_FILE
    if not path.exists():
        return []
    rows = []
    for row in read_csv(path):
        rows.append({k: (float(v) if v not in ("", None) else None) for k, v in row.items()})
    return rows


def predicted_epoch_seconds(epoch_seconds: list) -> float | None:
    """How long the next epoch will take, from the measured durations of the previous ones.

    The first epoch also traces the graph (several times a later one on a CPU), so
    it counts only while it is the only measurement; after that, the slowest of the
    last three epochs (a busy machine slows some epochs down; better to leave a
    little budget unused than to overrun it).
    """
    if not epoch_seconds:
        return None
    later = list(epoch_seconds[1:]) or list(epoch_seconds)
    return float(max(later[-3:]))


def budget_allows_another_epoch(now: float, deadline: float | None, epoch_seconds: list) -> bool:
    """Whether an epoch started at ``now`` would end before ``deadline`` (same clock).

    Parameters
    ----------
    now, deadline : float
        Seconds on one clock (``time.monotonic``); ``deadline`` None: no budget.
    epoch_seconds : list of float
        Measured durations of the epochs so far (training, validation and bookkeeping).
    """
    if deadline is None:
        return True
    predicted = predicted_epoch_seconds(epoch_seconds)
    if predicted is None:
        return now < deadline
    return now + predicted <= deadline


class BudgetClock:
    """The time budget of one training run: started when training starts, read per epoch.

    ``clock`` is ``time.monotonic`` unless a test gives another (a fake clock).
    """

    def __init__(self, max_minutes: float | None, clock=time.monotonic):
        self.max_minutes = max_minutes
        self.clock = clock
        self.deadline = None
        self.mark = None
        self.epoch_seconds: list = []
        self.stopped = False  # True once the budget has ended training

    def start(self) -> None:
        self.mark = self.clock()
        self.deadline = self.mark + 60.0 * self.max_minutes if self.max_minutes is not None else None
        self.epoch_seconds = []
        self.stopped = False

    def epoch_ended(self) -> bool:
        """Record the epoch that just ended; True when another one still fits the budget."""
        now = self.clock()
        self.epoch_seconds.append(now - self.mark)
        self.mark = now
        return budget_allows_another_epoch(now, self.deadline, self.epoch_seconds)

    def epochs_fitting(self) -> int | None:
        """This run's epochs that fit the budget: those done and those the time left allows.

        None without a budget, and until an epoch after the first was measured (the first
        also builds the graph, so it says little about the others).
        """
        if self.deadline is None or len(self.epoch_seconds) < 2:
            return None
        predicted = predicted_epoch_seconds(self.epoch_seconds)
        left = max(0.0, self.deadline - self.mark)
        return len(self.epoch_seconds) + int(left // predicted) if predicted > 0 else None


def budget_stop_message(epochs_done: int, max_minutes: float, epoch_seconds: list,
                        expected_epochs: int | None = None) -> str:
    """What the user reads when the time budget ended training: the epochs it allowed, measured.

    The plan's number of epochs is only an upper bound when a budget is given (the
    machine may be faster than estimated), so it is not the figure to compare with:
    the epochs that fitted are, with their measured duration and the plan's estimate.

    Parameters
    ----------
    epochs_done : int
        Epochs of the model so far (a resumed run counts the earlier ones).
    max_minutes : float
    epoch_seconds : list of float
        Measured durations of this run's epochs.
    expected_epochs : int, optional
        The plan's estimate of the epochs within the budget.
    """
    predicted = predicted_epoch_seconds(epoch_seconds)
    run = len(epoch_seconds)
    text = f"Stopped at the {max_minutes:g}-minute time limit after {run} epoch{'s' if run != 1 else ''}"
    if epochs_done != run:
        text += f" ({epochs_done} in all)"
    if predicted is not None:
        text += (f", all the budget allowed (about {predicted:.0f} s each, measured; epoch {epochs_done + 1} "
                 "would have ended after the limit")
        text += f"; the plan estimated ~{expected_epochs} epochs)" if expected_epochs else ")"
    return text + ". Continue later with --resume."


def keras_callbacks(model_dir: Path, keras_model, *, epochs_total: int, epochs_done: int = 0,
                    progress: bool = True, description: str = "training", max_minutes: float | None = None,
                    clock=time.monotonic):
    """Callbacks for history, resume checkpoint and progress, numbering epochs from ``epochs_done``.

    With ``max_minutes``, training does not start an epoch that would end after the
    limit (estimated from the epochs measured so far, counted from the start of
    training); the checkpoint stays, so ``--resume`` can continue to the planned
    number of epochs.

    Returns
    -------
    list of keras callbacks
    """
    import tensorflow as tf
    from tqdm.auto import tqdm

    model_dir = Path(model_dir)
    history = read_history(model_dir)[:epochs_done]
    budget = BudgetClock(max_minutes, clock)

    def current_lr():
        try:
            return float(tf.keras.backend.get_value(keras_model.optimizer.learning_rate))
        except Exception:  # noqa: BLE001 - optimizers differ between Keras versions
            return None

    class EpochBookkeeping(tf.keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.bar = None
            self.started = None
            self.budget = budget  # read after training: did the budget stop it, and after which epochs

        def on_train_begin(self, logs=None):
            budget.start()
            self.bar = tqdm(total=epochs_total, initial=epochs_done, desc=description, unit="epoch",
                            disable=not progress, dynamic_ncols=True)

        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            logs = dict(logs or {})
            number = epochs_done + epoch + 1
            row = {"epoch": number, "seconds": round(time.perf_counter() - self.started, 3),
                   "learning_rate": current_lr()}
            row.update({k: float(v) for k, v in logs.items() if k != "lr"})
            history.append(row)
            write_csv(model_dir / HISTORY_FILE, history)
            checkpoint = model_dir / CHECKPOINT
            checkpoint.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(checkpoint) as tmp:
                keras_model.save_weights(str(tmp))
            TrainingState(number, epochs_total, current_lr()).save(model_dir)
            if self.bar is not None:
                shown = {k: f"{v:.4g}" for k, v in logs.items() if k in ("loss", "val_loss")}
                self.bar.set_postfix(shown)
                self.bar.update(1)
            if not budget.epoch_ended() and number < epochs_total:
                self.model.stop_training = True
                budget.stopped = True
            fitting = budget.epochs_fitting()
            if self.bar is not None and fitting is not None:
                # the plan's epochs are only an upper bound within a budget: show the measured end
                self.bar.total = min(epochs_total, epochs_done + fitting)
                self.bar.refresh()

        def on_train_end(self, logs=None):
            if self.bar is not None:
                self.bar.close()

    class StepProgress(tf.keras.callbacks.Callback):
        """The steps of the current epoch, for a listener of :mod:`pyfiji_dl.progress` (the
        warm worker shows them in Fiji and stops a cancelled training between two steps)."""

        def on_train_batch_end(self, batch, logs=None):
            reporting.report(batch + 1, int(self.params.get("steps") or 0) or batch + 1, "step")

    # added only when someone listens: a batch hook makes Keras hand over each step's logs
    return [EpochBookkeeping()] + ([StepProgress()] if reporting.listened() else [])


def early_stopping_callback(model_dir: Path, patience: int | None, *, best_weights: Path | None = None,
                            last_weights: Path | None = None, report=None):
    """Stop when the validation loss has not improved for ``patience`` epochs; keep the best weights.

    Shared by every family. CSBDeep-style models (StarDist, CARE, Noise2Void) save
    their best weights themselves (``weights_best.h5``, loaded when their ``train``
    ends); for the others give ``best_weights``: the weights of every new lowest
    validation loss are written there. On a resumed run the best loss and the epochs
    without improvement are taken from the history already written, so neither
    restarts from scratch. When it stops early the run is marked finished (``--resume``
    does not continue it and the checkpoint goes).

    Parameters
    ----------
    model_dir : Path
    patience : int or None
        None: never stop early (best weights are still kept).
    best_weights, last_weights : Path, optional
        Where to write the best weights and, when training ends, the last ones.
    report : callable, optional
        Called with the epoch training stopped after (None when a run starts).
    """
    import math

    import numpy as np
    import tensorflow as tf

    model_dir = Path(model_dir)
    report = report or (lambda epoch: None)

    class BestWeightsAndEarlyStopping(tf.keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.patience = patience  # set again while training by patience_follows_budget

        def on_train_begin(self, logs=None):
            state = TrainingState.load(model_dir)
            self.epochs_done = state.epochs_done if state else 0
            rows = read_history(model_dir)[: self.epochs_done]
            losses = [(r.get("val_loss"), int(r["epoch"])) for r in rows if r.get("val_loss") is not None]
            self.best, self.best_epoch = min(losses) if losses else (math.inf, 0)
            self.stopped = False
            report(None)

        def on_epoch_end(self, epoch, logs=None):
            number = self.epochs_done + epoch + 1
            val_loss = (logs or {}).get("val_loss")
            if val_loss is not None and np.isfinite(val_loss) and val_loss < self.best:
                self.best, self.best_epoch = float(val_loss), number
                if best_weights is not None:
                    with atomic_path(best_weights) as tmp:
                        self.model.save_weights(str(tmp))
            elif self.patience is not None and number - self.best_epoch >= self.patience:
                self.model.stop_training = True
                self.stopped = True
                report(number)

        def on_train_end(self, logs=None):
            if last_weights is not None:
                with atomic_path(last_weights) as tmp:
                    self.model.save_weights(str(tmp))
            if self.stopped:
                state = TrainingState.load(model_dir)
                if state is not None:
                    state.finished = True
                    state.save(model_dir)

    return BestWeightsAndEarlyStopping()


def patience_follows_budget(budget: BudgetClock, reduce_lr: list, early_stopping=None, *, report=None):
    """Keras callback: within a budget, the plateau patience from the epochs measured to fit it.

    The plan sets the patience of the learning-rate reduction and of early stopping from
    its estimate of the epochs in the budget (:func:`pyfiji_dl.models.budget.plateau_patience`),
    but that estimate comes from step costs measured elsewhere: a 2-minute Noise2Void run
    estimated at 7 epochs ran 40 epochs of 3 s, so its early stopping (10 epochs, meant as
    more than the whole run) ended it at a noisy plateau with a third of the budget left,
    and CSBDeep's 3-epoch learning-rate patience halved the rate five times in two minutes.
    After each epoch from the second on, both are set again from the epochs measured to
    fit (:meth:`BudgetClock.epochs_fitting`), so they stay the same share of the run.

    Parameters
    ----------
    budget : BudgetClock
        The run's (``keras_callbacks(...)[0].budget``); without a budget nothing changes.
    reduce_lr : list
        Keras ``ReduceLROnPlateau`` callbacks (CSBDeep's, StarDist's, n2v's and ours).
    early_stopping : keras callback, optional
        From :func:`early_stopping_callback`; None when the user chose its patience.
    report : callable, optional
        Called with ``(epochs_fitting, reduce_lr_patience, early_stopping_patience)`` when first set.

    Returns
    -------
    keras callback
        Its ``measured`` attribute holds the last values set (None until set).
    """
    import tensorflow as tf

    from .budget import plateau_patience

    class PatienceFollowsBudget(tf.keras.callbacks.Callback):
        measured = None

        def on_epoch_end(self, epoch, logs=None):
            fitting = budget.epochs_fitting()
            if fitting is None:
                return
            lr_patience, early = plateau_patience(fitting, within_budget=True)
            for callback in reduce_lr:
                callback.patience = lr_patience
            if early_stopping is not None:
                early_stopping.patience = early
            values = (fitting, lr_patience, early if early_stopping is not None else None)
            if report is not None and self.measured is None:
                report(*values)
            self.measured = values

    return PatienceFollowsBudget()


def atomic_checkpoints(callbacks: list, model_dir: Path) -> list:
    """CSBDeep's and n2v's weight checkpoints, written atomically.

    Keras' ``ModelCheckpoint`` writes ``weights_best.h5`` in place, so a kill or a
    full disk mid-write leaves a damaged file where the last good weights were. The
    best-weights checkpoint is replaced by one that writes a temporary file and
    renames it; the per-epoch ``weights_now.h5`` is dropped, since our own
    checkpoint (``checkpoint/weights_last.h5``, see :func:`keras_callbacks`) already
    keeps every epoch's weights for ``--resume``.
    """
    import tensorflow as tf

    kept = []
    for callback in callbacks:
        if isinstance(callback, tf.keras.callbacks.ModelCheckpoint):
            if callback.save_best_only:
                kept.append(_atomic_best_weights(Path(callback.filepath), callback.monitor, model_dir))
            continue
        kept.append(callback)
    return kept


def _atomic_best_weights(path: Path, monitor: str, model_dir: Path):
    """Save the weights to ``path`` (temp + rename) whenever ``monitor`` improves.

    On a resumed run the best value so far comes from the history, so the first
    resumed epoch does not overwrite better weights.
    """
    import math

    import tensorflow as tf

    class AtomicBestWeights(tf.keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            state = TrainingState.load(model_dir)
            done = state.epochs_done if state else 0
            values = [row.get(monitor) for row in read_history(model_dir)[:done]]
            values = [v for v in values if v is not None and math.isfinite(v)]
            self.best = min(values) if values and path.exists() else math.inf

        def on_epoch_end(self, epoch, logs=None):
            value = (logs or {}).get(monitor)
            if value is not None and math.isfinite(value) and value < self.best:
                self.best = float(value)
                with atomic_path(path) as tmp:
                    self.model.save_weights(str(tmp))

    return AtomicBestWeights()


def mark_finished(model_dir: Path) -> TrainingState | None:
    """Flag the run finished when all its epochs are done; return its state."""
    state = TrainingState.load(model_dir)
    if state is not None and state.epochs_done >= state.epochs_total:
        state.finished = True
        state.save(model_dir)
    return state


def saved_config(model_dir: Path) -> dict:
    """The model's ``config.json`` (CSBDeep, StarDist and n2v all write one), or ``{}``."""
    path = Path(model_dir) / "config.json"
    return json.loads(path.read_text()) if path.exists() else {}


def remove_checkpoint(model_dir: Path) -> None:
    """Drop the resume checkpoint once a run has finished (the best weights stay)."""
    shutil.rmtree(Path(model_dir) / CHECKPOINT.parent, ignore_errors=True)


def open_model(model_class, model_dir: Path, config=None):
    """A CSBDeep-style model (StarDist, CARE, N2V) in ``model_dir``.

    With ``config`` a new model is made there; without, the saved one is loaded
    (config and best weights).
    """
    model_dir = Path(model_dir).resolve()
    if config is not None:
        with quiet_keras():
            return model_class(config, name=model_dir.name, basedir=str(model_dir.parent))
    from .completeness import DamagedModelError

    try:
        with quiet_keras():
            return model_class(None, name=model_dir.name, basedir=str(model_dir.parent))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        # h5py, JSON and Keras errors speak of their own internals; the user needs the model's name
        raise DamagedModelError(f"{model_dir}: the model's configuration or weights cannot be loaded "
                                f"({type(exc).__name__}: {exc}). Restore the folder from a copy, or train "
                                "the model again.", path=model_dir) from exc


def check_family(model_dir: Path, family: str, title: str):
    """The model card of ``model_dir``, which must be a complete ``family`` model.

    Raises
    ------
    pyfiji_dl.models.card.ModelFolderError
        Not a model folder, another family, or (``IncompleteModelError``) missing
        weights, configuration or thresholds.
    """
    from .card import ModelFolderError, read_card
    from .completeness import require_complete

    card = read_card(model_dir)
    if card.family != family:
        raise ModelFolderError(f"{model_dir}: is a {card.family} model, not {title}.")
    return require_complete(model_dir, card)


def reopen_for_resume(open_saved, model_dir: Path):
    """The interrupted model with its last checkpoint, and its epochs done and planned."""
    state = resume_state(model_dir)
    model = open_saved(model_dir)
    model.keras_model.load_weights(str(Path(model_dir) / CHECKPOINT))
    return model, state.epochs_done, state.epochs_total


# Everything a training run writes into its model folder; --restart removes these and
# nothing else.
TRAINING_FILES = ("config.json", "pyfiji_dl.json", STATE_FILE, HISTORY_FILE, "thresholds.json",
                  "weights_best.h5", "weights_last.h5", "weights_now.h5", "provenance.json", LOG_FILE)
TRAINING_FOLDERS = (str(CHECKPOINT.parent), "qc")


def _is_training_file(path: Path) -> bool:
    if path.name in TRAINING_FILES or (path.is_dir() and path.name in TRAINING_FOLDERS):
        return True
    return path.name.startswith(".") and ".part" in path.name  # a temporary file of an interrupted write


def folder_status(model_dir: Path) -> str:
    """Where a model folder stands.

    Returns
    -------
    str
        ``"new"`` (missing, empty, or only a background log), ``"resumable"`` (a
        checkpoint and its state), ``"finished"`` (all epochs done, checkpoint
        removed), ``"unstarted"`` (files of a start that ended before its first
        epoch: restart it with ``--restart``) or ``"foreign"`` (files that no
        training run writes).
    """
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        return "new"
    entries = [p for p in model_dir.iterdir() if p.name != LOG_FILE]
    if not entries:
        return "new"
    if any(not _is_training_file(p) for p in entries):
        return "foreign"
    try:
        state = TrainingState.load(model_dir)
    except (ValueError, TypeError, OSError):
        state = None
    if state is not None and (model_dir / CHECKPOINT).exists():
        return "resumable"
    if state is not None and state.finished:
        return "finished"
    return "unstarted"


def check_new_model_dir(model_dir: Path) -> None:
    """A new training must not overwrite another model's files; say how to go on instead."""
    from .card import ModelFolderError

    model_dir = Path(model_dir)
    status = folder_status(model_dir)
    if status == "new":
        return
    if status == "resumable":
        hint = "Use --resume to continue its training, --restart to replace it, or choose a new folder."
    elif status == "unstarted":
        hint = ("It holds an earlier start that ended before its first epoch finished (nothing to resume). "
                "Use --restart to start again there, or choose a new folder.")
    elif status == "finished":
        hint = ("It holds a finished model. Choose a new folder (with --from it to fine-tune this one), "
                "or --restart to replace it.")
    else:
        hint = "They are not a training run's files. Choose a new folder."
    raise ModelFolderError(f"{model_dir} already holds files. {hint}", path=model_dir)


@dataclass
class TrainingStart:
    """A model ready for :func:`fit_with_bookkeeping`, as :func:`start_training` leaves it.

    Attributes
    ----------
    model
        The family's model: reopened at its last checkpoint, or new (fine-tuned or not).
    epochs_done, epochs_total : int
        Epochs already trained (0 for a new model) and the total the run trains to.
    plan_used : dict
        The training plan the model trains with: on resume the one its card keeps
        (the plan of the run being continued), else this run's.
    """

    model: object
    epochs_done: int
    epochs_total: int
    plan_used: dict


def start_training(model_dir: Path, plan, *, resume: bool, epochs: int, open_saved, config_for, card_for,
                   check_resumed=None, from_model: Path | None = None, load_source=None,
                   progress: bool = True) -> TrainingStart:
    """Reopen an interrupted model for ``--resume``, or make a new one with its card and state.

    What every family does between planning and fitting. On resume: the model at its
    last checkpoint, checked against the data. Otherwise: the plan's summary, the check
    that the folder holds no other model, the new model (from the source model's
    weights with ``from_model``), its card with the lineage and the plan, and a
    training state at epoch 0.

    Parameters
    ----------
    model_dir : Path
    plan : TrainingPlan
        This run's plan (:mod:`pyfiji_dl.models.budget`).
    resume : bool
    epochs : int
        The new model's total number of epochs (a resumed one keeps its own).
    open_saved : callable
        ``open_saved(model_dir, config=None)``: the family's model in ``model_dir``,
        new with a ``config``, else the saved one.
    config_for : callable
        ``config_for(source)``: the new model's config; ``source`` is the loaded
        ``from_model`` (its config to adapt, checked against the data) or None.
    card_for : callable
        ``card_for(model)``: the new model's card; ``fine_tuned_from`` and
        ``training_plan`` are added to it here, as its last keys.
    check_resumed : callable, optional
        ``check_resumed(model)``: raise when the reopened model does not fit the data.
    from_model : Path, optional
        Fine-tune: the model whose weights the new one starts from.
    load_source : callable, optional
        ``load_source(from_model)``: the family's ``load_model``; needed with ``from_model``.
    progress : bool
        Log the plan's summary.

    Returns
    -------
    TrainingStart
    """
    from .card import read_card, write_card

    if resume:
        model, epochs_done, epochs_total = reopen_for_resume(open_saved, model_dir)
        if check_resumed is not None:
            check_resumed(model)
        return TrainingStart(model, epochs_done, epochs_total, read_card(model_dir).training_plan or plan.as_dict())
    if progress:
        log.info(plan.summary())
    plan_used = plan.as_dict()
    check_new_model_dir(model_dir)
    source = load_source(from_model) if from_model is not None else None
    model = open_saved(model_dir, config_for(source))
    if source is not None:
        model.keras_model.set_weights(source.keras_model.get_weights())
    card = card_for(model)
    card.update(fine_tuned_from=str(Path(from_model).resolve()) if from_model else None, training_plan=plan_used)
    write_card(model_dir, card)
    TrainingState(0, epochs, model.config.train_learning_rate).save(model_dir)
    return TrainingStart(model, 0, epochs, plan_used)


def clear_for_restart(model_dir: Path) -> list:
    """Remove a training run's files from ``model_dir`` (``--restart``); other files stop it.

    Returns
    -------
    list of Path
        What was removed.

    Raises
    ------
    ModelFolderError
        The folder holds files a training run does not write (they are left alone).
    """
    from .card import ModelFolderError

    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        return []
    entries = sorted(model_dir.iterdir())
    foreign = [p for p in entries if not _is_training_file(p)]
    if foreign:
        raise ModelFolderError(
            f"{model_dir}: --restart removes only a training run's files, and this folder also holds "
            f"{', '.join(p.name for p in foreign[:5])}. Choose a new folder.", path=model_dir)
    removed = []
    # the state goes first: from then on the folder reads as a fresh start, whatever stops us
    for path in sorted(entries, key=lambda p: p.name != STATE_FILE):
        if path.name == LOG_FILE:
            continue  # 'train --background' writes its log before the training starts
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
        removed.append(path)
    return removed


@contextlib.contextmanager
def first_run_cleanup(model_dir: Path, *, fresh: bool):
    """Leave no half-started folder: a fresh run that stops before its first checkpoint is undone.

    A refused start (bad options or data found once the network is built) or a
    Ctrl-C in the first epoch leaves ``model_dir`` as it was before (missing or
    empty), so the same command can simply run again. kill -9 cannot be caught: its
    folder reads ``"unstarted"`` and ``--restart`` clears it.
    """
    model_dir = Path(model_dir)
    existed = model_dir.exists()
    was_new = folder_status(model_dir) == "new"
    try:
        yield
    except BaseException:
        if fresh and was_new and folder_status(model_dir) == "unstarted":
            with contextlib.suppress(OSError, PyfijiDLError):
                clear_for_restart(model_dir)
                if not existed and not any(model_dir.iterdir()):
                    model_dir.rmdir()
        raise


def check_options(options) -> None:
    """Refuse training options that cannot train (``epochs 0``, ``steps -1``, ``batch 0``...) up front.

    Raises
    ------
    TrainingOptionError
        Naming the option, its value and what it must be.
    """
    for name in ("epochs", "steps", "batch", "rays", "depth", "filters", "patches_per_image", "kernel"):
        value = getattr(options, name, None)
        if value is not None and (not isinstance(value, int) or value < 1):
            raise TrainingOptionError(f"--{name.replace('_', '-')} {value}: must be a whole number of 1 or more.")
    patch = getattr(options, "patch", None)
    if patch is not None and min(patch) < 1:
        raise TrainingOptionError(f"--patch {','.join(map(str, patch))}: sizes must be 1 or more.")
    if getattr(options, "lr", None) is not None and not options.lr > 0:
        raise TrainingOptionError(f"--lr {options.lr}: must be more than 0.")
    if getattr(options, "max_minutes", None) is not None and not options.max_minutes >= 0:
        raise TrainingOptionError(f"--max-minutes {options.max_minutes}: must be 0 or more.")


class TrainingOptionError(PyfijiDLError, ValueError):
    """A training option out of range; nothing was written."""


def fit_with_bookkeeping(model, model_dir: Path, fit, *, epochs_total: int, epochs_done: int = 0,
                         progress: bool = True, description: str = "training",
                         max_minutes: float | None = None, extra_callbacks: list | None = None,
                         early_stopping_patience: int | None = None,
                         expected_epochs: int | None = None) -> TrainingState:
    """Run ``fit(epochs)`` on a CSBDeep-style model with our progress, history and checkpoints.

    Shared by every model family built on CSBDeep's ``BaseModel`` (StarDist, CARE,
    Noise2Void): their ``prepare_for_training`` makes ``model.callbacks`` (with the
    learning-rate reduction of ``config.train_reduce_lr`` and the best-weights
    checkpoint), to which our bookkeeping and early stopping are added; on resume
    the learning rate of the last epoch is restored. When the time budget ends
    training, the message gives the epochs that fitted, measured, and the plan's
    estimate ``expected_epochs`` (the plan's ``epochs_total`` is only an upper bound).

    Returns
    -------
    TrainingState
        After marking the run finished when all epochs are done.
    """
    model_dir = Path(model_dir)
    remaining = epochs_total - epochs_done
    budget = None
    if remaining > 0:
        with quiet_keras():
            model.prepare_for_training()
        state = TrainingState.load(model_dir)
        if epochs_done and state is not None and state.learning_rate:
            import tensorflow as tf

            tf.keras.backend.set_value(model.keras_model.optimizer.learning_rate, state.learning_rate)
        model.callbacks = atomic_checkpoints(model.callbacks, model_dir)
        for callback in model.callbacks:
            if hasattr(callback, "verbose"):
                callback.verbose = 0
        bookkeeping = keras_callbacks(
            model_dir, model.keras_model, epochs_total=epochs_total, epochs_done=epochs_done,
            progress=progress, description=description, max_minutes=max_minutes,
        )
        budget = bookkeeping[0].budget
        model.callbacks += bookkeeping + list(extra_callbacks or [])
        stopped_at = []
        early_stopping = None
        if early_stopping_patience is not None:
            early_stopping = early_stopping_callback(
                model_dir, early_stopping_patience, report=lambda epoch: stopped_at.append(epoch) if epoch else None)
            model.callbacks.append(early_stopping)
        patience = None
        if max_minutes is not None:
            import tensorflow as tf

            patience = patience_follows_budget(
                budget, [c for c in model.callbacks if isinstance(c, tf.keras.callbacks.ReduceLROnPlateau)],
                early_stopping, report=_patience_reporter(progress, expected_epochs))
            model.callbacks.append(patience)  # after the bookkeeping, which measures the epoch
        with quiet_keras():
            fit(remaining)
        if patience is not None and patience.measured is not None:
            _record_measured_patience(model_dir, *patience.measured)
        if progress and stopped_at:
            log.info("Early stopping after epoch %d: no better validation loss for %d epochs; keeping the best "
                     "weights.", stopped_at[-1], early_stopping.patience)
    state = mark_finished(model_dir)
    if progress and state is not None and not state.finished:
        if budget is not None and budget.stopped:
            log.info(budget_stop_message(state.epochs_done, max_minutes, budget.epoch_seconds, expected_epochs))
        else:
            log.info("Stopped after %d of %d epochs; continue later with --resume.", state.epochs_done,
                     state.epochs_total)
    return state


def _patience_reporter(progress: bool, expected_epochs: int | None):
    """Says the patience set from the measured epochs (the model card keeps the last values)."""

    def report(fitting, lr_patience, early):
        if progress:
            estimate = f" (the plan estimated ~{expected_epochs})" if expected_epochs else ""
            log.info("~%d epochs fit in the budget, measured%s: learning rate halved after %d epochs without a "
                     "better validation loss%s.", fitting, estimate, lr_patience,
                     f", training stops after {early}" if early is not None else "")

    return report


def record_validation(model_dir: Path, dataset, patch: tuple, blocks: dict | None, **details) -> None:
    """Keep in the model card how validation was set apart (evidence; the QC report scores it).

    ``validation``: ``holdout`` ("folder", "files" or "blocks"), the validating files, for
    blocks their size and corners by file name, and the family's ``details``.
    """
    from .card import read_card, write_card

    record = {"holdout": dataset.holdout,
              "files": sorted({s.source_path.name for s in dataset.val} | set(blocks or ()))}
    if blocks:
        record |= {"block": list(patch), "blocks": {name: [list(c) for c in corners] for name, corners in blocks.items()}}
    record |= details
    card = read_card(model_dir)
    card.update(validation=record)
    write_card(model_dir, card)


def _record_measured_patience(model_dir: Path, fitting: int, lr_patience: int, early: int | None) -> None:
    """Keep the patience used in the model card, beside the plan's (evidence of the run)."""
    from .card import read_card, write_card

    card = read_card(model_dir)
    plan = dict(card.training_plan or {})
    plan["measured_in_budget"] = {"epochs_fitting": fitting, "reduce_lr_patience": lr_patience,
                                  "early_stopping_patience": early}
    card.update(training_plan=plan)
    write_card(model_dir, card)


@contextlib.contextmanager
def validation_share_warning_hidden(on_blocks: bool):
    """CSBDeep's and n2v's "small number of validation images" warning, hidden for validation blocks.

    Both count patches: the training ones (CSBDeep's 100 random, overlapping patches per
    image; n2v's grid patches in up to 8 rotated and flipped copies) against one per
    validation block, though the blocks are 10 % of the images' area.
    """
    with warnings.catch_warnings():
        if on_blocks:
            warnings.filterwarnings("ignore", message="small number of validation images")
        yield


@contextlib.contextmanager
def quiet_keras(enabled: bool = True):
    """Hide Keras' per-step progress lines (our bar shows epochs); keep errors."""
    if not enabled:
        yield
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with contextlib.redirect_stdout(io.StringIO()):
        yield


def interrupted_note(model_dir: Path, resume_command: str, again_command: str) -> str:
    """What an interrupted training kept in ``model_dir`` and how to continue it.

    Parameters
    ----------
    model_dir : Path
    resume_command : str
        The command line that continues the run (with ``--resume``).
    again_command : str
        The command line that starts it again (without ``--resume``).
    """
    model_dir = Path(model_dir)
    status = folder_status(model_dir)
    if status == "resumable":
        state = TrainingState.load(model_dir)
        if state.epochs_done >= state.epochs_total:
            return (f"all {state.epochs_total} epochs had finished; the weights are kept in {model_dir}. "
                    f"Write its thresholds and QC report with: {resume_command}")
        return (f"the checkpoint of epoch {state.epochs_done} of {state.epochs_total} is kept in {model_dir}. "
                f"Continue with: {resume_command}")
    if status == "new":
        return f"no epoch had finished, so nothing was kept in {model_dir}. Start again with: {again_command}"
    if status == "finished":
        return f"the finished model in {model_dir} is kept."
    if status == "unstarted":
        return f"no epoch had finished. Start again with: {again_command} --restart"
    return f"{model_dir} is as it was."
