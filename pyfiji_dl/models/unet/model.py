"""The model object: a U-Net in a CSBDeep-layout model folder, and opening one."""

from __future__ import annotations

from pathlib import Path

from .. import training
from ..card import ModelFolderError, read_card
from .config import FAMILY, WEIGHTS_BEST, WEIGHTS_LAST, UNetConfig
from .losses import loss_for
from .network import build_unet, tile_halo


class UNetModel:
    """A U-Net in a model folder, shaped like CSBDeep's models.

    ``UNetModel(config, name, basedir)`` creates the folder ``basedir/name`` and
    writes ``config.json``; ``UNetModel(None, name, basedir)`` rebuilds the saved
    network and loads ``weights_best.h5`` (or ``weights_last.h5``).

    Attributes
    ----------
    config : UNetConfig
    keras_model : tf.keras.Model
    basedir : Path
    name : str
    logdir : Path
        The model folder.
    callbacks : list
        Keras callbacks of the current training (see :meth:`prepare_for_training`).
    weights_loaded : str or None
        File name of the weights loaded from the folder.
    early_stopped_at : int or None
        Epoch after which early stopping ended the last training.
    """

    def __init__(self, config: UNetConfig | None, name: str | None = None, basedir: str | Path = "."):
        self.basedir = Path(basedir)
        self.name = name or "unet"
        self.logdir = self.basedir / self.name
        self.callbacks: list = []
        self.weights_loaded = None
        self.early_stopped_at = None
        if config is None:
            self.config = UNetConfig.load(self.logdir)
        else:
            self.config = config
            self.logdir.mkdir(parents=True, exist_ok=True)
            config.save(self.logdir)
        self.keras_model = build_unet(self.config.n_channel_in, filters=self.config.filters,
                                      depth=self.config.depth, kernel_size=self.config.kernel_size,
                                      dropout=self.config.dropout, batch_norm=self.config.batch_norm)
        if config is None:
            for weights in (WEIGHTS_BEST, WEIGHTS_LAST):
                if (self.logdir / weights).exists():
                    self.load_weights(weights)
                    break

    def __repr__(self) -> str:
        return f"UNetModel({self.logdir}, depth={self.config.depth}, filters={self.config.filters})"

    def load_weights(self, name: str = WEIGHTS_BEST) -> None:
        self.keras_model.load_weights(str(self.logdir / name))
        self.weights_loaded = name

    def _axes_div_by(self, query_axes: str) -> list:
        """Divisibility the network needs per axis (CSBDeep's method of that name)."""
        return [self.config.divisible_by if a in "YX" else 1 for a in query_axes.upper()]

    def _axes_tile_overlap(self, query_axes: str) -> list:
        """Halo per axis that makes tiled prediction equal whole-image prediction."""
        halo = tile_halo(self.config.depth, self.config.kernel_size)
        return [halo if a in "YX" else 0 for a in query_axes.upper()]

    def prepare_for_training(self) -> None:
        """Compile (Adam, the configured loss) and make the best-weights/early-stopping callback."""
        import tensorflow as tf

        self.keras_model.compile(optimizer=tf.keras.optimizers.Adam(self.config.train_learning_rate),
                                 loss=loss_for(self.config))
        self.callbacks = [_best_weights_callback(self)]
        if self.config.train_reduce_lr:
            # CSBDeep's and StarDist's models add the same callback from config.train_reduce_lr
            self.callbacks.insert(0, tf.keras.callbacks.ReduceLROnPlateau(
                monitor="val_loss", verbose=0, **self.config.train_reduce_lr))


def _best_weights_callback(model: UNetModel):
    """Keeps ``weights_best.h5`` (lowest val_loss) and stops early after ``train_patience`` epochs.

    The implementation every family shares (:func:`training.early_stopping_callback`);
    writes ``weights_last.h5`` when training ends.
    """

    def report(epoch):
        model.early_stopped_at = epoch

    return training.early_stopping_callback(model.logdir, model.config.train_patience,
                                            best_weights=model.logdir / WEIGHTS_BEST,
                                            last_weights=model.logdir / WEIGHTS_LAST, report=report)


def _open(model_dir: Path, config: UNetConfig | None = None) -> UNetModel:
    return training.open_model(UNetModel, model_dir, config)


def load_model(model_dir: Path) -> UNetModel:
    """Open a trained U-Net folder (config and best weights).

    Raises
    ------
    ModelFolderError
        Not a U-Net folder, or no weights in it.
    """
    training.check_family(model_dir, FAMILY, "a U-Net")
    model = _open(model_dir)
    if model.weights_loaded is None:
        raise ModelFolderError(f"{model_dir}: no {WEIGHTS_BEST} or {WEIGHTS_LAST}; the training never finished "
                               "an epoch. Train again, or --resume it.")
    return model


def thresholds(model: UNetModel) -> dict:
    """The probability threshold of a trained model, as ``{"prob": ...}``."""
    return read_card(model.logdir).thresholds
