"""``pyfiji-dl export --format fiji-stardist|fiji-csbdeep``: a zip for the Fiji plugins.

The StarDist Fiji plugin (*Plugins > StarDist > StarDist 2D*, "Model (.zip) from
File") and the CSBDeep plugin (*Plugins > CSBDeep > Run your network*) load a zipped
TensorFlow SavedModel with ``saved_model.pb`` and ``variables/`` at the root and a
``serving_default`` signature from ``input`` to ``output``. For StarDist the output
is one tensor, object probability then ray distances, upsampled to the input size
(``export_TF(single_output=True, upsample_grid=True)``).

Those plugins run TensorFlow 1.x. Models written by TensorFlow 2 often fail to
load there; this export writes a frozen graph of classic operations to give it the
best chance (see :mod:`pyfiji_dl.export.network`), and the note it returns says
what to do when Fiji still refuses it.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .. import families
from ..io.atomic import atomic_path
from ..models.card import ModelCard, read_card
from .network import ExportError, call_network, check_saved_model_zip, load_exportable, write_saved_model_zip

FLAVOURS = {"stardist": "stardist", "fiji-stardist": "stardist", "csbdeep": "csbdeep", "fiji-csbdeep": "csbdeep"}

TF1_LIMITS = (
    "Limits: the Fiji StarDist and CSBDeep plugins run TensorFlow 1.x (TensorFlow for Java 1.15). This zip was "
    "written with TensorFlow {tf_version} as a frozen graph of operations TensorFlow 1.x knows; pyfiji_dl's tests "
    "load such zips of every family in TensorFlow for Java 1.15 as the plugins do, but this zip itself was checked "
    "in Python only. If Fiji cannot load it (e.g. 'Op type not registered' or 'NodeDef mentions attr'):\n"
    "  - use deepImageJ (Fiji: Help > Update > Manage update sites > DeepImageJ) with the BioImage Model Zoo "
    "package: pyfiji-dl export {model} --format bioimageio -o {stem}.bioimageio.zip\n"
    "  - or export again in a Python environment with TensorFlow 1.15 (csbdeep's export_SavedModel / StarDist's "
    "model.export_TF()), loading this model folder there.\n"
    "  - or skip Fiji for inference: pyfiji-dl predict {model} IMAGES -o OUT writes label maps / restored images "
    "and ROI sets that open in Fiji."
)


def export_fiji(model_dir: str | os.PathLike, out_zip: str | os.PathLike, flavour: str = "stardist", *,
                overwrite: bool = True) -> tuple[Path, str]:
    """Write the TensorFlow SavedModel zip that a Fiji plugin loads.

    Parameters
    ----------
    model_dir : path-like
        A model folder written by ``pyfiji-dl train``.
    out_zip : path-like
        Zip to write (atomically: no half-written file on failure).
    flavour : {"stardist", "csbdeep"}
        ``"stardist"`` (also ``"fiji-stardist"``) for the StarDist plugin: 2D StarDist
        models only. ``"csbdeep"`` (also ``"fiji-csbdeep"``) for CSBDeep's *Run your
        network*: CARE, Noise2Void and U-Net models.
    overwrite : bool
        Replace ``out_zip`` if it exists.

    Returns
    -------
    path : Path
        The zip written.
    note : str
        What to enter in the Fiji plugin (thresholds, normalisation, tiling) and the
        TensorFlow 1.x limits, ready to print.

    Raises
    ------
    ExportError
        Wrong family for the flavour, or the written SavedModel does not reproduce the
        Keras network.
    pyfiji_dl.models.card.ModelFolderError
        Not a model folder.
    """
    model_dir, out_zip = Path(model_dir), Path(out_zip)
    if flavour not in FLAVOURS:
        raise ExportError(f"unknown Fiji flavour {flavour!r}: use 'stardist' (StarDist plugin) or 'csbdeep' "
                          "(CSBDeep 'Run your network')")
    flavour = FLAVOURS[flavour]
    card = read_card(model_dir)
    check_family_for_flavour(card, flavour, model_dir)
    if out_zip.suffix.lower() != ".zip":
        raise ExportError(f"{out_zip}: the Fiji plugins load .zip files; name the output *.zip")

    exportable = load_exportable(model_dir)
    network = families.get(exportable.family).fiji_network(exportable)
    batch = _check_batch(exportable)
    expected = call_network(network, batch)
    with atomic_path(out_zip, overwrite=overwrite) as tmp:
        write_saved_model_zip(network, tmp, n_channels=exportable.n_channels)
        # the plugins cannot tell us anything useful when a graph is wrong: check it here
        check_saved_model_zip(tmp, batch, expected)
    return out_zip, fiji_note(exportable, out_zip)


PLUGIN_NAMES = {"stardist": "the Fiji StarDist plugin", "csbdeep": "CSBDeep's 'Run your network'"}


def check_family_for_flavour(card: ModelCard, flavour: str, model_dir: Path) -> None:
    """Refuse a model the chosen plugin cannot run, saying which format fits it.

    Which plugin runs which family is each family's declaration (``fiji_plugin``).
    """
    family = families.get(card.family)
    if family.fiji_plugin != flavour:
        runs = [f.title for f in families.REGISTRY.values() if f.fiji_plugin == flavour]
        runs = " and ".join(runs) if len(runs) < 3 else ", ".join(runs[:-1]) + " and " + runs[-1]
        what = (f"{PLUGIN_NAMES[flavour]} runs {runs} models only" if flavour == "stardist" else
                f"{PLUGIN_NAMES[flavour]} is for {runs} models")
        if family.fiji_plugin is None:
            hint = "Use --format bioimageio (deepImageJ, bioimage.io tools) or pyfiji-dl predict."
        elif [f for f in families.REGISTRY.values() if f.fiji_plugin == family.fiji_plugin] == [family]:
            hint = f"A {family.title} model needs its own plugin: use --format fiji-{family.fiji_plugin} (or bioimageio)."
        else:
            hint = (f"Use --format fiji-{family.fiji_plugin} ({PLUGIN_NAMES[family.fiji_plugin]}) or --format "
                    "bioimageio (deepImageJ).")
        raise ExportError(f"{model_dir} is a {family.name} model; {what}. {hint}")
    refusal = family.check_fiji_export(card, model_dir)
    if refusal:
        raise ExportError(refusal)


def _check_batch(exportable) -> np.ndarray:
    """A small deterministic input of a valid size for the SavedModel self-check."""
    # about 32 pixels per axis, a multiple of the network's step: small even for 3D networks
    shape = tuple(s * max(2, 32 // s) for s in exportable.step)
    rng = np.random.default_rng(0)
    return rng.random((1, *shape, exportable.n_channels), dtype=np.float32)


def fiji_note(exportable, out_zip: Path) -> str:
    """What to type into the plugin, and the TensorFlow 1.x limits."""
    import tensorflow as tf

    lines = [f"Fiji model written: {out_zip} (TensorFlow SavedModel, signature 'serving_default': input -> output)"]
    lines += families.get(exportable.family).fiji_instructions(exportable)
    for note in exportable.notes:
        lines.append(f"  Note: {note}")
    lines.append(TF1_LIMITS.format(tf_version=tf.__version__, model=exportable.model_dir,
                                   stem=exportable.model_dir.name))
    return "\n".join(lines)
