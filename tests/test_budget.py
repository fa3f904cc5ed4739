"""Training plans (device, data, budget, explicit options) and the stop at the end of a budget.

Pure functions: no TensorFlow, no timing. The budget stop is driven by a fake clock.
"""

from dataclasses import dataclass

import pytest

from pyfiji_dl import families
from pyfiji_dl.models.budget import choose_training_plan, explicit_options, plateau_patience, resolve_options
from pyfiji_dl.models.training import (BudgetClock, budget_allows_another_epoch, budget_stop_message,
                                       predicted_epoch_seconds)

QUARTERS = [(256, 256)] * 3
NUCLEI = [(30, 28), (41, 37), (12, 15)]  # bounding boxes of DSB2018-like nuclei


def plan_for(family: str, *args, **kwargs):
    """The plan with the registered family's training profile."""
    return choose_training_plan(families.get(family).training_profile, *args, **kwargs)


def published_default(family: str, option: str, ndim: int = 2):
    return getattr(families.get(family).training_profile.defaults(ndim), option)


def test_gpu_without_budget_keeps_the_published_defaults():
    plan = plan_for("stardist", "/GPU:0", 8, [(1024, 1024)], NUCLEI)
    assert (plan.patch, plan.batch, plan.steps, plan.epochs, plan.lr) == ((256, 256), 4, 100, 100, 3e-4)
    assert plan.device == "gpu" and plan.explicit == ()
    assert set(plan.reasons) == {"patch", "batch", "steps", "epochs", "lr"}


def test_cpu_gets_smaller_patches_and_shorter_epochs():
    cpu = plan_for("stardist", "/CPU:0", 2, QUARTERS, NUCLEI)
    gpu = plan_for("stardist", "/GPU:0", 2, QUARTERS, NUCLEI)
    assert cpu.patch == (128, 128) and gpu.patch == (256, 256)
    assert cpu.steps < gpu.steps
    assert "CPU" in cpu.reasons["patch"]
    assert cpu.estimated_step_seconds > gpu.estimated_step_seconds


def test_large_objects_get_a_patch_that_holds_them_with_margin():
    small = plan_for("stardist", "cpu", 2, [(1024, 1024)], NUCLEI)
    large = plan_for("stardist", "cpu", 2, [(1024, 1024)], [(100, 150), (20, 20)])
    assert small.patch == (128, 128)
    assert large.patch == (208, 304)  # 2 x 100 and 2 x 150 rounded up to multiples of 16
    assert all(p % 16 == 0 for p in large.patch)
    assert "largest object (100, 150)" in large.reasons["patch"]
    gpu_large = plan_for("unet", "gpu", 2, [(1024, 1024)], [(200, 60)])
    assert gpu_large.patch == (400, 256)


def test_patch_shrinks_to_the_smallest_image_and_stays_divisible():
    plan = plan_for("stardist", "gpu", 2, [(200, 500), (300, 180)], NUCLEI)
    assert plan.patch == (192, 176)
    care = plan_for("care", "cpu", 2, [(60, 500)], divisor=8)
    assert care.patch == (56, 64)
    n2v = plan_for("n2v", "cpu", 2, [(60, 500)], divisor=8)
    assert n2v.patch == (56, 56)  # square YX for n2v's rotations
    deep = plan_for("care", "cpu", 2, [(100, 100)], divisor=32)
    assert all(p % 32 == 0 for p in deep.patch)


def test_a_budget_gives_enough_short_epochs():
    no_budget = plan_for("stardist", "cpu", 2, QUARTERS, NUCLEI)
    two = plan_for("stardist", "cpu", 2, QUARTERS, NUCLEI, max_minutes=2)
    ten = plan_for("stardist", "cpu", 2, QUARTERS, NUCLEI, max_minutes=10)
    assert two.steps < no_budget.steps and two.steps <= ten.steps
    for plan in (two, ten):
        expected_epochs = 60 * plan.max_minutes / (plan.steps * plan.estimated_step_seconds)
        assert expected_epochs >= 10  # enough for the learning-rate schedule to act
        assert plan.epochs > expected_epochs  # the budget ends training, not the epoch count
        assert plan.reduce_lr["patience"] < plan.early_stopping_patience
    assert "2 min" in two.reasons["steps"]
    # a GPU does many more steps in the same time, up to the published steps per epoch
    gpu = plan_for("stardist", "gpu", 2, QUARTERS, NUCLEI, max_minutes=2)
    assert two.steps < gpu.steps <= published_default("stardist", "steps")
    # more cores, more steps
    many = plan_for("care", "cpu", 8, [(512, 512)], max_minutes=5)
    few = plan_for("care", "cpu", 1, [(512, 512)], max_minutes=5)
    assert many.steps > few.steps


def test_explicit_options_always_win():
    given = {"patch": (64, 64), "batch": 2, "steps": 7, "epochs": 3, "lr": 1e-3}
    for device, minutes in (("cpu", None), ("gpu", None), ("cpu", 2)):
        plan = plan_for("stardist", device, 2, QUARTERS, [(100, 100)], minutes, given)
        assert (plan.patch, plan.batch, plan.steps, plan.epochs, plan.lr) == ((64, 64), 2, 7, 3, 1e-3)
        assert all(reason == "as given" for reason in plan.reasons.values())
        assert plan.explicit == ("batch", "epochs", "lr", "patch", "steps")
    one_axis = plan_for("care", "cpu", 2, [(16, 128, 128)], explicit_options={"patch": (32,)})
    assert one_axis.patch == (32, 32, 32)


def test_three_dimensional_defaults():
    plan = plan_for("stardist", "gpu", 4, [(64, 512, 512)], [(10, 20, 20)])
    assert plan.patch == (48, 96, 96) and plan.batch == 2


@dataclass
class _Options:
    epochs: int | None = None
    steps: int | None = None
    patch: tuple | None = None
    batch: int | None = None
    lr: float | None = None
    depth: int = 3
    max_minutes: float | None = None


def test_resolve_fills_only_unset_fields():
    options = _Options(steps=5, max_minutes=3)
    assert explicit_options(options) == {"steps": 5}
    plan = plan_for("stardist", "cpu", 2, QUARTERS, NUCLEI, 3, explicit_options(options))
    resolved = resolve_options(options, plan)
    assert resolved.steps == 5 and resolved.patch == plan.patch and resolved.batch == plan.batch
    assert resolved.epochs == plan.epochs and resolved.lr == plan.lr and resolved.depth == 3
    assert options.patch is None  # the caller's options are not modified
    assert "as given" in plan.summary() and "budget 3 min" in plan.summary()
    assert plan.as_dict()["patch"] == list(plan.patch)


def test_predicted_epoch_time_leaves_out_the_first_epoch_once_others_are_measured():
    assert predicted_epoch_seconds([]) is None
    assert predicted_epoch_seconds([14.0]) == 14.0
    assert predicted_epoch_seconds([14.0, 3.0, 3.2]) == 3.2
    assert predicted_epoch_seconds([14.0, 3.0, 5.0, 3.1, 3.2]) == 5.0


def test_no_epoch_is_started_that_would_overrun_the_budget():
    assert budget_allows_another_epoch(100.0, None, [50.0])
    assert budget_allows_another_epoch(100.0, 110.0, [20.0, 10.0])
    assert not budget_allows_another_epoch(100.0, 109.0, [20.0, 10.0])


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_budget_clock_stops_before_the_epoch_that_would_not_finish():
    clock = FakeClock()
    budget = BudgetClock(1.0, clock)  # 60 s
    budget.start()
    started = []
    for duration in [15.0, 10.0, 10.0, 10.0, 10.0, 10.0]:  # the first epoch traces the graph
        started.append(clock.now)
        clock.now += duration
        if not budget.epoch_ended():
            break
    # epochs end at 15, 25, 35, 45, 55 s; a sixth would end at 65 s > 60 s: not started
    assert len(started) == 5
    assert clock.now - 1000.0 <= 60.0
    assert budget.epoch_seconds == [15.0, 10.0, 10.0, 10.0, 10.0]


def test_budget_clock_counts_the_epochs_that_fit_from_those_measured_after_the_first():
    clock = FakeClock()
    budget = BudgetClock(2.0, clock)  # 120 s
    budget.start()
    clock.now += 20.0  # the first epoch also builds the graph: no estimate from it alone
    budget.epoch_ended()
    assert budget.epochs_fitting() is None
    for duration in (3.0, 2.0):
        clock.now += duration
        budget.epoch_ended()
    # 25 s used, the slowest later epoch took 3 s: 3 done + 95 // 3 = 31 more
    assert budget.epochs_fitting() == 34
    assert BudgetClock(None, clock).epochs_fitting() is None


def test_plateau_patience_is_a_share_of_the_run():
    assert plateau_patience(40, within_budget=True) == (4, 20)  # stop after half the run without progress
    assert plateau_patience(40, within_budget=False) == (4, 10)
    assert plateau_patience(7, within_budget=True) == (3, 10)  # at least 3 and 10: a noisy validation loss
    assert plateau_patience(400, within_budget=False) == (10, 25)  # StarDist's 400 epochs: at most 10
    # within a budget a tenth of the measured run however many short epochs fit: 10 epochs of a
    # 206-epoch Noise2Void run halved the rate to 5e-8 with 40 % of the budget left
    assert plateau_patience(206, within_budget=True) == (21, 103)
    plan = plan_for("n2v", "cpu", 2, [(256, 256)] * 3, max_minutes=2)
    assert (plan.reduce_lr["patience"], plan.early_stopping_patience) == plateau_patience(
        plan.expected_epochs, within_budget=True)
    assert "measured to fit the budget" in plan.summary()


def test_budget_clock_without_a_budget_never_stops():
    clock = FakeClock()
    budget = BudgetClock(None, clock)
    budget.start()
    for _ in range(50):
        clock.now += 100.0
        assert budget.epoch_ended()


@pytest.mark.parametrize("family", families.names())
def test_every_family_has_a_plan_for_cpu_and_gpu_with_and_without_budget(family):
    for device in ("cpu", "gpu"):
        for minutes in (None, 2, 10):
            plan = plan_for(family, device, 2, [(512, 512)], NUCLEI, minutes)
            assert plan.steps >= 1 and plan.epochs >= 1 and plan.batch >= 1
            assert all(p % 8 == 0 for p in plan.patch)


def test_the_plan_keeps_its_estimate_of_the_epochs_within_the_budget():
    two = plan_for("stardist", "cpu", 2, QUARTERS, NUCLEI, max_minutes=2)
    assert 10 <= two.expected_epochs < two.epochs  # an estimate; the plan's epochs are only a bound
    assert str(two.expected_epochs) in two.reasons["epochs"]
    assert two.as_dict()["expected_epochs"] == two.expected_epochs
    without = plan_for("stardist", "cpu", 2, QUARTERS, NUCLEI)
    assert without.expected_epochs == without.epochs


def test_the_budget_stop_says_how_many_epochs_fitted_not_the_plans_upper_bound():
    clock = FakeClock()
    budget = BudgetClock(1.0, clock)
    budget.start()
    for duration in [15.0, 10.0, 10.0, 10.0, 10.0]:
        clock.now += duration
        budget.epoch_ended()
    message = budget_stop_message(5, 1.0, budget.epoch_seconds, expected_epochs=20)
    assert message.startswith("Stopped at the 1-minute time limit after 5 epochs, all the budget allowed")
    assert "about 10 s each, measured" in message and "epoch 6 would have ended after the limit" in message
    assert "the plan estimated ~20 epochs" in message and "--resume" in message
    assert " of 200" not in message and "of 100" not in message
    # a resumed run counts its earlier epochs in the next epoch's number
    resumed = budget_stop_message(12, 1.0, budget.epoch_seconds)
    assert "after 5 epochs (12 in all)" in resumed and "epoch 13 would" in resumed and "estimated" not in resumed


def test_a_short_budget_on_a_cpu_raises_stardists_learning_rate_and_nothing_else_does():
    short = plan_for("stardist", "cpu", 2, QUARTERS, NUCLEI, max_minutes=2)
    published = published_default("stardist", "lr")
    assert short.lr > published and "steps fit in the budget" in short.reasons["lr"]
    # a GPU does thousands of steps in the same budget; no budget: the published schedule
    assert plan_for("stardist", "gpu", 2, QUARTERS, NUCLEI, max_minutes=2).lr == published
    assert plan_for("stardist", "cpu", 2, QUARTERS, NUCLEI).lr == published
    assert plan_for("stardist", "cpu", 2, QUARTERS, NUCLEI, 2, {"lr": 1e-4}).lr == 1e-4
    for name, family in families.REGISTRY.items():
        if family.training_profile.short_run_lr is None:
            assert plan_for(name, "cpu", 2, [(256, 256)], max_minutes=2).lr == published_default(name, "lr")


def test_noise2void_batch_grows_with_a_cpu_budget_that_fits_enough_steps():
    fields = [(256, 256)] * 3
    short, five, long = (plan_for("n2v", "cpu", 2, fields, max_minutes=m) for m in (2, 5, 10))
    assert short.batch == five.batch == 32 and "half the step time" in short.reasons["batch"]
    assert long.batch == 128 and "steps of it fit in 10 min" in long.reasons["batch"]
    # more cores fit more steps: the larger batch from a shorter budget
    assert plan_for("n2v", "cpu", 16, fields, max_minutes=2).batch == 128
    assert plan_for("n2v", "cpu", 2, fields).batch == 32  # no budget: the CPU batch
    assert plan_for("n2v", "gpu", 2, fields, max_minutes=10).batch == 64  # a GPU: n2v's examples
    given = plan_for("n2v", "cpu", 2, fields, max_minutes=10, explicit_options={"batch": 16})
    assert given.batch == 16 and given.reasons["batch"] == "as given"
    assert plan_for("care", "cpu", 2, fields, max_minutes=10).batch == 16  # CARE keeps its batch


def test_stardist_patch_on_a_cpu_is_the_published_one_when_the_budget_fits_enough_steps_of_it():
    short, five, long = (plan_for("stardist", "cpu", 2, QUARTERS, NUCLEI, max_minutes=m) for m in (2, 5, 10))
    assert short.patch == five.patch == (128, 128) and "more updates per minute" in short.reasons["patch"]
    assert long.patch == (256, 256) and "steps of it fit in 10 min" in long.reasons["patch"]
    assert long.steps < five.steps  # fewer, larger steps fit
    # more cores fit more steps: the published patch from a shorter budget
    assert plan_for("stardist", "cpu", 16, QUARTERS, NUCLEI, max_minutes=5).patch == (256, 256)
    assert plan_for("stardist", "cpu", 2, QUARTERS, NUCLEI).patch == (128, 128)  # no budget: the CPU patch
    # objects larger than half the patch still decide, and images smaller than it
    large = plan_for("stardist", "cpu", 2, [(512, 512)], [(150, 140)], max_minutes=10)
    assert large.patch == (304, 288) and "largest object (150, 140)" in large.reasons["patch"]
    assert plan_for("stardist", "cpu", 2, [(200, 200)], NUCLEI, max_minutes=10).patch == (192, 192)
    given = plan_for("stardist", "cpu", 2, QUARTERS, NUCLEI, max_minutes=10, explicit_options={"patch": (128,)})
    assert given.patch == (128, 128) and given.reasons["patch"] == "as given"
    assert plan_for("stardist", "gpu", 2, QUARTERS, NUCLEI, max_minutes=2).patch == (256, 256)
    # the batch and 3D plans are not touched
    assert long.batch == five.batch == published_default("stardist", "batch")
    assert plan_for("stardist", "cpu", 2, [(64, 256, 256)], max_minutes=10).patch == (48, 96, 96)
