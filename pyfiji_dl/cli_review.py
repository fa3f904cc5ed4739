"""``pyfiji-dl review-next``, ``corrections`` and ``fine-tune``: the review loop's commands.

Kept apart from :mod:`pyfiji_dl.cli` (which registers them) so the loop's commands
read as one piece: predict (least confident objects first) -> review in Fiji ->
``corrections`` (what the reviewer changed, into ``corrections.csv``) -> ``fine-tune``
(a new model version with its lineage and a parent-vs-child QC report).
"""

from __future__ import annotations

from pathlib import Path


def cmd_corrections(args) -> int:
    from .annotation.corrections import record_corrections
    from .cli import _say

    counts, table = record_corrections(args.prediction, args.corrected, args.data, redrawn_iou=args.redrawn_iou)
    _say(f"{Path(args.corrected).name}: {counts.message()}")
    _say(f"Recorded in {table}")
    return 0


def add_corrections(sub) -> None:
    p = sub.add_parser(
        "corrections",
        help="what a review changed: objects removed, added and redrawn, into corrections.csv",
        description=(
            "Compare a corrected label map (e.g. DATA/masks/NAME.tif from Save Corrections) with the "
            "prediction it started from (OUT/masks/NAME.tif). Objects are paired one to one by overlap "
            "(IoU, most overlapping first; below 0.25 they are different objects): unpaired predicted "
            "objects were removed, unpaired corrected ones added, pairs below --redrawn-iou redrawn. "
            "One row per image goes to DATA/corrections.csv (a new review of an image replaces its row)."
        ),
    )
    p.add_argument("prediction", help="the predicted label map (OUT/masks/NAME.tif)")
    p.add_argument("corrected", help="the corrected label map (DATA/masks/NAME.tif)")
    p.add_argument("--data", help="training data folder for corrections.csv (default: the folder above "
                                  "the corrected label map's masks/)")
    p.add_argument("--redrawn-iou", type=float, default=0.95,
                   help="pairs overlapping less than this IoU count as redrawn (default 0.95; an untouched "
                        "ROI comes back with IoU 1)")
    p.set_defaults(func=cmd_corrections)


# Options of 'train FAMILY' that fine-tune passes on when given.
_PASSED_ON = ("epochs", "steps", "lr", "patch", "batch", "max_minutes", "seed")


def cmd_fine_tune(args) -> int:
    from . import families
    from .cli import CommandError, _say, main
    from .command import INTERRUPTED
    from .models.completeness import require_complete
    from .workflows.fine_tune import (compare_parent_and_child, next_version, parent_training,
                                      prepare_fine_tune_data, write_lineage)

    parent = Path(args.model).resolve()
    require_complete(parent)  # an unfinished parent is refused before any work
    family = families.of_model(parent).name
    child = Path(args.output).resolve() if args.output else next_version(parent)
    if args.background:
        return _fine_tune_in_background(args, parent, child)
    data = prepare_fine_tune_data(parent, args.corrections, child, original_data=args.data)
    _say(f"fine-tune {parent.name} -> {child.name}: {len(data.corrected)} corrected image(s) from "
         f"{data.corrections_dir}, {len(data.originals)} of the original training image(s) from "
         f"{data.original_data}; validation (for both models): {', '.join(data.validation)}")
    command = ["train", family, "--data", data.train_dir, "--val", data.val_dir, "--model", child,
               "--from", parent]
    trained = parent_training(parent)
    channel = args.channel if args.channel is not None else (int(trained["channel"]) if trained["channel"] else None)
    if channel is not None:
        command += ["--channel", channel]
    for name in _PASSED_ON:
        value = getattr(args, name)
        if value is not None:
            command += [f"--{name.replace('_', '-')}", ",".join(map(str, value)) if isinstance(value, tuple) else value]
    if args.quiet:
        command.append("--quiet")
    # in --for-imagej mode the output is already joined and the status line is written once, at the end
    code = main([str(word) for word in command])
    if code == INTERRUPTED:
        return code  # the training said what it kept and how to resume
    if code != 0:
        raise CommandError(f"training {child} failed; the parent {parent} is unchanged.")
    write_lineage(child, parent, data)
    report = compare_parent_and_child(parent, child, data.val_dir, channel=channel)
    _say(f"New model version: {child} (lineage in {child / 'provenance.json'})")
    _say(f"Parent vs child on the same validation images: {report}")
    return 0


def _fine_tune_in_background(args, parent: Path, child: Path) -> int:
    """Check the parent, the corrections and the original data now; fine-tune in a detached process."""
    import os
    import subprocess
    import sys

    from .cli import _say
    from .workflows.fine_tune import prepare_fine_tune_data

    data = prepare_fine_tune_data(parent, args.corrections, child, original_data=args.data, check_only=True)
    log_path = child.parent / f"{child.name}.fine_tune.log"
    command = [a for a in args.argv if a not in ("--background", "--for-imagej")]
    if not args.output:
        command += ["--model-out", str(child)]  # the version named here, whatever appears meanwhile
    with open(log_path, "ab") as log:
        process = subprocess.Popen([sys.executable, "-m", "pyfiji_dl.cli", *command], stdout=log,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                                   env=dict(os.environ, TQDM_MININTERVAL="10"))
    _say(f"Fine-tuning {parent.name} on {len(data.corrected)} corrected image(s) started in the background "
         f"(process {process.pid}).")
    _say(f"Log: {log_path}")
    _say(f"New model version: {child}")
    _say(f"Parent vs child when it finishes: {child / 'qc' / 'parent_vs_child' / 'index.html'}")
    return 0


def cmd_review_next(args) -> int:
    from .annotation.corrections import CORRECTIONS_FILE
    from .cli import CommandError, _say
    from .io.tables import read_csv
    from .prediction.queue import next_to_review

    predictions = Path(args.predictions)
    if not (predictions / "summary.csv").exists():
        raise CommandError(f"{predictions}: no summary.csv. Predict a folder first "
                           "(pyfiji-dl predict MODEL IMAGES -o FOLDER) and give that FOLDER.")
    reviewed = set()
    if args.data and (Path(args.data) / CORRECTIONS_FILE).exists():
        reviewed = {row["image"] for row in read_csv(Path(args.data) / CORRECTIONS_FILE)}
    row = next_to_review(predictions, reviewed)
    if row is None:
        _say(f"Every image of {predictions / 'summary.csv'} has been reviewed "
             f"(corrections in {Path(args.data) / CORRECTIONS_FILE}).")
        return 0
    mean = f"{float(row['mean_confidence']):.2f}" if row.get("mean_confidence") else "n/a"
    _say(f"Next to review: {row['image']} (rank {row['review_rank']}, {row['remaining']} image(s) left): "
         f"{row['n_low_confidence']} object(s) of low confidence, mean confidence {mean}")
    _say(f"PYFIJI-DL REVIEW IMAGE {row.get('input') or ''}")
    _say(f"PYFIJI-DL REVIEW ROIS {row['rois'] or ''}")
    return 0


def add_review_next(sub) -> None:
    p = sub.add_parser(
        "review-next",
        help="the next image to review in a prediction folder (review order of summary.csv)",
        description=(
            "Read PREDICTIONS/summary.csv (written by pyfiji-dl predict) and name the best-ranked image "
            "(most objects of low confidence, then lowest mean confidence) that has no row in "
            "DATA/corrections.csv yet, with its input file and ROI set (lines 'PYFIJI-DL REVIEW IMAGE' "
            "and 'PYFIJI-DL REVIEW ROIS', for the Review Predictions macro)."
        ),
    )
    p.add_argument("predictions", help="output folder of pyfiji-dl predict")
    p.add_argument("--data", help="training data folder whose corrections.csv lists the images already reviewed")
    p.set_defaults(func=cmd_review_next)


def add_fine_tune(sub) -> None:
    from .families.base import sizes

    p = sub.add_parser(
        "fine-tune",
        help="fine-tune a model on corrected predictions: a new version next to it, with lineage and a "
             "parent-vs-child QC report",
        description=(
            "Mix the corrected images (CORRECTIONS/images + masks, e.g. from Save Corrections) with the "
            "model's original training data (a corrected file replaces an original of the same name), "
            "train from the model's weights (train FAMILY --from MODEL) into MODEL_v2 (or the next free "
            "version) beside it, hold out the parent's own validation images, record the lineage (parent, "
            "corrected files and their SHA-256) in provenance.json and compare parent and child on the "
            "same validation images in MODEL_v2/qc/parent_vs_child/index.html. StarDist and U-Net models."
        ),
    )
    p.add_argument("model", help="the model folder to fine-tune (unchanged)")
    p.add_argument("--corrections", required=True, help="training data folder of the corrections "
                                                        "(images/ + masks/, corrections.csv)")
    p.add_argument("--data", help="the model's original training data (default: as recorded in its provenance)")
    p.add_argument("-o", "--model-out", dest="output", help="new model folder (default: MODEL_v2, MODEL_v3, ...)")
    p.add_argument("--epochs", type=int, help="epochs (default: the family's training default)")
    p.add_argument("--steps", type=int, help="steps per epoch")
    p.add_argument("--lr", type=float, help="learning rate")
    p.add_argument("--patch", type=sizes, help="training patch")
    p.add_argument("--batch", type=int, help="batch size")
    p.add_argument("--max-minutes", type=float, help="stop after the epoch that reaches this time")
    p.add_argument("--seed", type=int, help="seed of augmentation and patches")
    p.add_argument("--channel", type=int, help="1-based channel (default: the parent's)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--background", action="store_true",
                   help="check the model, corrections and data now, then fine-tune in a separate process "
                        "that logs to MODEL_vN.fine_tune.log beside the model (for Fiji)")
    p.set_defaults(func=cmd_fine_tune)
