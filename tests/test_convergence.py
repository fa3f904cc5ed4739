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
    # within 2 % of the lowest (0.2) from epoch 13: 13 epochs x 6 s = 1.3 min -> 2 min
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
