"""The shared training callbacks on a tiny Keras model: the budget stop (fake clock) and early stopping."""

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from pyfiji_dl.models import training  # noqa: E402


def tiny_model(lr: float):
    tf.random.set_seed(0)
    model = tf.keras.Sequential([tf.keras.Input((4,)), tf.keras.layers.Dense(1)])
    model.compile(optimizer=tf.keras.optimizers.SGD(lr), loss="mse")
    return model


def data():
    rng = np.random.default_rng(0)
    x = rng.random((16, 4)).astype("float32")
    return x, x.sum(axis=1, keepdims=True)


class TenSecondEpochs:
    """A clock on which every reading is 10 s after the previous one: each epoch 'takes' 10 s."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        self.now += 10.0
        return self.now


def test_training_stops_before_an_epoch_that_would_overrun_the_budget(tmp_path):
    model = tiny_model(0.01)
    training.TrainingState(0, 10).save(tmp_path)
    callbacks = training.keras_callbacks(tmp_path, model, epochs_total=10, progress=False, max_minutes=0.5,
                                         clock=TenSecondEpochs())
    x, y = data()
    model.fit(x, y, validation_data=(x, y), epochs=10, verbose=0, callbacks=callbacks)
    # a 30 s budget: epochs end at 10, 20 and 30 s; a fourth would end at 40 s and is not started
    assert [row["epoch"] for row in training.read_history(tmp_path)] == [1, 2, 3]
    state = training.TrainingState.load(tmp_path)
    assert (state.epochs_done, state.finished) == (3, False)  # --resume can continue
    budget = callbacks[0].budget  # what fit_with_bookkeeping reports from
    assert budget.stopped and budget.epoch_seconds == [10.0, 10.0, 10.0]


def test_without_a_budget_all_epochs_run(tmp_path):
    model = tiny_model(0.01)
    training.TrainingState(0, 4).save(tmp_path)
    callbacks = training.keras_callbacks(tmp_path, model, epochs_total=4, progress=False, clock=TenSecondEpochs())
    x, y = data()
    model.fit(x, y, validation_data=(x, y), epochs=4, verbose=0, callbacks=callbacks)
    assert len(training.read_history(tmp_path)) == 4
    assert not callbacks[0].budget.stopped


def test_early_stopping_keeps_the_best_weights_and_finishes_the_run(tmp_path):
    model = tiny_model(0.0)  # the loss never improves after the first epoch
    training.TrainingState(0, 20).save(tmp_path)
    stopped = []
    best = tmp_path / "weights_best.h5"
    callbacks = training.keras_callbacks(tmp_path, model, epochs_total=20, progress=False) + [
        training.early_stopping_callback(tmp_path, 3, best_weights=best, report=stopped.append)]
    x, y = data()
    model.fit(x, y, validation_data=(x, y), epochs=20, verbose=0, callbacks=callbacks)
    assert len(training.read_history(tmp_path)) == 4  # best at 1, then 3 epochs without improvement
    assert stopped == [None, 4] and best.exists()
    assert training.TrainingState.load(tmp_path).finished


def test_within_a_budget_the_plateau_patience_follows_the_measured_epochs(tmp_path):
    """The plan's patience (3 and 3 epochs here) would stop this flat run at epoch 4; measured, 120 epochs
    of 10 s fit the 20-minute budget, so the learning rate waits 12 epochs (a tenth) and early stopping 60."""
    model = tiny_model(0.0)  # the validation loss never improves
    training.TrainingState(0, 8).save(tmp_path)
    callbacks = training.keras_callbacks(tmp_path, model, epochs_total=8, progress=False, max_minutes=20,
                                         clock=TenSecondEpochs())
    reduce_lr = tf.keras.callbacks.ReduceLROnPlateau(monitor="val_loss", patience=3)
    early = training.early_stopping_callback(tmp_path, 3)
    reported = []
    follow = training.patience_follows_budget(callbacks[0].budget, [reduce_lr], early,
                                              report=lambda *values: reported.append(values))
    x, y = data()
    model.fit(x, y, validation_data=(x, y), epochs=8, verbose=0, callbacks=callbacks + [reduce_lr, early, follow])
    assert len(training.read_history(tmp_path)) == 8  # not stopped early at epoch 4
    assert (reduce_lr.patience, early.patience) == (12, 60)
    assert follow.measured == (120, 12, 60) and reported == [(120, 12, 60)]  # said once


def test_without_a_budget_the_plans_patience_stays(tmp_path):
    model = tiny_model(0.0)
    training.TrainingState(0, 8).save(tmp_path)
    callbacks = training.keras_callbacks(tmp_path, model, epochs_total=8, progress=False, clock=TenSecondEpochs())
    early = training.early_stopping_callback(tmp_path, 3)
    follow = training.patience_follows_budget(callbacks[0].budget, [], early)
    x, y = data()
    model.fit(x, y, validation_data=(x, y), epochs=8, verbose=0, callbacks=callbacks + [early, follow])
    assert len(training.read_history(tmp_path)) == 4 and early.patience == 3 and follow.measured is None
