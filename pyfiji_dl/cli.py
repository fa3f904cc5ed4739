"""The ``pyfiji-dl`` command.

Sub-commands import what they need when they run, so ``pyfiji-dl --help`` stays fast
and never imports TensorFlow or starts Java.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path

from . import __version__
from .argtypes import fraction, nonnegative_float, nonnegative_int, positive_float, positive_int, probability
from .errors import PyfijiDLError, naming_file


class _ImportedOnUse:
    """A module imported on first use: the worker's fast path (:func:`main`) sends a command
    before the model families (card, budget, adapters) are imported."""

    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attribute):
        import importlib

        return getattr(importlib.import_module(self._name), attribute)


families = _ImportedOnUse("pyfiji_dl.families")


class CommandError(PyfijiDLError):
    """An error to show the user as one plain message (exit code 1)."""


def _shape(text: str) -> tuple:
    try:
        values = tuple(int(v) for v in text.replace("x", ",").split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not HEIGHT,WIDTH (e.g. 512,512)") from None
    if len(values) not in (2, 3) or min(values) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not HEIGHT,WIDTH or DEPTH,HEIGHT,WIDTH")
    return values


def _say(message: str) -> None:
    print(message, flush=True)


def _warn(message: str) -> None:
    print(f"pyfiji-dl: warning: {message}", file=sys.stderr, flush=True)


def _guard_outputs(inputs, *, files=(), folders=()) -> None:
    """Before any work: outputs must not be inputs (or hold them), nor be the wrong kind of path."""
    from .io.outputs import check_output_kinds, refuse_overwriting_inputs

    check_output_kinds(files=files, folders=folders)
    refuse_overwriting_inputs(inputs, files=files, folders=folders)


def _print_report(source: str, result) -> None:
    report = result.report
    _say(f"{source} -> {result.output}: {report.n_labels} labels from {report.n_rois} ROIs, "
         f"{result.axes} {tuple(result.shape)}")
    for message in report.messages():
        _warn(f"{source}: {message}")


# --- rois-to-labels -----------------------------------------------------------------

def cmd_rois_to_labels(args) -> int:
    from .annotation.files import rois_file_to_labels
    from .data.pairs import IMAGE_SUFFIXES, ROI_SUFFIXES, pair_by_stem

    if args.rois_dir:
        if args.rois or not args.images:
            raise CommandError("the folder form is: rois-to-labels --rois-dir DIR --images DIR -o MASKS_DIR")
        pairing = pair_by_stem(args.images, IMAGE_SUFFIXES, args.rois_dir, ROI_SUFFIXES)
        if pairing.only_second:
            raise CommandError(
                "some ROI sets have no image of the same name (nothing is guessed; rename them so "
                "'NAME.zip' matches 'NAME.tif'):\n" + pairing.describe_unmatched("image", "ROI set")
            )
        if pairing.only_first:
            _warn(pairing.describe_unmatched("image", "ROI set") + " (no label map written for them)")
        if not pairing.pairs:
            raise CommandError(f"no pairs of images in {args.images} and ROI sets in {args.rois_dir}")
        out_dir = Path(args.output)
        _guard_outputs([args.images, args.rois_dir], folders=[out_dir])
        failures = []
        for image_path, rois_path in _progress(pairing.pairs, "rois-to-labels"):
            try:
                result = rois_file_to_labels(rois_path, out_dir / image_path.name, image=image_path,
                                             overlap=args.overlap, ids=args.ids,
                                             rules=args.imagej.raster_rules())
                _print_report(rois_path.name, result)
            except (PyfijiDLError, OSError) as exc:
                failures.append(f"{rois_path.name}: {exc}")
        if failures:
            raise CommandError(f"{len(failures)} of {len(pairing.pairs)} ROI set(s) failed:\n" + "\n".join(failures))
        return 0
    if not args.rois:
        raise CommandError("give a ROI set (ROIS.zip or .roi), or --rois-dir DIR --images DIR")
    image = args.image
    if image is not None and Path(image).is_dir():
        raise CommandError(f"--image {image} is a folder; for folders use --rois-dir DIR --images DIR")
    _guard_outputs([args.rois, image], files=[args.output])
    result = rois_file_to_labels(args.rois, args.output, image=image, shape=args.shape,
                                 overlap=args.overlap, ids=args.ids, rules=args.imagej.raster_rules())
    _print_report(Path(args.rois).name, result)
    return 0


# --- labels-to-rois -----------------------------------------------------------------

def cmd_labels_to_rois(args) -> int:
    from .annotation.files import labels_file_to_rois
    from .data.pairs import IMAGE_SUFFIXES, list_files

    source = Path(args.labels)
    if source.is_dir():
        files = list_files(source, IMAGE_SUFFIXES)
        if not files:
            raise CommandError(f"{source}: no .tif label maps in this folder")
        out_dir = Path(args.output)
        if out_dir.suffix.lower() == ".zip":
            raise CommandError("for a folder of label maps, -o is a folder (one ROI zip per label map)")
        _guard_outputs([source], folders=[out_dir])
        failures = []
        for stem, path in _progress(sorted(files.items()), "labels-to-rois"):
            try:
                n = labels_file_to_rois(path, out_dir / f"{stem}.zip")
                _say(f"{path.name} -> {out_dir / (stem + '.zip')}: {n} ROIs")
            except (PyfijiDLError, OSError) as exc:
                failures.append(f"{path.name}: {exc}")
        if failures:
            raise CommandError(f"{len(failures)} of {len(files)} label map(s) failed:\n" + "\n".join(failures))
        return 0
    output = Path(args.output)
    if output.suffix.lower() not in (".zip", ".roi"):
        raise CommandError(f"-o {output}: the ROI set must end in .zip")
    _guard_outputs([source], files=[output])
    n = labels_file_to_rois(source, output)
    _say(f"{source.name} -> {output}: {n} ROIs")
    return 0



# --- bootstrap-rois / autolabel ---------------------------------------------------------

def cmd_bootstrap_rois(args) -> int:
    from .annotation.bootstrap import bootstrap_rois_file
    from .prediction.run import expand_inputs

    files = expand_inputs(args.images)
    _guard_outputs([*args.images, *files], folders=[args.output])
    failures = []
    for path in _progress(files, "bootstrap-rois"):
        try:
            done = bootstrap_rois_file(
                path, args.output, method=args.method, dark_background=not args.light_background,
                min_area=args.min_area, max_area=args.max_area, exclude_edges=args.exclude_edges,
                split_touching=args.split_touching, fill_holes=not args.no_fill_holes,
                stack_histogram=args.stack_histogram, channel=args.channel, overwrite=args.overwrite,
                imagej=args.imagej.threshold_rules(),
            )
        except (PyfijiDLError, OSError) as exc:
            failures.append(f"{path}: {exc}")
            continue
        if done["output"] is None:
            _warn(f"{path.name}: no objects with the {done['method']} threshold; no ROI set written")
        else:
            _say(f"{path.name} -> {done['output']}: {done['n_rois']} ROIs ({done['method']} threshold)")
    if failures:
        raise CommandError(f"{len(failures)} of {len(files)} image(s) failed:\n" + "\n".join(failures))
    _say("Open each image in Fiji with its ROI set (ROI Manager > More > Open...), correct the outlines, "
         "then save them with 'Save Corrections' or 'rois-to-labels'.")
    return 0


def cmd_autolabel(args) -> int:
    from .workflows.autolabel import autolabel_folder

    options = {
        "clahe": not args.no_clahe, "block_size": args.block_size, "bins": args.bins,
        "max_slope": args.max_slope, "window": args.window, "bounds": tuple(args.bounds),
        "min_diameter": args.min_diameter, "max_diameter": args.max_diameter,
        "exclude_border": args.exclude_border,
    }
    if args.split_touching:
        options["split_touching"] = args.split_touching
    _guard_outputs([args.fluorescence], folders=[args.output])
    try:
        result = autolabel_folder(args.fluorescence, args.output, report=args.report, channel=args.channel,
                                  overwrite=args.overwrite, progress=not args.quiet,
                                  lowest_fraction=args.lowest_fraction, **options)
    except FileExistsError as exc:
        raise CommandError(f"{exc} (use --overwrite to replace)") from None
    except FileNotFoundError as exc:
        raise CommandError(str(exc)) from None
    for line in result.summary_lines():
        _say(line)
    return result.status


# --- train / predict ----------------------------------------------------------------

def _train_in_background(args, family) -> int:
    """Check the data now, then train in a detached process that logs into the model folder."""
    import subprocess

    from .models.completeness import require_complete
    from .models.training import LOG_FILE, check_new_model_dir, folder_status, resume_state

    # problems with the data or the folders are reported here, not only in a log
    family.load_data(args.data, val=args.val, channel=args.channel)
    model_dir = Path(args.model).resolve()
    if args.resume:
        resume_state(model_dir)
    elif not args.restart or folder_status(model_dir) == "foreign":
        check_new_model_dir(model_dir)
    if args.from_model:
        require_complete(args.from_model)
        source = families.of_model(args.from_model)
        if source is not family:
            raise CommandError(f"--from {args.from_model} is a {source.name} model, not {family.name}")
    model_dir.mkdir(parents=True, exist_ok=True)
    log_path = model_dir / LOG_FILE
    # the child trains here, in its own process (never handed to a worker: no '--submit')
    child = [a for a in args.argv if a not in ("--background", "--for-imagej", "--submit")]
    env = dict(os.environ, TQDM_MININTERVAL="10")
    with open(log_path, "ab") as log:
        process = subprocess.Popen([sys.executable, "-m", "pyfiji_dl.cli", *child], stdout=log,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True, env=env)
    _say(f"Training started in the background (process {process.pid}).")
    _say(f"Log: {log_path}")
    _say(f"Model: {model_dir}")
    _say(f"QC report when it finishes: {model_dir / 'qc' / 'index.html'}")
    return 0


def _report_training(outcome) -> None:
    _say(f"\nModel: {outcome.model_dir}")
    if outcome.thresholds and "nms" in outcome.thresholds:
        _say(f"Thresholds: probability {outcome.thresholds['prob']:.3f}, "
             f"overlap (NMS) {outcome.thresholds['nms']:.2f}")
    elif outcome.thresholds:
        _say(f"Threshold: probability {outcome.thresholds['prob']:.3f}")
    _say(f"QC report: {outcome.report}")
    _say(f"Provenance: {outcome.provenance}")


def cmd_train(args) -> int:
    family = families.get(args.family)
    if args.resume and args.from_model:
        raise CommandError("--resume continues this model's own run; --from starts a new one from another model. "
                           "Use one of them.")
    if args.resume and args.restart:
        raise CommandError("--resume continues the folder's training; --restart replaces it. Use one of them.")
    _guard_outputs([args.data, args.val, args.from_model], folders=[args.model])
    if args.background:
        return _train_in_background(args, family)
    outcome = family.train(args.data, args.model, family.options_from_args(args), val=args.val,
                           channel=args.channel, resume=args.resume, from_model=args.from_model,
                           progress=not args.quiet, command_line=["pyfiji-dl"] + args.argv, restart=args.restart)
    _report_training(outcome)
    return 0


def cmd_predict(args) -> int:
    from .prediction.run import predict_paths

    overrides = {"threshold": args.threshold, "min_area": args.min_area, "max_area": args.max_area,
                 "split_touching": args.split_touching}
    options = dict(channel=args.channel, overwrite=args.overwrite, progress=not args.quiet, overrides=overrides,
                   roi_order=args.roi_order)
    if args.workers is not None or args.scheduler is not None:
        from .prediction.distributed import predict_paths_distributed

        if args.workers is not None and args.scheduler is not None:
            raise CommandError("give --workers N (processes on this machine) or --scheduler ADDRESS, not both")
        result = predict_paths_distributed(args.model, args.inputs, args.output, workers=args.workers,
                                           scheduler=args.scheduler, **options)
    else:
        result = predict_paths(args.model, args.inputs, args.output, **options)
    for path in result.done:
        _say(f"{path.name}: done")
    if result.skipped:
        _say(f"skipped {len(result.skipped)} finished input(s) (use --overwrite to redo): "
             + ", ".join(p.name for p in result.skipped[:10]))
    if result.summary:
        out = Path(args.output).resolve()
        folders = ", ".join(sorted(f"{d.name}/" for d in out.iterdir() if d.is_dir()))
        _say(f"Outputs in {out} ({folders}, {result.summary.name})")
    if result.failed:
        raise CommandError(f"{len(result.failed)} input(s) failed:\n"
                           + "\n".join(naming_file(why, p) for p, why in result.failed))
    return 0


def cmd_export(args) -> int:
    from .export import export_bioimageio, export_fiji
    from .models.completeness import require_complete

    require_complete(args.model)
    _guard_outputs([args.model], files=[args.output])
    if args.format == "bioimageio":
        done = export_bioimageio(args.model, args.output, name=args.name, authors=args.author or None,
                                 license=args.license, overwrite=args.overwrite)
        _say(done.note)
    else:
        if Path(args.output).exists() and not args.overwrite:
            raise CommandError(f"{args.output} exists; use --overwrite to replace it")
        _, note = export_fiji(args.model, args.output, args.format)
        _say(note)
    return 0


def cmd_evaluate(args) -> int:
    if args.pred or args.gt:
        from .qc.evaluate import evaluate_predictions

        if not (args.pred and args.gt) or args.model:
            raise CommandError("give MODEL --data DATA, or --pred DIR --gt DIR (not both)")
        report = evaluate_predictions(args.pred, args.gt, args.output, input_dir=args.input)
    else:
        if not (args.model and args.data):
            raise CommandError("give MODEL --data DATA, or --pred DIR --gt DIR")
        from .models.completeness import require_complete

        require_complete(args.model)
        _guard_outputs([args.data, args.model], folders=[args.output])
        report = families.of_model(args.model).evaluate(args.model, args.data, args.output, channel=args.channel)
    _say(f"QC report: {Path(report).resolve()}")
    return 0


def cmd_fiji_install(args) -> int:
    from .fiji.install import install

    done = install(args.fiji, command=args.command_path)
    _say(f"Installed {len(done['commands'])} commands under Plugins > pyfiji-dl:")
    for path in done["commands"]:
        _say(f"  {path}")
    _say(f"Toolbar menu: {done['toolset']} (choose it with the '>>' button of the toolbar)")
    _say(f"The macros call: {done['config'].read_text().splitlines()[0].split('=', 1)[1]}")
    _say(f"Scripts for the script editor (File > Open...): Jython, Fiji's default Python: "
         f"{done['jython'][0].parent}; Python mode (CPython 3.11 with pyfiji_dl): {done['scripts'][0].parent}")
    _say("Restart Fiji (or Help > Refresh Menus) to see them.")
    return 0


def cmd_families(args) -> int:
    for family in families.REGISTRY.values():
        _say(f"{family.name}\t{family.menu_label}")
    return 0


# --- doctor / demo ------------------------------------------------------------------

def cmd_doctor(args) -> int:
    from .doctor import run_doctor

    return run_doctor(fiji=args.fiji, start_imagej=not args.no_start)


def cmd_demo(args) -> int:
    from .demo import run_demo

    return run_demo(Path(args.output), command_line=main, minutes=args.minutes)


def _progress(items, desc):
    from tqdm import tqdm

    items = list(items)
    return tqdm(items, desc=desc, unit="file", disable=len(items) < 2 or not sys.stderr.isatty())


# --- parser -------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    """The whole ``pyfiji-dl`` parser: one small function per command adds its sub-parser."""
    parser = argparse.ArgumentParser(
        prog="pyfiji-dl",
        description="Deep learning for Fiji/ImageJ users: ROI sets <-> label maps, and more.",
    )
    parser.add_argument("--version", action="version", version=f"pyfiji_dl {__version__}")
    parser.add_argument("--for-imagej", action="store_true",
                        help="output for ImageJ macros: everything on standard output, no progress bars, "
                             "a last line 'PYFIJI-DL STATUS ok|error'")
    parser.add_argument("--no-worker", action="store_true",
                        help="run in this process even when the pyfiji-dl worker runs (also: PYFIJI_DL_WORKER=off)")
    parser.add_argument("--submit", action="store_true",
                        help="for ImageJ macros: hand the command to the worker and print its job folder "
                             "('PYFIJI-DL JOB FOLDER') at once; the macro polls FOLDER/progress.txt and "
                             "FOLDER/result.txt. Runs in this process when no worker is used. "
                             "'train' is submitted too (the job replaces --background; it starts a worker).")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    from .cli_review import add_corrections, add_fine_tune, add_review_next

    for add_command in (_add_rois_to_labels, _add_labels_to_rois, _add_bootstrap_rois, _add_autolabel,
                        _add_train, _add_predict, _add_evaluate, _add_export, _add_families, _add_fiji,
                        _add_doctor, _add_demo, _add_worker, add_review_next, add_corrections, add_fine_tune):
        add_command(sub)
    return parser


def _imagej_version(text: str):
    from .fiji.imagej_version import parse_imagej_version

    try:
        return parse_imagej_version(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_imagej_version(p, what: str) -> None:
    from .fiji.imagej_version import FIJI_IMAGEJ

    p.add_argument("--imagej", type=_imagej_version, default=FIJI_IMAGEJ, metavar="VERSION",
                   help=f"{what} this ImageJ 1.x version does (default {FIJI_IMAGEJ}, current Fiji's; e.g. "
                        "1.53t for Debian's libij-java). The Fiji commands pass the running ImageJ's.")


def _add_rois_to_labels(sub) -> None:
    p = sub.add_parser(
        "rois-to-labels",
        help="ROI Manager sets (.zip/.roi) -> label map TIFFs, exactly as ImageJ fills the ROIs",
        description=(
            "Paint each area ROI with its own label, pixel for pixel as ImageJ fills it. "
            "Single form: ROIS.zip --image IMAGE.tif -o LABELS.tif. Folder form: --rois-dir DIR "
            "--images DIR -o MASKS_DIR (pairs NAME.zip with NAME.tif; the label map gets the image's "
            "file name). Line, angle and point ROIs have no area and are skipped with a warning."
        ),
    )
    p.add_argument("rois", nargs="?", help="ROI set: .zip from the ROI Manager, or one .roi")
    p.add_argument("--image", help="the image the ROIs were drawn on (shape, stack layout, calibration)")
    p.add_argument("--shape", type=_shape, help="HEIGHT,WIDTH when there is no image")
    p.add_argument("--rois-dir", help="folder of ROI sets (folder form)")
    p.add_argument("--images", help="folder of images (folder form)")
    p.add_argument("-o", "--output", required=True, help="label map .tif (single form) or folder (folder form)")
    p.add_argument("--overlap", choices=["last-wins", "first-wins", "drop", "error"], default="last-wins",
                   help="who gets pixels several ROIs claim: the last ROI (default, as ImageJ draws), the "
                        "first, nobody (drop), or stop with an error. Overlaps are always reported.")
    p.add_argument("--ids", choices=["auto", "order", "name"], default="auto",
                   help="label ids from the ROI order, or from names written by labels-to-rois "
                        "('label-00017'); auto: names when all ROIs have such names")
    _add_imagej_version(p, "fill the ROIs as")
    p.set_defaults(func=cmd_rois_to_labels)


def _add_labels_to_rois(sub) -> None:
    p = sub.add_parser(
        "labels-to-rois",
        help="label map TIFFs -> ROI Manager sets, one exact ROI per label",
        description=(
            "One ROI per label, traced on pixel edges so ImageJ fills it back exactly; labels with "
            "holes or several parts become one composite ROI. On stacks each ROI carries its slice "
            "(and c/z/t on hyperstacks). Single form: LABELS.tif -o ROIS.zip. Folder form: "
            "LABELS_DIR -o ROIS_DIR (one NAME.zip per NAME.tif)."
        ),
    )
    p.add_argument("labels", help="label map .tif, or a folder of them")
    p.add_argument("-o", "--output", required=True, help="ROI set .zip (single form) or folder")
    p.set_defaults(func=cmd_labels_to_rois)


def _add_bootstrap_rois(sub) -> None:
    p = sub.add_parser(
        "bootstrap-rois",
        help="threshold + particle analysis -> a ROI set per image to correct in Fiji",
        description=(
            "Start an annotation the way Fiji's manual protocol does: an auto-threshold (the same "
            "methods as Image > Adjust > Threshold, giving exactly ImageJ's threshold), connected "
            "particles as Analyze Particles finds them (8-connected, holes included), optional size "
            "limits, edge exclusion and a watershed split of touching objects. Writes OUT/NAME.zip for "
            "each image, to open in the ROI Manager and correct by hand."
        ),
    )
    p.add_argument("images", nargs="+", help="TIFF files or folders")
    p.add_argument("-o", "--output", required=True, help="folder for the ROI sets (NAME.zip)")
    p.add_argument("--method", default="Default",
                   help="ImageJ threshold method: Default, Huang, Intermodes, IsoData, IJ_IsoData, Li, "
                        "MaxEntropy, Mean, MinError, Minimum, Moments, Otsu, Percentile, RenyiEntropy, "
                        "Shanbhag, Triangle, Yen (default Default)")
    p.add_argument("--light-background", action="store_true",
                   help="objects darker than the background (ImageJ's threshold without 'Dark background')")
    p.add_argument("--stack-histogram", action="store_true",
                   help="one threshold from the whole stack (ImageJ's 'Stack histogram'); default per slice")
    p.add_argument("--min-area", type=nonnegative_int, default=0, help="smallest particle in pixels (default 0)")
    p.add_argument("--max-area", type=nonnegative_int, help="largest particle in pixels (default no limit)")
    p.add_argument("--exclude-edges", action="store_true", help="drop particles touching the image edge")
    p.add_argument("--split-touching", action="store_true",
                   help="split touching particles with a distance-map watershed (like Process > Binary > Watershed)")
    p.add_argument("--no-fill-holes", action="store_true", help="keep holes (Analyze Particles without 'Include holes')")
    p.add_argument("--channel", type=int, help="1-based channel of multichannel images")
    p.add_argument("--overwrite", action="store_true", help="replace existing ROI sets")
    _add_imagej_version(p, "threshold as")
    p.set_defaults(func=cmd_bootstrap_rois)


def _add_autolabel(sub) -> None:
    p = sub.add_parser(
        "autolabel",
        help="automatic nucleus labels from a fluorescence channel (CLAHE + adaptive Otsu), with label QC",
        description=(
            "Label maps from fluorescence images of nuclei, to train a U-Net on the paired "
            "transmitted-light images (same file names): Fiji's CLAHE (block 127, 256 bins, slope 3; "
            "pixel-identical to Process > Enhance Local Contrast), adaptive Otsu (window 20, bounds "
            "0.05-1.0, as CellProfiler's IdentifyPrimaryObjects), holes filled, objects kept by "
            "equivalent diameter (5-30 px). Label QC over the folder: images in the lowest 25 % of "
            "foreground pixels and images with more foreground than background are excluded "
            "(written to autolabel_report/excluded/, not to the masks folder), with a table and, with "
            "--report, a contact sheet of what was kept and why."
        ),
    )
    p.add_argument("--fluorescence", required=True, help="folder of fluorescence TIFFs")
    p.add_argument("-o", "--output", required=True, help="masks folder (label maps with the same names)")
    p.add_argument("--report", action="store_true", help="also draw the contact sheet and index.html")
    p.add_argument("--channel", type=int, help="1-based channel of multichannel images")
    p.add_argument("--no-clahe", action="store_true", help="skip the CLAHE step")
    p.add_argument("--block-size", type=positive_int, default=127, help="CLAHE block size (default 127)")
    p.add_argument("--bins", type=positive_int, default=256, help="CLAHE histogram bins (default 256)")
    p.add_argument("--max-slope", type=positive_float, default=3.0, help="CLAHE maximum slope (default 3.0)")
    p.add_argument("--window", type=positive_int, default=20, help="adaptive Otsu window in pixels (default 20)")
    p.add_argument("--bounds", type=float, nargs=2, default=(0.05, 1.0), metavar=("LOW", "HIGH"),
                   help="threshold bounds on the 0-1 scaled image (default 0.05 1.0)")
    p.add_argument("--min-diameter", type=positive_float, default=5, help="smallest equivalent diameter, px (default 5)")
    p.add_argument("--max-diameter", type=positive_float, default=30, help="largest equivalent diameter, px (default 30)")
    p.add_argument("--split-touching", nargs="?", const="shape", choices=("shape", "intensity"),
                   help="split touching nuclei (by shape: distance-map watershed, the default; or by intensity)")
    p.add_argument("--exclude-border", action="store_true", help="drop objects touching the image border")
    p.add_argument("--lowest-fraction", type=fraction, default=0.25,
                   help="fraction of images with the least foreground to exclude (default 0.25)")
    p.add_argument("--overwrite", action="store_true", help="replace existing label maps")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_autolabel)


# --- train: shared options as argparse parents, one sub-parser per registered family --------

def _training_data_parent(family) -> argparse.ArgumentParser:
    """Parent parser: where the training data is, which model folder to write, how long to train."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--data", required=True, help=family.data_help)
    parent.add_argument("--model", required=True, help="model folder to create (or to --resume)")
    parent.add_argument("--val", help=family.val_help)
    parent.add_argument("--epochs", type=positive_int, help="epochs in total (default: planned for the device, the data "
                        f"and --max-minutes; {family.published_default('epochs')} without a limit)")
    parent.add_argument("--steps", type=positive_int, help="steps per epoch (default: planned for the device, the data and "
                        f"--max-minutes; {family.published_default('steps')} on a GPU without a limit)")
    return parent


def _training_run_parent(family) -> argparse.ArgumentParser:
    """Parent parser: channel, seed and augmentation, time limit, resume/fine-tune and output."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--channel", type=int, help=family.channel_help)
    parent.add_argument("--seed", type=int, help=family.seed_help)
    parent.add_argument("--no-augment", action="store_true", help=family.augment_help)
    parent.add_argument("--max-minutes", type=nonnegative_float, help=family.max_minutes_help)
    parent.add_argument("--resume", action="store_true", help="continue an interrupted run from its last checkpoint")
    parent.add_argument("--restart", action="store_true",
                        help="start again in a folder that holds an earlier run's files (they are removed; "
                             "files a training does not write are left alone and stop the restart)")
    parent.add_argument("--from", dest="from_model", help=family.from_help)
    parent.add_argument("--quiet", action="store_true", help="no progress output")
    parent.add_argument("--background", action="store_true",
                        help="check the data, then train in a separate process logging to MODEL/training.log")
    return parent


def _add_train(sub) -> None:
    names = list(families.names())
    p = sub.add_parser("train", help=f"train a model: {', '.join(names[:-1])} or {names[-1]}",
                       description="Train a model. Families: " + ", ".join(
                           f"{f.name} ({f.task})" for f in families.REGISTRY.values())
                       + ".")
    family_parsers = p.add_subparsers(dest="family", metavar="FAMILY")
    for family in families.REGISTRY.values():
        t = family_parsers.add_parser(family.name, help=family.help, description=family.description,
                                      parents=[_training_data_parent(family), _training_run_parent(family)])
        family.add_options(t)
        t.set_defaults(func=cmd_train)


def _add_predict(sub) -> None:
    p = sub.add_parser(
        "predict",
        help="apply a trained model to images: label maps, ROI sets and tables for Fiji",
        description=(
            "Predict every TIFF given (files or folders); the model folder says what it is. StarDist: "
            "for each NAME.tif, OUT gets masks/NAME.tif (label map), rois/NAME.zip (ROI Manager set, "
            "ROIs on their frame/slice), objects/NAME.csv (one row per object) and summary.csv (counts "
            "per image and frame). U-Net: the same plus probability/NAME.tif (32-bit) and binary/NAME.tif "
            "(8-bit 0/255). CARE and Noise2Void: OUT/restored/NAME.tif (32-bit, calibration and "
            "axes kept). Time-lapses and stacks go frame by frame (and slice by slice for a 2D model); "
            "large images are tiled; finished inputs are skipped on re-run."
        ),
    )
    p.add_argument("model", help="model folder written by 'pyfiji-dl train', or a bioimageio zip "
                                 "exported from one")
    p.add_argument("inputs", nargs="+", help="TIFF files or folders")
    p.add_argument("-o", "--output", required=True, help="output folder")
    p.add_argument("--channel", type=int, help="1-based channel of multichannel images for a one-channel model")
    p.add_argument("--overwrite", action="store_true", help="predict again even where outputs exist")
    p.add_argument("--threshold", type=probability, help="U-Net: probability threshold instead of the model's")
    p.add_argument("--min-area", type=nonnegative_int, help="U-Net: smallest object in pixels instead of the model's")
    p.add_argument("--max-area", type=nonnegative_int, help="U-Net: largest object in pixels instead of the model's")
    p.add_argument("--split-touching", action=argparse.BooleanOptionalAction, default=None,
                   help="U-Net: split touching objects with a watershed, or not, instead of the model's choice")
    p.add_argument("--roi-order", choices=("confidence", "label"), default="confidence",
                   help="order of each ROI set: least confident objects first, to review them in that "
                        "order (default), or by label id; ROIs are named and coloured by confidence either way")
    p.add_argument("--workers", type=positive_int, metavar="N",
                   help="predict on N processes of this machine, each loading the model once "
                        "(default: one process)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="predict on a running Dask cluster: its scheduler address (tcp://HOST:8786) or "
                        "scheduler file (.json), e.g. from dask-jobqueue; workers need the same paths")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_predict)


def _add_evaluate(sub) -> None:
    p = sub.add_parser(
        "evaluate",
        help="QC report: a model on data with ground truth, or any predictions against ground truth",
        description=(
            "MODEL --data DATA: predict DATA (StarDist: images/ + masks/ or rois/; CARE: low/ + GT/; "
            "Noise2Void: images/ + GT/) and write the QC report. --pred DIR --gt DIR: score predictions "
            "from any tool against ground truth, paired by file name: label maps by object matching at "
            "IoU 0.1-0.9 (plus any-overlap and pixel metrics), other images by mSSIM, NRMSE and PSNR."
        ),
    )
    p.add_argument("model", nargs="?", help="model folder")
    p.add_argument("--data", help="data folder with ground truth")
    p.add_argument("--pred", help="folder of predictions (NAME.tif)")
    p.add_argument("--gt", help="folder of ground truth (NAME.tif)")
    p.add_argument("--input", help="with --pred/--gt for restoration: the inputs, scored as the baseline")
    p.add_argument("--channel", type=int, help="1-based channel of multichannel images")
    p.add_argument("-o", "--output", required=True, help="report folder (index.html, CSV, pictures)")
    p.set_defaults(func=cmd_evaluate)


def _add_export(sub) -> None:
    p = sub.add_parser(
        "export",
        help="share a model: BioImage Model Zoo package (deepImageJ) or the StarDist/CSBDeep Fiji plugins' zip",
        description=(
            "--format bioimageio: a BioImage Model Zoo package (rdf.yaml format 0.5, Keras HDF5 and "
            "TensorFlow SavedModel weights, test tensors, cover, documentation, pre/post-processing, "
            "deepImageJ config), validated offline before it is written; 'pyfiji-dl predict' accepts "
            "it as MODEL. --format fiji-stardist (StarDist 2D) / fiji-csbdeep (CARE, Noise2Void, "
            "U-Net): the TensorFlow SavedModel zip the Fiji plugins open, with the settings to type "
            "in Fiji. Those plugins run TensorFlow 1.x; see the printed note."
        ),
    )
    p.add_argument("model", help="model folder written by 'pyfiji-dl train'")
    p.add_argument("--format", required=True, choices=("bioimageio", "fiji-stardist", "fiji-csbdeep"))
    p.add_argument("-o", "--output", required=True, help="the zip to write (e.g. nuclei.bioimageio.zip)")
    p.add_argument("--name", help="bioimageio: model name (default: the folder name)")
    p.add_argument("--author", action="append", help="bioimageio: an author's name (repeat for several)")
    p.add_argument("--license", default="CC-BY-4.0", help="bioimageio: SPDX licence of the weights")
    p.add_argument("--overwrite", action="store_true", help="replace an existing zip")
    p.set_defaults(func=cmd_export)


def _add_families(sub) -> None:
    p = sub.add_parser("families", help="list the model families: name and label, one per line",
                       description="The model families this version trains, one per line: the name 'train' "
                                   "takes, a tab, and the label Fiji's dialogs show.")
    p.set_defaults(func=cmd_families)


def _add_fiji(sub) -> None:
    p = sub.add_parser("fiji", help="Fiji integration: install the pyfiji-dl macros into Fiji",
                       description="Fiji integration.")
    fiji_sub = p.add_subparsers(dest="fiji_command", metavar="ACTION")
    f = fiji_sub.add_parser(
        "install",
        help="copy the macros (Plugins > pyfiji-dl and a toolbar menu) into a Fiji (Fiji or Fiji.app) or ImageJ folder",
        description=(
            "Install the pyfiji-dl commands into Fiji: Labels from ROI Manager, Predict (StarDist), "
            "Denoise (N2V), Restore (CARE), Review Predictions, Save Corrections, Train Model and "
            "Fine-tune Model, under Plugins > pyfiji-dl and as a toolbar menu, and record which "
            "pyfiji-dl program they call (this environment's, unless --command is given)."
        ),
    )
    f.add_argument("--fiji", required=True, help="the Fiji folder (Fiji or Fiji.app; on macOS also the app) or ImageJ folder")
    f.add_argument("--command", dest="command_path", help="the pyfiji-dl program the macros call")
    f.set_defaults(func=cmd_fiji_install)


def _add_doctor(sub) -> None:
    p = sub.add_parser("doctor", help="check Python, TensorFlow/GPU, Java, ImageJ/Fiji and display",
                       description="Report what pyfiji-dl finds on this machine and how to fix what is missing. "
                                   "Exits 1 when a required part is missing.")
    p.add_argument("--fiji", help="a Fiji folder (Fiji or Fiji.app) to check instead of the default search")
    p.add_argument("--no-start", action="store_true", help="locate ImageJ but do not start Java")
    p.set_defaults(func=cmd_doctor)


def _add_demo(sub) -> None:
    p = sub.add_parser("demo", help="run the bundled demo (ROI sets <-> label maps on real nuclei)",
                       description="Runs the main job on bundled data and checks the outputs in real ImageJ.")
    p.add_argument("-o", "--output", default="demo_output", help="folder for the demo's files")
    p.add_argument("--minutes", type=positive_float, default=4.0, help="StarDist training time limit (default 4)")
    p.set_defaults(func=cmd_demo)


def _add_worker(sub) -> None:
    p = sub.add_parser(
        "worker", help="the warm worker that keeps TensorFlow and recent models loaded: start, stop, status",
        description=(
            "A long-lived process of yours that keeps TensorFlow imported and recently used models loaded, "
            "so predict, rois-to-labels, labels-to-rois, bootstrap-rois and the Fiji commands answer in about "
            "a second. 'predict' starts it when it is not running; it exits after 30 idle minutes "
            "(--idle-minutes, PYFIJI_DL_WORKER_IDLE_MINUTES). Turn it off with PYFIJI_DL_WORKER=off or "
            "--no-worker. It listens on a Unix socket only its user can open and runs pyfiji-dl commands only."),
    )
    p.add_argument("action", choices=("start", "stop", "status", "cancel"))
    p.add_argument("jobs", nargs="*", metavar="JOB", help="cancel: job ids or job folders (default: every job)")
    p.add_argument("--idle-minutes", type=float, help="start: exit after this many minutes without a command")
    p.set_defaults(func=cmd_worker)


def cmd_worker(args) -> int:
    from .worker.client import worker_command

    ids = [Path(j).name for j in args.jobs]
    return worker_command(args.action, idle_minutes=args.idle_minutes, ids=ids, say=_say)


def _interrupted_note(args) -> str | None:
    """After Ctrl-C: what the command kept and how to continue (None: the general note)."""
    from .command import command_line_again

    if args.command == "train" and not getattr(args, "background", False):
        from .models.training import interrupted_note

        resume = command_line_again(args.argv, add=("--resume",), drop=("--restart", "--from", args.from_model))
        again = command_line_again(args.argv, drop=("--resume", "--restart"))
        return interrupted_note(Path(args.model), resume, again)
    if args.command == "predict":
        from .models.source import open_model_source
        from .models.card import read_card
        from .prediction.run import interrupted_note

        try:
            card = read_card(open_model_source(args.model))
        except PyfijiDLError:
            card = None
        return interrupted_note(args.output, args.inputs, card, command_line_again(args.argv))
    return None


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # the warm worker's fast path: a command it runs is sent before the parser is built
    # (the worker parses it with this parser); the client then imports no more than it needs
    from .worker.client import IN_PROCESS, run_argv

    sent = run_argv(argv)
    if sent is not None and sent != IN_PROCESS:
        return sent
    ask_worker = sent is None  # IN_PROCESS: decided already, run here
    from .command import show_library_messages
    from .models.device import wait_passively_in_openmp

    wait_passively_in_openmp()  # before StarDist loads its OpenMP library

    show_library_messages()  # the library's notes and warnings, when the command runs in this process
    if "--for-imagej" in argv:
        return _main_for_imagej(argv, ask_worker)
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = argv
    return _run(parser, args, ask_worker)


def _main_for_imagej(argv: list[str], ask_worker: bool = True) -> int:
    """``--for-imagej``: everything on standard output, then ``PYFIJI-DL STATUS ok|error``.

    ImageJ's ``exec()`` hands the macro standard output only (from ImageJ 1.54n6 it
    reads and discards standard error), so standard error is joined to standard output
    before anything can fail: argparse's usage errors, errors while building the parser
    and tracebacks of bugs reach the macro's message too, and the status line is always
    the last line.
    """
    sys.stdout.flush()
    os.dup2(sys.stdout.fileno(), sys.stderr.fileno())
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)  # lines in the order they were written
    os.environ["TQDM_DISABLE"] = "1"
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        args.argv = argv
        code = _run(parser, args, ask_worker)
    except SystemExit as exc:  # argparse: a usage error (2, message printed) or --help (0)
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if not isinstance(exc.code, (int, type(None))):
            print(f"pyfiji-dl: error: {exc.code}")
    except KeyboardInterrupt as stop:  # outside run_command, which handles the command's own
        if type(stop) is KeyboardInterrupt:  # Ctrl-C before the command started
            print("pyfiji-dl: interrupted (Ctrl-C) before the command started; nothing was written")
        else:  # the warm worker's cancel arriving while the command was reporting its stop
            print("pyfiji-dl: cancelled: outputs are written whole or not at all, so no half-written "
                  "file was kept; run the same command again to continue (finished files are skipped)")
        code = 130
    except Exception:  # noqa: BLE001 - a bug or a broken installation: its traceback is the message
        import traceback

        traceback.print_exc()
        code = 1
    sys.stderr.flush()
    print(f"PYFIJI-DL STATUS {'ok' if code == 0 else 'error'}", flush=True)
    return code


def _run(parser, args, ask_worker: bool = True) -> int:
    if args.command and ask_worker:
        # the one dispatch hook: the warm worker runs the command when it is used
        from .worker.client import run_command

        code = run_command(args, args.argv)
        if code is not None:
            return code
    # TensorFlow's C++ start-up chatter (CUDA plugins, CPU flags) is not for our users;
    # set TF_CPP_MIN_LOG_LEVEL yourself to see it
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if not getattr(args, "func", None):
        if args.command in ("train", "fiji"):
            parser.parse_args([args.command, "--help"])
        parser.print_help()
        return 2
    from .command import run_command as run_here  # (the worker's run_command above sends it away)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            return run_here(args.func, args, name=args.command, interrupted_note=_interrupted_note)
        finally:
            # user-facing warnings only; library deprecation notices are not for our users
            for warning in caught:
                if issubclass(warning.category, UserWarning):
                    _warn(str(warning.message))


if __name__ == "__main__":
    sys.exit(main())
