"""The QC report's convergence diagnosis on made-up training histories (pure function)."""

import numpy as np

from pyfiji_dl.qc.report import convergence_diagnosis, convergence_key_values, write_html_report


def history(val, loss=None, seconds=6.0):
    loss = val if loss is None else loss
    return [{"epoch": i + 1, "seconds": seconds, "loss": float(t), "val_loss": float(v)}
            for i, (t, v) in enumerate(zip(loss, val))]


EPOCHS = np.arange(40)


def test_still_falling_says_train_longer_and_suggests_a_larger_budget():
    falling = 1.0 / (1 + 0.1 * EPOCHS)  # 40 epochs of 6 s = 4 min, still going down
    diagnosis = convergence_diagnosis(history(falling))
    assert diagnosis["verdict"] == "train longer"
    assert diagnosis["trained_minutes"] == 4.0
    assert diagnosis["suggested_minutes"] in (8, 12)
    assert "--max-minutes" in diagnosis["suggestion"]


def test_settled_loss_is_converged_and_says_when_it_settled():
    settled = 0.2 + np.exp(-EPOCHS / 3.0)
    diagnosis = convergence_diagnosis(history(settled))
    assert diagnosis["verdict"] == "converged"
    # the mean of epochs 16-20 is within 2 % of the lowest (0.2): 20 epochs x 6 s = 2 min
    assert "from epoch 20 of 40" in diagnosis["explanation"]
    assert diagnosis["suggested_minutes"] == 2
    assert "nearly the same model" in diagnosis["suggestion"]


def test_rising_validation_loss_is_over_fitting_and_points_at_the_best_epoch():
    train = 1.0 / (1 + 0.2 * EPOCHS)
    val = 0.3 + 0.002 * (EPOCHS - 15) ** 2
    diagnosis = convergence_diagnosis(history(val, train))
    assert diagnosis["verdict"] == "over-fitting"
    assert diagnosis["best_epoch"] == 16
    assert diagnosis["suggested_minutes"] == 2  # 16 x 6 s = 1.6 min
    assert "more time will not help" in diagnosis["suggestion"]


def test_a_train_validation_gap_with_flat_validation_loss_is_over_fitting():
    train = 0.5 / (1 + 0.2 * EPOCHS)
    val = np.full(40, 0.4) + 0.001 * np.sin(EPOCHS)
    diagnosis = convergence_diagnosis(history(val, train))
    assert diagnosis["verdict"] == "over-fitting"
    assert "above the training loss" in diagnosis["explanation"]


def test_noise_around_a_plateau_is_not_still_falling():
    rng = np.random.default_rng(0)
    noisy = 0.3 + 0.01 * rng.standard_normal(40)
    assert convergence_diagnosis(history(noisy))["verdict"] == "converged"


def lr_halved_history(n_fast=20, n_slow=20, tail_step=0.002, noise=0.001, seed=0):
    """A fast fall at 1e-3, then ReduceLROnPlateau's halvings and a slow fall of ``tail_step`` per epoch."""
    rng = np.random.default_rng(seed)
    fast = 0.4 + 0.6 * np.exp(-np.arange(n_fast) / 3.0)
    slow = fast[-1] * (1 - tail_step) ** np.arange(1, n_slow + 1)
    val = np.concatenate([fast, slow]) * (1 + noise * rng.standard_normal(n_fast + n_slow))
    rows = history(val)
    for i, row in enumerate(rows):
        row["learning_rate"] = 1e-3 if i < n_fast else (5e-4 if i < n_fast + n_slow // 2 else 2.5e-4)
    return rows


def test_new_lows_after_the_learning_rate_was_halved_say_train_longer():
    rows = lr_halved_history()
    diagnosis = convergence_diagnosis(rows)
    assert diagnosis["verdict"] == "train longer"
    assert "new lows in the last 8 epochs" in diagnosis["explanation"]
    assert "learning rate was lowered from 0.001 to 0.00025" in diagnosis["explanation"]
    assert diagnosis["trained_minutes"] == 4.0 and diagnosis["suggested_minutes"] == 8
    assert "--max-minutes 8" in diagnosis["suggestion"]
    # the fitted drop over the window is below `still_falling`: the slope alone called this converged
    assert convergence_diagnosis(rows, new_low=1.0)["verdict"] == "converged"
    # without a learning_rate column the explanation does not invent one
    for row in rows:
        del row["learning_rate"]
    diagnosis = convergence_diagnosis(rows)
    assert diagnosis["verdict"] == "train longer" and "learning rate" not in diagnosis["explanation"]


def test_new_lows_far_above_the_training_loss_are_not_over_fitting():
    rows = lr_halved_history()
    for row in rows:
        row["loss"] = row["val_loss"] / 2 - 0.01 * row["epoch"] / 40  # far below and still falling
    assert convergence_diagnosis(rows)["verdict"] == "train longer"


def test_a_noisy_settled_plateau_after_learning_rate_halvings_is_converged():
    # the last 40 % of the epochs are noise around a constant: 1 % of it, more than the 0.4 %
    # of a settled StarDist validation loss on the DSB2018 nuclei image
    n, settled_from = 50, 30
    fast = 0.3 + 0.7 * np.exp(-np.arange(settled_from) / 4.0)
    undercut_by_noise = 0
    for seed in range(10):
        noisy = 0.3 + 0.003 * np.random.default_rng(seed).standard_normal(n - settled_from)
        val = np.concatenate([fast, noisy])
        rows = history(val)
        for i, row in enumerate(rows):
            row["learning_rate"] = 1e-3 / 2 ** max(0, (i - settled_from) // 5)
        window = n // 5
        undercut_by_noise += val[-window:].min() < 0.995 * val[:-window].min()
        diagnosis = convergence_diagnosis(rows)
        assert diagnosis["verdict"] == "converged", (seed, diagnosis["explanation"])
    # the noise alone undercuts the earlier lowest by more than 0.5 % in some of these runs
    assert undercut_by_noise > 0


def test_diverged_short_and_empty_histories():
    assert convergence_diagnosis(history([1.0, 0.5, float("nan"), 0.4]))["verdict"] == "diverged"
    short = convergence_diagnosis(history([1.0, 0.8]))
    assert short["verdict"] == "too short to tell" and short["suggested_minutes"] == 1
    assert convergence_diagnosis([])["verdict"] == "unknown"
    # without epoch durations there is a verdict but no budget
    rows = [{"loss": 1.0 / (e + 1), "val_loss": 1.0 / (e + 1)} for e in range(30)]
    diagnosis = convergence_diagnosis(rows)
    assert diagnosis["verdict"] == "train longer" and diagnosis["suggested_minutes"] is None


def test_history_as_read_from_csv_strings():
    rows = [{k: str(v) for k, v in row.items()} for row in history(1.0 / (1 + 0.1 * EPOCHS))]
    assert convergence_diagnosis(rows)["verdict"] == "train longer"


def test_report_shows_the_diagnosis(tmp_path):
    values = convergence_key_values(convergence_diagnosis(history(1.0 / (1 + 0.1 * EPOCHS))))
    page = write_html_report(tmp_path, title="t", sections=[{"heading": "Training", "key_values": values}])
    text = page.read_text()
    assert "train longer" in text and "budget that would help" in text
