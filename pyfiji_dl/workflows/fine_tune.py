"""Fine-tuning from a reviewer's corrections: data, lineage and the parent-vs-child report.

The loop (human in the loop, as in Cellpose 2.0's, Pachitariu & Stringer 2022):
predict -> review the least confident objects -> save corrections -> fine-tune -> predict
with the new version. This module does the bookkeeping around the training run:

* :func:`prepare_fine_tune_data` mixes the corrected images with the parent model's
  original training data (a corrected file replaces an original of the same name) and
  holds out the parent's own validation images, so parent and child are scored on the
  same images the parent never trained on;
* :func:`next_version` names the child next to the parent (``nuclei`` -> ``nuclei_v2``,
  ``nuclei_v2`` -> ``nuclei_v3``);
* :func:`write_lineage` adds the lineage to the child's ``provenance.json``: parent model
  (and the hash of its weights), original data, corrected files and their SHA-256, the
  corrections recorded in ``corrections.csv``;
* :func:`compare_parent_and_child` scores both models on the validation images and writes
  ``CHILD/qc/parent_vs_child/index.html``: metrics and overlays side by side.

Training itself is the family's ordinary ``train ... --from PARENT`` run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from ..annotation.corrections import CORRECTIONS_FILE, file_sha256
from ..errors import PyfijiDLError
from ..io.atomic import atomic_path
from ..io.tables import read_csv
from ..qc.report import write_html_report
from .. import families
DATA_SUFFIX = "_training_data"
COMPARE_DIR = "parent_vs_child"
_VERSION_RE = re.compile(r"^(.*)_v(\d+)$")
ANNOTATION_DIRS = ("masks", "rois")


class FineTuneError(PyfijiDLError, ValueError):
    """Fine-tuning cannot start; the message names the folder and what to do."""


@dataclass
class FineTuneData:
    """Where the mixed training data and the validation images are, and what they hold."""

    train_dir: Path
    val_dir: Path
    original_data: Path
    corrections_dir: Path
    corrected: list = field(default_factory=list)     # (image path, annotation path) pairs
    originals: list = field(default_factory=list)     # stems kept from the original data
    validation: list = field(default_factory=list)    # stems of the validation images


def next_version(model_dir: str | os.PathLike) -> Path:
    """The first free ``NAME_vN`` next to ``model_dir`` (``nuclei_v2`` -> ``nuclei_v3``)."""
    model_dir = Path(model_dir).resolve()
    match = _VERSION_RE.match(model_dir.name)
    base, number = (match.group(1), int(match.group(2))) if match else (model_dir.name, 1)
    number += 1
    while (model_dir.parent / f"{base}_v{number}").exists():
        number += 1
    return model_dir.parent / f"{base}_v{number}"


def _option(command_line: list, name: str):
    """Value of ``--name VALUE`` (or ``--name=VALUE``) in a recorded command line."""
    for index, word in enumerate(command_line):
        if word == name and index + 1 < len(command_line):
            return command_line[index + 1]
        if word.startswith(name + "="):
            return word.split("=", 1)[1]
    return None


def parent_training(parent: Path) -> dict:
    """What the parent was trained on, from its ``provenance.json``: data, val, seed, channel."""
    path = parent / "provenance.json"
    if not path.exists():
        raise FineTuneError(f"{parent}: no provenance.json, so its training data are unknown. "
                            "Give the original training data with --data.")
    provenance = json.loads(path.read_text())
    command_line = [str(w) for w in provenance.get("command_line") or []]
    return {"data": _option(command_line, "--data"), "val": _option(command_line, "--val"),
            "seed": _option(command_line, "--seed"), "channel": _option(command_line, "--channel")}


def _pairs(folder: Path) -> dict:
    """``{stem: (image, annotation)}`` of a training folder (``images/`` with ``masks/`` or ``rois/``)."""
    from ..data.pairs import IMAGE_SUFFIXES, list_files

    images = list_files(folder / "images", IMAGE_SUFFIXES) if (folder / "images").is_dir() else {}
    masks = list_files(folder / "masks", IMAGE_SUFFIXES) if (folder / "masks").is_dir() else {}
    rois = list_files(folder / "rois", (".zip", ".roi")) if (folder / "rois").is_dir() else {}
    found = {}
    for stem, image in images.items():
        annotation = masks.get(stem) or rois.get(stem)
        if annotation is not None:
            found[stem] = (Path(image), Path(annotation))
    return found


def _link(source: Path, target: Path) -> None:
    """``target`` as a symbolic link to ``source`` (a copy where links are not allowed)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.symlink(source.resolve(), target)
    except OSError:
        shutil.copy2(source, target)


def _place(pairs: dict, stems, folder: Path) -> None:
    for stem in stems:
        image, annotation = pairs[stem]
        kind = "rois" if annotation.suffix.lower() in (".zip", ".roi") else "masks"
        _link(image, folder / "images" / image.name)
        _link(annotation, folder / kind / annotation.name)


def prepare_fine_tune_data(parent: str | os.PathLike, corrections: str | os.PathLike, child: str | os.PathLike,
                           *, original_data: str | os.PathLike | None = None, check_only: bool = False) -> FineTuneData:
    """Training and validation folders for the child model, in ``CHILD_training_data`` beside it.

    Parameters
    ----------
    parent : path-like
        The model to fine-tune.
    corrections : path-like
        Training data folder written by *Save Corrections* (``images/`` + ``masks/``,
        ``corrections.csv``).
    child : path-like
        The new model folder (must not exist yet).
    original_data : path-like, optional
        The parent's training data; default: the ``--data`` of its recorded command line.
    check_only : bool
        Check everything and say what would be used, but link nothing (before a
        fine-tune started in the background).

    Returns
    -------
    FineTuneData
        Files are linked, not copied (inputs are never modified).
    """
    from ..data.instances import load_instance_dataset

    parent, corrections, child = Path(parent).resolve(), Path(corrections).resolve(), Path(child).resolve()
    family = families.of_model(parent)
    if not family.learns_from_corrected_objects:
        able = [f.title for f in families.REGISTRY.values() if f.learns_from_corrected_objects]
        raise FineTuneError(f"{parent}: a {family.title} model; fine-tuning from corrected objects works for "
                            f"{' and '.join(able)} models.")
    if child.exists():
        raise FineTuneError(f"{child}: already exists; give another --model or remove it.")
    corrected = _pairs(corrections)
    if not corrected:
        raise FineTuneError(f"{corrections}: no corrected images (images/NAME.tif with masks/NAME.tif). "
                            "Save corrections from Fiji (Save Corrections) first.")
    trained = parent_training(parent)
    original = Path(original_data) if original_data is not None else (Path(trained["data"]) if trained["data"] else None)
    if original is None or not original.is_dir():
        raise FineTuneError(f"{parent}: its training data {original} cannot be found. "
                            "Give the original training data with --data.")
    original = original.resolve()
    originals = _pairs(original)
    if trained["val"] and Path(trained["val"]).is_dir():
        validation_pairs = _pairs(Path(trained["val"]))
        val_stems = sorted(validation_pairs)
    else:
        # the parent's own split: the same folder and seed give the same files
        seed = int(trained["seed"]) if trained["seed"] else 42
        channel = int(trained["channel"]) if trained["channel"] else None
        dataset = load_instance_dataset(original, seed=seed, channel=channel)
        val_stems = sorted({Path(s.image_path).stem for s in dataset.val})
        validation_pairs = originals
    val_stems = [s for s in val_stems if s not in corrected]
    if not val_stems:
        raise FineTuneError(f"{corrections}: every validation image of {parent.name} was corrected; keep at "
                            "least one for comparing the models, or give a validation folder to the parent.")
    # beside the child, not inside it: training starts in an empty model folder
    mixed = child.parent / f"{child.name}{DATA_SUFFIX}"
    if mixed.exists():
        raise FineTuneError(f"{mixed}: already exists (an earlier fine-tune?); remove it or give another --model.")
    data = FineTuneData(train_dir=mixed / "train", val_dir=mixed / "val",
                        original_data=original, corrections_dir=corrections, validation=val_stems)
    data.originals = sorted(s for s in originals if s not in val_stems and s not in corrected)
    data.corrected = [corrected[s] for s in sorted(corrected)]
    if check_only:
        return data
    _place(originals, data.originals, data.train_dir)
    _place(corrected, sorted(corrected), data.train_dir)
    _place(validation_pairs, val_stems, data.val_dir)
    return data


def write_lineage(child: str | os.PathLike, parent: str | os.PathLike, data: FineTuneData) -> dict:
    """Add ``lineage`` to the child's ``provenance.json`` and return it."""
    child, parent = Path(child), Path(parent).resolve()
    weights = parent / "weights_best.h5"
    table = data.corrections_dir / CORRECTIONS_FILE
    recorded = read_csv(table) if table.exists() else []
    lineage = {
        "parent_model": str(parent),
        "parent_weights_sha256": file_sha256(weights) if weights.exists() else None,
        "original_data": str(data.original_data),
        "original_files_kept": data.originals,
        "validation_files": data.validation,
        "corrections": str(data.corrections_dir),
        "corrected_files": [{"image": str(image), "image_sha256": file_sha256(image),
                             "annotation": str(annotation), "annotation_sha256": file_sha256(annotation)}
                            for image, annotation in data.corrected],
        "corrections_recorded": [{k: row.get(k) for k in ("image", "removed", "added", "redrawn", "unchanged")}
                                 for row in recorded],
    }
    path = child / "provenance.json"
    provenance = json.loads(path.read_text()) if path.exists() else {}
    provenance["lineage"] = lineage
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(provenance, indent=2, default=str))
    return lineage


def _pooled_at(report_dir: Path, threshold: float = 0.5) -> dict:
    rows = read_csv(report_dir / "matching_pooled.csv") if (report_dir / "matching_pooled.csv").exists() else []
    for row in rows:
        if abs(float(row["thresh"]) - threshold) < 1e-9:
            return row
    return {}


def compare_parent_and_child(parent: str | os.PathLike, child: str | os.PathLike, val_dir: str | os.PathLike,
                             *, channel: int | None = None) -> Path:
    """Score both models on the same validation images; a side-by-side HTML report.

    Returns
    -------
    Path
        ``CHILD/qc/parent_vs_child/index.html`` (each model's own report in
        ``parent/`` and ``child/`` beside it).
    """
    parent, child = Path(parent).resolve(), Path(child).resolve()
    out = child / "qc" / COMPARE_DIR
    families.of_model(parent).evaluate(parent, val_dir, out / "parent", channel=channel)
    families.of_model(child).evaluate(child, val_dir, out / "child", channel=channel)
    scores = {role: _pooled_at(out / role) for role in ("parent", "child")}
    metrics = ("f1", "precision", "recall", "mean_matched_score", "panoptic_quality", "tp", "fp", "fn")
    rows = []
    for metric in metrics:
        cells = [scores[role].get(metric, "") for role in ("parent", "child")]
        counted = metric in ("tp", "fp", "fn")
        try:
            values = [float(c) for c in cells]
            delta = f"{values[1] - values[0]:+.0f}" if counted else f"{values[1] - values[0]:+.3f}"
            cells = [f"{v:.0f}" if counted else f"{v:.3f}" for v in values]
        except ValueError:
            delta = ""
        rows.append({"at IoU 0.5": metric, "parent": cells[0], "child": cells[1], "change": delta})
    overlays = []
    for picture in sorted((out / "parent").glob("overlay_*.png")):
        image = picture.stem[len("overlay_"):]
        overlays += [(f"{image}: parent", f"parent/{picture.name}"), (f"{image}: child", f"child/{picture.name}")]
    sections = [
        {"heading": "Scores", "text": f"Both models on the same validation images ({val_dir}), objects matched one to "
                                      "one at IoU 0.5.", "tables": {"parent_vs_child": rows}},
        {"heading": "Validation images", "text": "Overlays: true positives green, false positives red, false "
                                                 "negatives blue.", "pictures": overlays},
        {"heading": "Full reports", "links": [("parent", "parent/index.html"), ("child", "child/index.html")]},
    ]
    return write_html_report(out, title=f"{child.name} (fine-tuned) vs {parent.name} (parent)", sections=sections)
