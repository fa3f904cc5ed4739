"""Training defaults chosen for the machine, the data and the time budget.

The published defaults of the model families (ZeroCostDL4Mic's StarDist/CARE
notebooks, n2v's examples, Salomon-Sörensen's U-Net thesis) were chosen for a GPU.
On a CPU with a time limit they leave a few long epochs of large patches that do not converge:
StarDist trained six minutes on two cores reached F1 0.79 with patch 256 and 100
steps per epoch, 0.90 with patch 128 and 50 steps (issue 17).

:func:`choose_training_plan` is a pure function of the device, the image and object
sizes, the budget and the options the user gave; it returns the patch, batch, steps
per epoch, epochs and learning-rate schedule with the reason for each. Options the
user gave always win. :func:`resolve_options` fills the unset (None) fields of a
family's options dataclass from the plan.

What differs between families (their published defaults, step cost, CPU patch and
batch, short-run learning rate, patch shape rules) is each family's
:class:`TrainingProfile`, declared with its options in :mod:`pyfiji_dl.families`;
nothing here is keyed by a family's name.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field, fields, replace

# --- what a family declares: its training profile --------------------------------------


@dataclass(frozen=True)
class PublishedDefaults:
    """A family's training defaults as its documentation publishes them (GPU notebooks and examples).

    Attributes
    ----------
    patch : tuple of int
    batch, steps, epochs : int
    lr : float
    """

    patch: tuple
    batch: int
    steps: int
    epochs: int
    lr: float


@dataclass(frozen=True)
class TrainingProfile:
    """What the training plan needs to know about a model family.

    Each family declares one next to its options dataclass (``training_profile``, in its
    module of :mod:`pyfiji_dl.families`), with the source of each value beside it; the
    plan itself (:func:`choose_training_plan`) is the same for every family.

    Attributes
    ----------
    family : str
        The family's name (the plan and the model card record it).
    published : dict
        :class:`PublishedDefaults` per dimensionality (``{2: ..., 3: ...}``) that the
        family trains.
    divisor : int
        Patch sizes must be multiples of it (U-Net pooling ``2**depth``, times StarDist's
        grid) when the adapter does not give its own.
    core_seconds_per_pixel : float
        Seconds one CPU core spends per input pixel of a training batch (forward, backward,
        data generation). Only the ratio of budget to step time matters for the plan; a
        wrong figure changes the number of epochs, never the stop at the budget, which is
        measured while training.
    cpu_patch : int, optional
        Side of a 2D patch on a CPU, smaller than the published one for more updates per
        minute (objects still decide the minimum). A family that has one also gets half
        its published steps per epoch on a CPU without a budget, so that the learning rate
        adapts sooner.
    cpu_batch : int, optional
        Batch of a 2D run on a CPU, when the published one makes a step take seconds there.
    cpu_long_run_batch : int, optional
        Batch of a 2D run on a CPU within a budget that fits at least
        ``long_run_min_steps`` (estimated) steps of it: a family whose gradient is sparse
        (Noise2Void masks a few pixels per patch) gains from small batches only while
        updates are few, and is held back by them in longer runs.
    cpu_long_run_patch : int, optional
        Side of a 2D patch on a CPU within a budget that fits at least
        ``long_run_min_steps`` (estimated) steps of it (with the CPU batch): the smaller
        ``cpu_patch`` buys updates a short run needs, a longer one can afford the context
        of the larger patch (objects cut by a patch's edge are rarer in it).
    long_run_min_steps : int
        See ``cpu_long_run_batch`` and ``cpu_long_run_patch``.
    short_run_lr : float, optional
        Learning rate when fewer than :data:`SHORT_RUN_STEPS` steps fit in the budget.
    patch_holds_objects : bool
        The patch grows to hold the largest annotated object :data:`OBJECT_MARGIN` times
        (instance and semantic segmentation: an object and its context).
    square_patches : bool
        The patch's Y and X are equal (the family's augmentation rotates patches by 90 degrees).
    """

    family: str
    published: dict
    divisor: int
    core_seconds_per_pixel: float
    cpu_patch: int | None = None
    cpu_batch: int | None = None
    cpu_long_run_batch: int | None = None
    cpu_long_run_patch: int | None = None
    long_run_min_steps: int = 0
    short_run_lr: float | None = None
    patch_holds_objects: bool = False
    square_patches: bool = False

    def defaults(self, ndim: int) -> PublishedDefaults:
        """The published defaults for ``ndim``-dimensional images."""
        try:
            return self.published[ndim]
        except KeyError:
            raise ValueError(f"{self.family} has no training defaults for {ndim}D images "
                             f"(it trains {', '.join(f'{n}D' for n in sorted(self.published))})") from None


# --- what every family's plan shares ------------------------------------------------------

#: A GPU does a training step about this many times faster than one CPU core.
GPU_SPEEDUP = 40.0
#: Beyond this many cores TensorFlow's CPU kernels stop scaling for these small networks.
MAX_USEFUL_CORES = 16

#: Epochs wanted within a budget: enough for the learning rate to be halved on a plateau
#: and for early stopping to act, few enough that an epoch is a small part of the budget
#: (the epoch left out at the end is at most 1/TARGET_EPOCHS of it).
TARGET_EPOCHS = 20
MIN_STEPS = 5
#: Seconds before the first step (graph tracing, first validation) that a budget loses.
STARTUP_SECONDS = 20.0
#: Share of the budget spent on validation at the end of each epoch.
VALIDATION_SHARE = 0.1

#: Below this many steps within the budget a run counts as short (see ``short_run_lr``).
SHORT_RUN_STEPS = 1000
#: A patch at least this many times the largest object's extent (profiles with
#: ``patch_holds_objects``): the object and the context the network needs around it
#: (the data check warns above half the patch).
OBJECT_MARGIN = 2.0

PLANNED = ("patch", "batch", "steps", "epochs", "lr")

#: Within a budget, the plan's epochs are this many times its estimate of the epochs that fit:
#: only an upper bound that the budget, measured while training, should always reach first.
EPOCHS_BEYOND_ESTIMATE = 20


@dataclass(frozen=True)
class TrainingPlan:
    """Patch, batch, steps per epoch, epochs and learning-rate schedule, with reasons.

    Attributes
    ----------
    family : str
    device : str
        ``"gpu"`` or ``"cpu"``.
    n_cores : int
    patch : tuple of int
    batch, steps, epochs : int
    lr : float
        Initial learning rate.
    reduce_lr : dict
        ``factor`` and ``patience`` (epochs) of the learning-rate reduction on plateau.
    early_stopping_patience : int or None
        Epochs without a better validation loss before training stops (best weights kept).
    max_minutes : float or None
    estimated_step_seconds : float
    expected_epochs : int
        Epochs estimated to fit in the budget (``epochs`` without one); with a budget
        ``epochs`` is only an upper bound, the budget measured while training ends it.
    explicit : tuple of str
        Options the user gave (kept as given).
    reasons : dict
        One sentence per planned value.
    """

    family: str
    device: str
    n_cores: int
    patch: tuple
    batch: int
    steps: int
    epochs: int
    lr: float
    reduce_lr: dict
    early_stopping_patience: int | None
    max_minutes: float | None
    estimated_step_seconds: float
    expected_epochs: int = 0
    explicit: tuple = ()
    reasons: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        """JSON-ready, for the model card and provenance."""
        values = asdict(self)
        values["patch"] = list(self.patch)
        values["explicit"] = list(self.explicit)
        return values

    def summary(self) -> str:
        """Several lines for the console: each value and why."""
        where = "GPU" if self.device == "gpu" else f"CPU ({self.n_cores} core{'s' if self.n_cores != 1 else ''})"
        budget = f", budget {self.max_minutes:g} min" if self.max_minutes else ""
        lines = [f"training plan for {self.family} on {where}{budget}:"]
        shown = {"patch": "x".join(str(p) for p in self.patch), "batch": self.batch, "steps": self.steps,
                 "epochs": self.epochs, "lr": f"{self.lr:g}"}
        for name in PLANNED:
            lines.append(f"  {name} {shown[name]}: {self.reasons.get(name, '')}")
        lines.append(f"  learning rate halved after {self.reduce_lr['patience']} epochs without a better "
                     "validation loss" + (f"; training stops after {self.early_stopping_patience} (best weights "
                                          "kept)" if self.early_stopping_patience else "")
                     + ("; set again from the epochs measured to fit the budget" if self.max_minutes else ""))
        return "\n".join(lines)


def device_kind(device: str | None) -> str:
    """``"gpu"`` or ``"cpu"`` from a TensorFlow device name (``/GPU:0``) or a word."""
    return "gpu" if device and "gpu" in str(device).lower() else "cpu"


def available_cores() -> int:
    """CPU cores this process may use (the affinity mask, not the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def _round_up(value: float, divisor: int) -> int:
    return int(math.ceil(value / divisor) * divisor)


def _round_down(value: float, divisor: int) -> int:
    return int(value // divisor * divisor)


def step_seconds(profile: TrainingProfile, device: str, n_cores: int, patch: tuple, batch: int) -> float:
    """Estimated seconds of one training step (see :attr:`TrainingProfile.core_seconds_per_pixel`)."""
    pixels = batch * math.prod(patch)
    core_seconds = pixels * profile.core_seconds_per_pixel
    if device_kind(device) == "gpu":
        return core_seconds / GPU_SPEEDUP
    return core_seconds / min(max(1, n_cores), MAX_USEFUL_CORES)


def usable_budget_seconds(max_minutes: float) -> float:
    """Seconds of a budget left for training steps (start-up and validation taken off)."""
    return max(60.0 * max_minutes - STARTUP_SECONDS, 0.5 * 60.0 * max_minutes) * (1 - VALIDATION_SHARE)


def _long_run_steps(profile, n_cores, patch, batch, max_minutes) -> int | None:
    """Estimated steps of ``patch`` x ``batch`` that a CPU budget fits when they are enough
    for the profile's long-run patch or batch (see TrainingProfile), else None."""
    if not max_minutes:
        return None
    fitting = int(usable_budget_seconds(max_minutes) / step_seconds(profile, "cpu", n_cores, patch, batch))
    return fitting if fitting >= profile.long_run_min_steps else None


def _plan_patch(profile, device, ndim, smallest_image, largest_object, divisor, defaults, explicit, n_cores,
                max_minutes):
    """The patch per axis and its reason."""
    if "patch" in explicit:
        patch = tuple(int(p) for p in explicit["patch"])
        if len(patch) == 1:
            patch = patch * ndim
        return patch, "as given"
    default = defaults.patch
    wanted = list(default)
    why = "the family's published default"
    cpu_2d = device_kind(device) == "cpu" and ndim == 2
    long_run = None
    if cpu_2d and profile.cpu_long_run_patch is not None:
        side = profile.cpu_long_run_patch
        long_run = _long_run_steps(profile, n_cores, (side, side), profile.cpu_batch or defaults.batch, max_minutes)
    if long_run is not None:
        wanted = [profile.cpu_long_run_patch] * ndim
        why = (f"{profile.cpu_long_run_patch} on a CPU: ~{long_run} steps of it fit in {max_minutes:g} min, "
               f"enough to afford its context over the more frequent updates of {profile.cpu_patch or default[-1]}")
    elif cpu_2d and profile.cpu_patch is not None:
        wanted = [profile.cpu_patch] * ndim
        why = (f"{profile.cpu_patch} on a CPU: more updates per minute than {default[-1]}, "
               "which converges too slowly without a GPU")
    if largest_object is not None and profile.patch_holds_objects:
        needed = [_round_up(OBJECT_MARGIN * extent, divisor) for extent in largest_object]
        if any(n > w for n, w in zip(needed, wanted)):
            wanted = [max(n, w) for n, w in zip(needed, wanted)]
            why = (f"holds the largest object {tuple(int(e) for e in largest_object)} "
                   f"{OBJECT_MARGIN:g} times with its context")
        else:
            why += f"; holds the largest object {tuple(int(e) for e in largest_object)} with margin"
    if smallest_image is not None:
        fitting = [max(divisor, _round_down(s, divisor)) for s in smallest_image]
        if any(f < w for f, w in zip(fitting, wanted)):
            wanted = [min(f, w) for f, w in zip(fitting, wanted)]
            why += f", shrunk to the smallest image {tuple(int(s) for s in smallest_image)}"
    if profile.square_patches and ndim >= 2 and wanted[-1] != wanted[-2]:
        wanted[-1] = wanted[-2] = min(wanted[-1], wanted[-2])
    return tuple(int(w) for w in wanted), why + f" (a multiple of {divisor}, as the network needs)"


def choose_training_plan(profile: TrainingProfile, device: str | None, n_cores: int, image_shapes: list,
                         object_sizes: list | None = None, max_minutes: float | None = None,
                         explicit_options: dict | None = None, *, divisor: int | None = None) -> TrainingPlan:
    """Patch, batch, steps, epochs and learning-rate schedule for this machine, data and budget.

    Parameters
    ----------
    profile : TrainingProfile
        The family's (its options dataclass's ``training_profile``).
    device : str or None
        ``"/GPU:0"``, ``"gpu"``, ``"/CPU:0"``, ``"cpu"`` (None: CPU).
    n_cores : int
        CPU cores available to training.
    image_shapes : list of tuple
        Spatial shapes (``YX`` or ``ZYX``) of the training images.
    object_sizes : list of tuple, optional
        Bounding-box extent of annotated objects (only the largest per axis matters).
    max_minutes : float, optional
        Training time budget.
    explicit_options : dict, optional
        Options the user gave (``patch``, ``batch``, ``steps``, ``epochs``, ``lr``); kept.
    divisor : int, optional
        Patch sizes must be multiples of it (default: the profile's ``divisor``).

    Returns
    -------
    TrainingPlan
    """
    explicit = {k: v for k, v in (explicit_options or {}).items() if v is not None and k in PLANNED}
    ndim = len(image_shapes[0]) if image_shapes else 2
    defaults = profile.defaults(ndim)
    kind = device_kind(device)
    divisor = divisor or profile.divisor
    smallest = tuple(min(s[i] for s in image_shapes) for i in range(ndim)) if image_shapes else None
    largest = None
    if object_sizes is not None and len(object_sizes):
        largest = tuple(max(int(o[i]) for o in object_sizes) for i in range(ndim))
    reasons = {}

    patch, reasons["patch"] = _plan_patch(profile, kind, ndim, smallest, largest, divisor, defaults, explicit,
                                          n_cores, max_minutes)
    cpu_2d = kind == "cpu" and ndim == 2  # CPU patch and batch profiles are for 2D images only
    long_run_batch_steps = None
    if cpu_2d and profile.cpu_long_run_batch is not None:
        long_run_batch_steps = _long_run_steps(profile, n_cores, patch, profile.cpu_long_run_batch, max_minutes)

    if "batch" in explicit:
        batch, reasons["batch"] = int(explicit["batch"]), "as given"
    elif long_run_batch_steps is not None:
        batch = profile.cpu_long_run_batch
        reasons["batch"] = (f"{batch} on a CPU: ~{long_run_batch_steps} steps of it fit in {max_minutes:g} min, enough to "
                            f"gain from a less noisy gradient than batch {profile.cpu_batch or defaults.batch}'s")
    elif cpu_2d and profile.cpu_batch is not None:
        batch = profile.cpu_batch
        reasons["batch"] = f"{batch} on a CPU: half the step time of the published {defaults.batch}"
    else:
        batch, reasons["batch"] = defaults.batch, "the family's published default"

    lr = float(explicit.get("lr", defaults.lr))
    reasons["lr"] = "as given" if "lr" in explicit else "the family's published default"
    seconds = step_seconds(profile, kind, n_cores, patch, batch)

    if max_minutes:
        usable = usable_budget_seconds(max_minutes)
        total_steps = max(1, int(usable / seconds))
        if "steps" in explicit:
            steps, reasons["steps"] = int(explicit["steps"]), "as given"
        else:
            steps = int(min(defaults.steps, max(MIN_STEPS, total_steps // TARGET_EPOCHS)))
            reasons["steps"] = (f"about {total_steps} steps of ~{seconds:.2g} s fit in {max_minutes:g} min: "
                                f"{steps} per epoch gives ~{max(1, total_steps // steps)} epochs, enough for "
                                "the learning-rate schedule to act")
        expected_epochs = max(1, total_steps // steps)
        if "lr" not in explicit and profile.short_run_lr is not None and total_steps < SHORT_RUN_STEPS:
            lr = profile.short_run_lr
            reasons["lr"] = (f"{lr:g} instead of the published {defaults.lr:g}: only ~{total_steps} steps fit in "
                             f"the budget, too few for {defaults.lr:g} to leave the early plateau of the loss "
                             "(halved when the validation loss stops improving)")
        if "epochs" in explicit:
            epochs, reasons["epochs"] = int(explicit["epochs"]), "as given"
        else:
            # well beyond the estimate (a quiet machine runs several times faster than the shared
            # one the step costs were measured on: idle, the 2-core machine ran Noise2Void's epochs
            # 8-9 times as fast as estimated, 57-66 epochs in 2 minutes for an estimate of 7): the
            # budget, measured while training, or early stopping ends training, not this number
            epochs = max(expected_epochs * EPOCHS_BEYOND_ESTIMATE, 200)
            reasons["epochs"] = (f"~{expected_epochs} expected within the budget; up to {epochs} if this machine "
                                 "is faster than estimated (training stops before an epoch would overrun it)")
    else:
        if "steps" in explicit:
            steps, reasons["steps"] = int(explicit["steps"]), "as given"
        elif kind == "cpu" and profile.cpu_patch is not None:
            steps = defaults.steps // 2
            reasons["steps"] = f"{steps} on a CPU: shorter epochs, so the learning rate adapts sooner"
        else:
            steps, reasons["steps"] = defaults.steps, "the family's published default"
        epochs = int(explicit.get("epochs", defaults.epochs))
        reasons["epochs"] = "as given" if "epochs" in explicit else "the family's published default (no --max-minutes)"
        expected_epochs = epochs

    patience, early = plateau_patience(expected_epochs, within_budget=bool(max_minutes))
    return TrainingPlan(
        family=profile.family, device=kind, n_cores=int(n_cores), patch=patch, batch=batch, steps=steps, epochs=epochs,
        lr=lr, reduce_lr={"factor": 0.5, "patience": patience, "min_delta": 0},
        early_stopping_patience=early, max_minutes=max_minutes, estimated_step_seconds=round(seconds, 4),
        expected_epochs=int(min(expected_epochs, epochs)), explicit=tuple(sorted(explicit)), reasons=reasons,
    )


def plateau_patience(run_epochs: int, *, within_budget: bool) -> tuple[int, int]:
    """Epochs without a better validation loss before the learning rate is halved, and before training stops.

    Halve the learning rate after a tenth of the run without progress (StarDist's own
    default: 40 of 400 epochs; CSBDeep's: 10 of 100), at least 3 epochs: the validation
    loss of a few images is noisy. Without a budget at most 10 epochs, CSBDeep's number for
    its epochs of 100 steps. Within a budget no such cap: the epochs are as short as the
    budget makes them (a 5-minute Noise2Void run fit 206 epochs of 5 steps), and 10 of
    them, a twentieth of that run, halved the rate thirteen times, to 5e-8 after 60 % of the
    budget; the rest of the budget changed nothing. Stop early after two and a half
    times that; within a budget only after half the run's epochs without progress, because
    the budget already bounds the time and the first epochs of StarDist and Noise2Void
    often plateau before the loss falls again (a 2-minute run stopped at its sixth epoch).

    The plan calls it with its estimate of the epochs; within a budget, training calls it
    again with the epochs measured to fit (:func:`pyfiji_dl.models.training.patience_follows_budget`),
    so that both stay a share of the run, not a number of epochs of unknown length.

    Parameters
    ----------
    run_epochs : int
        Epochs the run is expected to last.
    within_budget : bool
        Whether a time budget ends the run.

    Returns
    -------
    reduce_lr_patience, early_stopping_patience : int
    """
    patience = max(3, round(run_epochs / 10))
    if not within_budget:
        patience = min(10, patience)
    early = max(10, int(2.5 * patience))
    if within_budget:
        early = max(early, run_epochs // 2)
    return patience, early


def resolve_options(options, plan: TrainingPlan):
    """A copy of a family's options dataclass with its unset (None) planned fields from ``plan``.

    Fields the options do not have are skipped; fields already set are kept.
    """
    names = {f.name for f in fields(options)}
    values = {}
    for name in PLANNED:
        if name in names and getattr(options, name) is None:
            values[name] = tuple(plan.patch) if name == "patch" else getattr(plan, name)
    return replace(options, **values)


def plan_options(profile: TrainingProfile, options, image_shapes: list, object_sizes: list | None = None, *,
                 device: str | None = None, n_cores: int | None = None, divisor: int | None = None):
    """The plan for a family's options dataclass, and the options with its unset fields filled.

    ``profile`` is the family's :class:`TrainingProfile` (``options.training_profile``).

    Returns
    -------
    options, TrainingPlan
    """
    plan = choose_training_plan(profile, device, n_cores or available_cores(), image_shapes, object_sizes,
                                getattr(options, "max_minutes", None), explicit_options(options), divisor=divisor)
    return resolve_options(options, plan), plan


def plan_restoration_options(profile: TrainingProfile, dataset, options, *, progress: bool = False):
    """:func:`plan_options` for CARE and Noise2Void, whose networks are CSBDeep's U-Net.

    Parameters
    ----------
    profile : TrainingProfile
        The family's (CARE's or Noise2Void's).
    dataset : pyfiji_dl.data.restoration.RestorationDataset
    options : the family's options dataclass
    progress : bool
        Say which device TensorFlow uses.

    Returns
    -------
    options, TrainingPlan
    """
    from .device import configure_tensorflow

    device = configure_tensorflow(quiet=not progress)["device"]
    # CSBDeep's U-Net needs sizes divisible by 2**depth; 8 keeps the historical patches
    return plan_options(profile, options, [s.source.shape for s in dataset.all_samples], device=device,
                        divisor=max(8, 2 ** options.depth))


def explicit_options(options) -> dict:
    """The planned fields the user set (not None) in a family's options dataclass."""
    names = {f.name for f in fields(options)}
    return {name: getattr(options, name) for name in PLANNED if name in names and getattr(options, name) is not None}
