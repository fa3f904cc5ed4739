"""``pyfiji-dl autolabel``: label maps for a folder of fluorescence images, with label QC.

Each image goes through :func:`pyfiji_dl.annotation.autolabel.autolabel_image` (Fiji's
CLAHE, CellProfiler's adaptive Otsu, clean-up); the folder is then filtered as the
CellProfiler protocol does (:func:`~pyfiji_dl.annotation.autolabel.select_label_images`)
and the QC table, contact sheets and excluded maps are written beside the masks.
"""

from __future__ import annotations

import inspect
import sys
from dataclasses import dataclass, field
from pathlib import Path

from ..annotation.autolabel import (REPORT_DIR_NAME, _autolabel, _check_options, autolabel_image,
                                    select_label_images)
from ..errors import InputError, OptionError, PyfijiDLError, naming_file

__all__ = ["AutolabelResult", "autolabel_folder", "QC_COLUMNS"]


@dataclass
class AutolabelResult:
    """What :func:`autolabel_folder` did.

    Attributes
    ----------
    masks_dir, report_dir : Path
    kept : list of Path
        Label maps written to ``masks_dir`` (ready for training).
    excluded : list of (Path, str)
        Input image and reason; its label map is in ``report_dir/excluded/``.
    failed : list of (Path, str)
        Input image and error message naming it (unreadable, RGB, several channels, ...).
    skipped : list of Path
        Files that were not TIFF images (none today; kept for symmetry).
    rows : list of dict
        The rows of ``labels_qc.csv``.
    qc_csv : Path
    contact_sheets : list of Path
    index_html : Path or None
    """

    masks_dir: Path
    report_dir: Path
    kept: list = field(default_factory=list)
    excluded: list = field(default_factory=list)
    failed: list = field(default_factory=list)
    skipped: list = field(default_factory=list)
    rows: list = field(default_factory=list)
    qc_csv: Path | None = None
    contact_sheets: list = field(default_factory=list)
    index_html: Path | None = None

    @property
    def status(self) -> int:
        """0 if every image was processed, 1 if any failed (exit status for the CLI)."""
        return 1 if self.failed else 0

    def summary_lines(self) -> list:
        """Plain-language summary for the terminal."""
        n = len(self.kept) + len(self.excluded) + len(self.failed)
        lines = [f"{len(self.kept)} of {n} label maps kept in {self.masks_dir}"]
        if self.excluded:
            by_reason: dict = {}
            for _, reason in self.excluded:
                by_reason[reason] = by_reason.get(reason, 0) + 1
            detail = ", ".join(f"{count} {reason}" for reason, count in by_reason.items())
            lines.append(f"{len(self.excluded)} excluded ({detail}); their maps are in "
                         f"{self.report_dir / 'excluded'}")
        for path, message in self.failed:
            lines.append(f"FAILED {Path(path).name}: {message}")
        if self.qc_csv is not None:
            lines.append(f"QC table: {self.qc_csv}")
        if self.index_html is not None:
            lines.append(f"QC report: {self.index_html}")
        if n and not self.kept:
            lines.append("No label map passed the QC: nothing to train on. Look at the contact sheet.")
        return lines


def autolabel_folder(fluorescence_dir, masks_dir, *, report=True, channel=None, overwrite=False,
                     progress=True, report_dir=None, lowest_fraction=0.25, **autolabel_options) -> AutolabelResult:
    """Automatic nucleus labels for every TIFF of a folder, with the dataset QC of Salomon-Sörensen 2023.

    Each image is labelled with :func:`autolabel_image`; then
    :func:`select_label_images` decides which label maps are good enough to
    train on, ranking all images that could be labelled (images that failed are
    left out of the ranking).

    Outputs (inputs are never modified; every file is written atomically):

    * ``masks_dir/<input file name>``: the **kept** label maps, 16-bit ImageJ
      TIFFs with the input's calibration, named like their fluorescence image so
      they pair with the transmitted-light images of the same name (``images/``)
      for ``train unet``.
    * ``report_dir/excluded/<input file name>``: the **excluded** label maps,
      kept out of ``masks_dir`` so they cannot be trained on by accident, but
      there to inspect; move one into ``masks_dir`` to use it after all.
    * ``report_dir/labels_qc.csv``: one row per image: ``file``, ``kept``
      (yes/no), ``reason``, ``n_objects``, ``foreground_fraction``,
      ``threshold_foreground_fraction``, ``global_threshold``,
      ``threshold_min``/``mean``/``max`` (0-1 units), ``global_threshold_intensity``,
      removal counts, ``clahe`` and ``error``. Always written.
    * with ``report=True``: ``report_dir/contact_sheet.png`` (thumbnails of the
      enhanced fluorescence with label outlines, kept framed green, excluded red
      with the reason; more pages ``contact_sheet_2.png``... for large folders)
      and ``report_dir/index.html`` linking the table and pictures.

    ``report_dir`` defaults to ``masks_dir/../autolabel_report``.

    Parameters
    ----------
    fluorescence_dir : path-like
        Folder of nuclear-stain TIFFs (2D; hidden files ignored).
    masks_dir : path-like
        Output folder for the kept label maps; must differ from
        ``fluorescence_dir``.
    report : bool
        Also draw the contact sheet and write ``index.html``.
    channel : int, optional
        1-based channel holding the nuclei, for multichannel images (required
        for them).
    overwrite : bool
        False: refuse to start if ``masks_dir`` or ``report_dir/excluded``
        already holds a file with one of the output names. True: replace them,
        and remove the stale map of an image that is now excluded or unreadable
        from the folder it no longer belongs in (so an old label map cannot be
        trained on).
    progress : bool
        tqdm progress bar on stderr.
    report_dir : path-like, optional
    lowest_fraction : float
        Fraction of images dropped for the least foreground (Salomon-Sörensen 2023: 0.25).
    **autolabel_options
        Passed to :func:`autolabel_image` (``window``, ``bounds``,
        ``min_diameter``, ``split_touching``, ...).

    Returns
    -------
    AutolabelResult
        ``status`` is 1 if any image failed (each failure is reported with its
        file name; the others are processed), else 0. Failed images have
        ``kept = no`` in the table with reason ``unreadable`` (corrupt or not a
        TIFF, or too large to read), ``unsupported image`` (RGB, 1-bit, several
        channels without ``channel``, stacks, no pixels, smaller than two
        ``window`` widths), ``out of memory`` or ``error`` (its label map could
        not be written), and the message in ``error``; no label map is written
        for them. Any other exception is a bug of ours and is raised.

    Raises
    ------
    FileNotFoundError
        ``fluorescence_dir`` missing or without TIFFs.
    FileExistsError
        Outputs exist and ``overwrite`` is False.
    pyfiji_dl.io.outputs.DiskFullError
        The disk filled up (every further image would fail the same way).
    ValueError
        Bad options (checked before any image is processed), or ``masks_dir`` is
        the input folder.
    """
    from tqdm.auto import tqdm

    from ..data.pairs import IMAGE_SUFFIXES, list_files
    from ..io.outputs import DiskFullError
    from ..io.tiff import ImageReadError, read_image, write_label_image
    from ..qc.autolabel_report import make_thumbnail, write_autolabel_report

    fluorescence_dir, masks_dir = Path(fluorescence_dir), Path(masks_dir)
    report_dir = Path(report_dir) if report_dir is not None else masks_dir.parent / REPORT_DIR_NAME
    excluded_dir = report_dir / "excluded"
    if not fluorescence_dir.is_dir():
        raise FileNotFoundError(f"{fluorescence_dir}: no such folder.")
    for out in (masks_dir, report_dir, excluded_dir):
        if _same_dir(out, fluorescence_dir):
            raise OptionError(f"{out} is the fluorescence folder itself; choose another output folder "
                              "(the label maps have the same file names and would replace the images).")
    options = _bound_options(autolabel_options)
    files = sorted(list_files(fluorescence_dir, IMAGE_SUFFIXES).values(), key=lambda p: p.name)
    if not files:
        raise FileNotFoundError(f"{fluorescence_dir}: no .tif images in this folder.")
    if not overwrite:
        clashes = [d / p.name for p in files for d in (masks_dir, excluded_dir) if (d / p.name).exists()]
        if clashes:
            shown = ", ".join(str(c) for c in clashes[:5]) + (" ..." if len(clashes) > 5 else "")
            raise FileExistsError(f"{len(clashes)} output file(s) exist: {shown}. Pass overwrite=True "
                                  "(--overwrite) to replace them, or choose another output folder.")

    result = AutolabelResult(masks_dir=masks_dir, report_dir=report_dir)
    staging = report_dir / ".staging"
    staging.mkdir(parents=True, exist_ok=True)
    records = []  # per file: dict(path, info or None, error, staged, thumbnail)
    try:
        bar = tqdm(files, desc="autolabel", unit="image", disable=not progress or len(files) < 2, file=sys.stderr)
        for path in bar:
            record = {"path": path, "info": None, "error": "", "reason": "", "staged": None, "thumbnail": None}
            records.append(record)
            info = None  # this image's, once read (the memory message gives its size)
            # Only what a user's image or machine can cause becomes a row of the table; any
            # other exception is a bug of ours and keeps its traceback (issue #15's rule).
            try:
                image, info = read_image(path)
                plane, axes = _nuclear_plane(image, info, channel, path)
                labels, label_info, image01 = _autolabel(plane, **options)
                staged = staging / path.name
                write_label_image(staged, labels, axes, calibration=info.calibration)
                record.update(info=label_info, staged=staged)
                if report:
                    record["thumbnail"] = make_thumbnail(image01, labels)
            except DiskFullError:
                raise  # every further image would fail the same way
            except ImageReadError as exc:
                record.update(error=naming_file(str(exc), path, path.name), reason="unreadable")
            except (InputError, OptionError) as exc:  # e.g. 1-bit, or smaller than two windows
                record.update(error=naming_file(str(exc), path, path.name), reason="unsupported image")
            except (PyfijiDLError, OSError) as exc:  # its label map could not be written
                record.update(error=naming_file(str(exc), path, path.name), reason="error")
            except MemoryError:
                record.update(error=_out_of_memory_message(path, info), reason="out of memory")

        good = [r for r in records if r["info"] is not None]
        verdicts = select_label_images([r["info"]["foreground_fraction"] for r in good], lowest_fraction)
        for record, verdict in zip(good, verdicts):
            record.update(kept=verdict["kept"], reason=verdict["reason"])
        for record in records:
            path = record["path"]
            if record["info"] is None:
                record["kept"] = False
                result.failed.append((path, record["error"]))
                if overwrite:
                    _remove_if_exists(masks_dir / path.name)
                    _remove_if_exists(excluded_dir / path.name)
                continue
            target = masks_dir / path.name if record["kept"] else excluded_dir / path.name
            stale = excluded_dir / path.name if record["kept"] else masks_dir / path.name
            _move_into_place(record["staged"], target, overwrite=overwrite)
            if overwrite:
                _remove_if_exists(stale)
            if record["kept"]:
                result.kept.append(target)
            else:
                result.excluded.append((path, record["reason"]))
    finally:
        for leftover in staging.glob("*"):
            _remove_if_exists(leftover)
        try:
            staging.rmdir()
        except OSError:
            pass

    result.rows = [_qc_row(r) for r in records]
    parameters = {"fluorescence folder": str(fluorescence_dir), "masks folder": str(masks_dir),
                  "channel": channel if channel is not None else "", "lowest_fraction": lowest_fraction,
                  **{k: v for k, v in options.items()}}
    written = write_autolabel_report(report_dir, result.rows, parameters=parameters,
                                     thumbnails=[r["thumbnail"] for r in records] if report else None)
    result.qc_csv = written["csv"]
    result.contact_sheets = written.get("contact_sheets", [])
    result.index_html = written.get("index")
    return result


QC_COLUMNS = (
    "file", "kept", "reason", "n_objects", "foreground_fraction", "threshold_foreground_fraction",
    "global_threshold", "threshold_min", "threshold_mean", "threshold_max", "global_threshold_intensity",
    "intensity_low", "intensity_high", "n_split", "n_removed_border", "n_removed_small", "n_removed_large",
    "clahe", "error",
)
"""Columns of ``labels_qc.csv``."""


def _qc_row(record) -> dict:
    row = {"file": record["path"].name, "kept": "yes" if record.get("kept") else "no",
           "reason": record.get("reason", ""), "error": record["error"]}
    if record["info"] is not None:
        row.update({k: v for k, v in record["info"].items() if k in QC_COLUMNS})
    return {k: row.get(k) for k in QC_COLUMNS}


def _out_of_memory_message(path: Path, info) -> str:
    """What to do when labelling ``path`` ran out of memory; ``info`` (None if not read) gives its size."""
    size = ""
    if info is not None and "X" in info.axes and "Y" in info.axes:
        size = f" {info.shape[info.axes.index('X')]} x {info.shape[info.axes.index('Y')]}"
    return (f"{path.name}: not enough memory to label this{size} image. Close other programs, or cut it "
            "into smaller images (in Fiji: Image > Crop) and label those.")


def _nuclear_plane(image, info, channel, path):
    """The 2D plane to label and its axes ("YX").

    Raises
    ------
    InputError
        The image has no pixels, is not 2D, is a stack, is not greyscale (e.g. 1-bit), or its
        channels do not fit ``channel``;
        the message names the file and what to do.
    """
    from ..annotation.adaptive_otsu import check_greyscale_2d
    from ..io.tiff import ChannelError, require_intensity_pixels, select_channel

    require_intensity_pixels(image, path.name)
    try:
        image, axes = select_channel(image, info.axes, channel, path.name)
    except ChannelError as exc:
        raise InputError(str(exc), path=path) from None
    if "Y" not in axes or "X" not in axes:
        raise InputError(f"{path.name}: is not a 2D image (axes {info.axes}); autolabel needs one YX plane.",
                         path=path)
    extra = [a for a in axes if a not in "YX" and image.shape[axes.index(a)] > 1]
    if extra:
        raise InputError(f"{path.name}: is a stack (axes {info.axes}); autolabel works on single 2D images. "
                         "In Fiji: Image > Stacks > Stack to Images, and save each plane.", path=path)
    image = image.reshape(image.shape[axes.index("Y")], image.shape[axes.index("X")])
    return check_greyscale_2d(image, path.name), "YX"


def _bound_options(options: dict) -> dict:
    """All autolabel_image options with defaults filled in; unknown names fail here, before any work."""
    signature = inspect.signature(autolabel_image)
    try:
        bound = signature.bind(None, **options)
    except TypeError as exc:
        allowed = ", ".join(p for p in signature.parameters if p != "fluorescence")
        raise OptionError(f"unknown autolabel option ({exc}); allowed: {allowed}") from None
    bound.apply_defaults()
    opts = dict(bound.arguments)
    opts.pop("fluorescence")
    _check_options(opts)
    return opts


def _same_dir(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def _remove_if_exists(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass


def _move_into_place(src: Path, dst: Path, *, overwrite: bool) -> None:
    """Rename ``src`` onto ``dst`` (atomic on one file system; copied atomically otherwise)."""
    import errno
    import os
    import shutil

    from ..io.atomic import atomic_path

    if not overwrite and dst.exists():
        raise FileExistsError(f"{dst} exists; pass overwrite=True to replace it.")
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(src, dst)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        with atomic_path(dst) as tmp:
            shutil.copyfile(src, tmp)
        src.unlink()
