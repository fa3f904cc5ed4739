"""The network that leaves pyfiji_dl: one input, one output, and its TensorFlow SavedModel.

Both exports (BioImage Model Zoo package and Fiji plugin zip) ship the same
network:

* StarDist: probability and distances concatenated into one output and upsampled
  to the input size, as ``StarDist2D.export_TF(single_output=True,
  upsample_grid=True)`` builds it (the probability through a transposed
  convolution with a kernel of ones, so it stays sparse: one candidate per grid
  cell, as the Fiji plugin expects);
* CARE, Noise2Void, U-Net: the Keras network itself.

The SavedModel is written from a *frozen* graph (weights as constants) with a
TF1-style signature ``serving_default`` (``input`` -> ``output``), because:

* csbdeep's ``export_SavedModel`` / stardist's ``export_TF`` do work under
  TensorFlow 2.15, but they build Keras layers inside a ``tf.compat.v1`` graph,
  which leaves every Keras model loaded earlier in the process unusable
  ("Your Layer or Model is in an invalid state"), and their graph keeps the
  weight initialisers (``StatelessRandomUniformV2``, unknown to TensorFlow 1.x);
* ``tf.saved_model.save`` (TF2) writes ``DisableCopyOnRead`` ops (TensorFlow >= 2.14
  only) and function-call wrappers that older TensorFlow runtimes cannot load.

A frozen graph holds only the classic ops the network computes (Conv2D, BiasAdd,
Relu, MaxPool, ResizeNearestNeighbor, ConcatV2, ...), with default-valued
attributes stripped: the best chance for the TensorFlow 1.x runtime of the Fiji
plugins and for deepImageJ's TensorFlow 2 engines, and it loads with
``tf.saved_model.load`` in TensorFlow 2.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import families
from ..errors import PyfijiDLError
from ..models.card import ModelCard, read_card

SIGNATURE_KEY = "serving_default"  # tf.saved_model.signature_constants.DEFAULT_SERVING_SIGNATURE_DEF_KEY
SERVING_TAG = "serve"  # tf.saved_model.tag_constants.SERVING
INPUT_NAME = "input"
OUTPUT_NAME = "output"
# what the SavedModel's graph is checked against after writing
SELF_CHECK_TOLERANCE = 1e-4
# The oldest TensorFlow proven to run the SavedModels written here: tests/test_export.py loads
# them, as the consumers do, in TensorFlow for Java 1.15 (the StarDist and CSBDeep Fiji
# plugins' runtime) and 0.5.0 (TensorFlow 2.10.1, deepImageJ 3 / JDLL) for every family, and
# compares the outputs with this Python's. The rdf names it as the weights' tensorflow_version.
OLDEST_PROVEN_TENSORFLOW = "1.15"
PROVEN_RUNTIMES = "TensorFlow for Java 1.15 (Fiji StarDist/CSBDeep plugins) and 0.5.0 = TensorFlow 2.10.1 (deepImageJ 3)"


class ExportError(PyfijiDLError, ValueError):
    """The model cannot be exported as asked; the message says why and what to do."""


@dataclass
class ExportableModel:
    """A trained model folder opened for export.

    Attributes
    ----------
    model_dir : Path
    card : ModelCard
        ``pyfiji_dl.json``.
    family : str
    ndim : int
        Spatial dimensions (2 or 3).
    n_channels : int
        Input channels.
    model
        The adapter's model (StarDist2D/3D, CARE, N2V or the U-Net wrapper).
    network
        Keras model with one input ``(batch, [z,] y, x, channels)`` and one output.
    output_channel_names : list of str
    step : tuple of int
        Valid input sizes per spatial axis are multiples of these.
    halo : tuple of int
        Output pixels per side (spatial axes) that see the tile border when the
        image is processed in tiles; a multiple of ``step``.
    """

    model_dir: Path
    card: ModelCard
    family: str
    ndim: int
    n_channels: int
    model: object
    network: object
    output_channel_names: list
    step: tuple
    halo: tuple
    notes: list = field(default_factory=list)

    @property
    def spatial_axes(self) -> str:
        """Spatial axis letters, lower case as bioimageio writes them."""
        return "zyx" if self.ndim == 3 else "yx"

    @property
    def min_shape(self) -> tuple:
        """Smallest input that leaves output after cutting the halo off both sides."""
        return tuple(_round_up(2 * h + s, s) for h, s in zip(self.halo, self.step))

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """Run the export network on a preprocessed ``(1, [z,] y, x, c)`` float32 batch."""
        return call_network(self.network, batch)


def call_network(network, batch: np.ndarray) -> np.ndarray:
    """One forward pass in inference mode.

    A direct call rather than ``predict()``: no progress output and no retracing
    warnings when the exporter feeds inputs of several sizes.
    """
    return np.asarray(network(np.asarray(batch, np.float32), training=False), dtype=np.float32)


def _round_up(value: int, multiple: int) -> int:
    return int(math.ceil(value / multiple) * multiple)


def load_exportable(model_dir: str | os.PathLike) -> ExportableModel:
    """Open a model folder and build the network that the exports ship.

    Raises
    ------
    pyfiji_dl.models.card.ModelFolderError
        Not a pyfiji_dl model folder, or its files are incomplete.
    ExportError
        A model this version cannot export (e.g. a multi-class StarDist model).
    """
    from ..models.completeness import require_complete
    from ..models.device import configure_tensorflow

    model_dir = Path(model_dir)
    card = require_complete(model_dir, read_card(model_dir))
    family = _family(card.family)
    configure_tensorflow(quiet=True)
    model = family.adapter().load_model(model_dir)
    ndim = int(card.ndim)
    n_channels = int(card.n_channels)
    spatial = "ZYX" if ndim == 3 else "YX"
    keras_model = model.keras_model
    if len(keras_model.inputs) != 1:
        raise ExportError(f"{model_dir}: the network has {len(keras_model.inputs)} inputs; exports need one.")
    network, names, notes = family.export_network(model)  # the family says what its exports ship
    if len(network.outputs) != 1:
        raise ExportError(f"{model_dir}: the network has {len(network.outputs)} outputs; exports need one.")

    if hasattr(model, "_axes_div_by"):
        step = tuple(int(s) for s in model._axes_div_by(spatial))
    else:
        step = (_pooling_factor(keras_model),) * ndim
    if hasattr(model, "_axes_tile_overlap"):
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            overlap = tuple(int(o) for o in model._axes_tile_overlap(spatial))
    else:
        overlap = _impulse_halo(network, ndim, n_channels, step[0])
    halo = tuple(_round_up(max(o, 1), s) for o, s in zip(overlap, step))
    return ExportableModel(model_dir=model_dir, card=card, family=family.name, ndim=ndim, n_channels=n_channels,
                           model=model, network=network, output_channel_names=names, step=step, halo=halo,
                           notes=notes)


def _family(name: str):
    try:
        return families.get(name)
    except families.UnknownFamilyError:
        raise ExportError(f"cannot export {name!r} models (known: {', '.join(families.names())}).") from None


def _pooling_factor(keras_model) -> int:
    """Product of the downsampling strides on the way down a plain U-Net (2**depth)."""
    factor = 1
    for layer in keras_model.layers:
        pool = getattr(layer, "pool_size", None)
        strides = getattr(layer, "strides", None)
        if pool is not None:
            factor *= int(np.atleast_1d(strides if strides is not None else pool)[0])
        elif layer.__class__.__name__.startswith("Conv") and "Transpose" not in layer.__class__.__name__:
            if strides is not None and int(np.atleast_1d(strides)[0]) > 1:
                factor *= int(np.atleast_1d(strides)[0])
    return max(factor, 1)


def _impulse_halo(network, ndim: int, n_channels: int, step: int) -> tuple:
    """Receptive-field radius per spatial axis, found by pushing one bright pixel through the network."""
    size = _round_up(64, step)
    while True:
        shape = (1,) + (size,) * ndim + (n_channels,)
        zeros = np.zeros(shape, np.float32)
        impulse = zeros.copy()
        centre = (size // 2,) * ndim
        impulse[(0, *centre, slice(None))] = 1.0
        difference = np.abs(call_network(network, impulse) - call_network(network, zeros))
        changed = np.argwhere(difference[0].max(axis=-1) > 1e-6)
        if len(changed) == 0:
            return (0,) * ndim
        radius = tuple(int(max(c - changed[:, i].min(), changed[:, i].max() - c)) for i, c in enumerate(centre))
        if max(radius) < size // 2 - 1 or size >= 512:
            return radius
        size *= 2


# --- the SavedModel ---------------------------------------------------------------------

def write_saved_model(network, folder: str | os.PathLike, *, n_channels: int | None = None) -> Path:
    """Write ``network`` as a frozen-graph TensorFlow SavedModel into the new ``folder``.

    The signature ``serving_default`` maps ``input`` to ``output`` (tag ``serve``),
    the names csbdeep's exporter uses and the Fiji plugins and deepImageJ read.

    Returns
    -------
    Path
        ``folder``, holding ``saved_model.pb`` and an (empty) ``variables/``.
    """
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    folder = Path(folder)
    if folder.exists():
        raise FileExistsError(f"{folder} exists")
    input_shape = list(network.inputs[0].shape)
    if n_channels is not None:
        input_shape[-1] = n_channels
    spec = tf.TensorSpec([None] * (len(input_shape) - 1) + [input_shape[-1]], tf.float32, name=INPUT_NAME)
    concrete = tf.function(lambda x: network(x, training=False)).get_concrete_function(spec)
    frozen = convert_variables_to_constants_v2(concrete)
    graph_def = frozen.graph.as_graph_def()
    input_tensor_name = frozen.inputs[0].name
    output_tensor_name = frozen.outputs[0].name
    with tf.Graph().as_default() as graph:
        tf.graph_util.import_graph_def(graph_def, name="")
        x = graph.get_tensor_by_name(input_tensor_name)
        y = tf.identity(graph.get_tensor_by_name(output_tensor_name), name=OUTPUT_NAME)
        with tf.compat.v1.Session(graph=graph) as session, _quiet_tf_deprecations():
            builder = tf.compat.v1.saved_model.Builder(str(folder))
            signature = tf.compat.v1.saved_model.predict_signature_def({INPUT_NAME: x}, {OUTPUT_NAME: y})
            # default-valued attributes left out: older TensorFlow runtimes reject attributes
            # they do not know, and the defaults are what they would assume anyway
            builder.add_meta_graph_and_variables(session, [SERVING_TAG], signature_def_map={SIGNATURE_KEY: signature},
                                                 strip_default_attrs=True)
            builder.save()
    (folder / "variables").mkdir(exist_ok=True)  # the layout the plugins unpack and look for
    return folder


@contextlib.contextmanager
def _quiet_tf_deprecations():
    """Hide TensorFlow's "designed for TensorFlow v1" notice: using the v1 builder is deliberate."""
    import logging

    logger = logging.getLogger("tensorflow")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def zip_folder(folder: Path, zip_path: Path) -> Path:
    """Zip the content of ``folder`` with its files at the archive root (directories as entries too)."""
    folder = Path(folder)
    with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            name = path.relative_to(folder).as_posix()
            if path.is_dir():
                archive.writestr(name + "/", b"")
            else:
                archive.write(path, name)
    return Path(zip_path)


def write_saved_model_zip(network, zip_path: Path, *, n_channels: int | None = None) -> Path:
    """The SavedModel of ``network`` zipped with ``saved_model.pb`` and ``variables/`` at the root."""
    with tempfile.TemporaryDirectory(prefix="pyfiji_dl_savedmodel_") as tmp:
        folder = write_saved_model(network, Path(tmp) / "model", n_channels=n_channels)
        return zip_folder(folder, zip_path)


def run_saved_model_zip(zip_path: str | os.PathLike, batch: np.ndarray) -> np.ndarray:
    """Output of the zipped SavedModel for one input batch, run through its ``serving_default`` signature."""
    import tensorflow as tf

    with tempfile.TemporaryDirectory(prefix="pyfiji_dl_savedmodel_") as tmp:
        with zipfile.ZipFile(zip_path) as archive:
            archive.extractall(tmp)
        loaded = tf.saved_model.load(tmp)
        function = loaded.signatures[SIGNATURE_KEY]
        result = function(**{INPUT_NAME: tf.constant(np.asarray(batch, np.float32))})[OUTPUT_NAME].numpy()
    return np.asarray(result, dtype=np.float32)


def check_saved_model_zip(zip_path: Path, batch: np.ndarray, expected: np.ndarray) -> float:
    """Largest difference between the zipped SavedModel's output and ``expected``; raise if too large.

    Raises
    ------
    ExportError
        The SavedModel does not reproduce the Keras network.
    """
    got = run_saved_model_zip(zip_path, batch)
    if got.shape != expected.shape:
        raise ExportError(f"the SavedModel gives an output of shape {got.shape}, the Keras network {expected.shape}")
    difference = float(np.max(np.abs(got - expected))) if got.size else 0.0
    scale = max(1.0, float(np.max(np.abs(expected)))) if expected.size else 1.0
    if difference > SELF_CHECK_TOLERANCE * scale:
        raise ExportError(f"the SavedModel does not reproduce the Keras network (largest difference {difference:.3g})")
    return difference
