"""The model object: a U-Net in a CSBDeep-layout model folder, and opening one.

:class:`UNetModel` is a CSBDeep ``BaseModel`` (``csbdeep.models.BaseModel``), like CARE's
and StarDist's models: CSBDeep's constructor checks the arguments and the config, makes
the model folder, builds the network (:meth:`UNetModel._build`) and, for a saved model,
loads its weights; ``load_weights``, ``__repr__`` and ``basedir=None`` (a model that
reads and writes nothing) are CSBDeep's as well. Three parts stay ours, because
CSBDeep's would change the saved folders or what users see:

* ``config.json``: :class:`UNetConfig` stays a dataclass, written atomically. CSBDeep's
  ``BaseConfig`` is an ``argparse.Namespace`` whose ``vars()`` would add ``n_dim``,
  ``axes``, ``n_channel_out`` and three checkpoint file names to every saved config, and
  ``BaseModel._set_logdir`` writes it in place (a kill mid-write leaves a damaged file)
  and warns, which the command line shows, whenever the model folder already exists,
  even empty.
* which weights a saved folder loads: ``weights_best.h5``, else ``weights_last.h5``.
  ``BaseModel._find_and_load_weights`` takes the newest ``*.h5`` (names with "best"
  first), prints its choice and warns when there is none: a resumed run without a
  validation improvement yet would show that warning and then load its checkpoint.
* the checkpoints: ``BaseModel._checkpoint_callbacks`` and ``_training_finished`` write
  with Keras' ``ModelCheckpoint`` in place, where :func:`training.early_stopping_callback`
  writes ``weights_best.h5`` and ``weights_last.h5`` atomically and also stops early.

This module imports CSBDeep, hence TensorFlow; :mod:`pyfiji_dl.models.unet` loads it on
first use of one of its names, so reading a card's post-processing stays light.
"""

from __future__ import annotations

from pathlib import Path

from csbdeep.models import BaseModel
from csbdeep.models.base_model import suppress_without_basedir

from .. import training
from ..card import ModelFolderError, read_card
from .config import FAMILY, WEIGHTS_BEST, WEIGHTS_LAST, UNetConfig
from .losses import loss_for
from .network import build_unet, tile_halo


class UNetModel(BaseModel):
    """A U-Net in a model folder: CSBDeep's ``BaseModel`` with our config file and checkpoints.

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

    def __init__(self, config: UNetConfig | None, name: str | None = None, basedir: str | Path | None = "."):
        self.callbacks: list = []
        self.weights_loaded = None
        self.early_stopped_at = None
        super().__init__(config, name=name or "unet", basedir=basedir)

    @property
    def _config_class(self):
        return UNetConfig

    def _build(self):
        config = self.config
        return build_unet(config.n_channel_in, filters=config.filters, depth=config.depth,
                          kernel_size=config.kernel_size, dropout=config.dropout, batch_norm=config.batch_norm)

    @suppress_without_basedir(warn=False)
    def _set_logdir(self) -> None:
        # CSBDeep's writes vars(config) in place and warns about an existing folder (see the module)
        self.logdir = self.basedir / self.name
        if self.config is None:
            self.config = UNetConfig.load(self.logdir)
        else:
            self.logdir.mkdir(parents=True, exist_ok=True)
            self.config.save(self.logdir)

    @suppress_without_basedir(warn=False)
    def _find_and_load_weights(self, prefer: str = "best") -> None:
        # CSBDeep's takes the newest *.h5, prints it and warns when there is none (see the module)
        for weights in (WEIGHTS_BEST, WEIGHTS_LAST):
            if (self.logdir / weights).exists():
                self.load_weights(weights)
                return

    def load_weights(self, name: str = WEIGHTS_BEST) -> None:
        super().load_weights(name)
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
