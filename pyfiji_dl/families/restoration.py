"""What the restoration families (CARE, Noise2Void) share: options, training run and evaluation.

Both restore images (``restored/NAME.tif`` when predicting) and are scored by the
same QC report: mSSIM, NRMSE and PSNR of input and prediction against ground truth,
with SSIM and RSE maps.
"""

from __future__ import annotations

from pathlib import Path

from ..argtypes import positive_float, positive_int
from .base import (Family, TrainingOutcome, announcer, check_start, default_text, finish_training, sizes,
                   train_adapter)


# The QC report shows at most this many validation blocks (each gets a picture and maps).
QC_BLOCKS = 12


def _validation_blocks_restored(model, adapter, card, dataset, spatial: str):
    """The validation blocks cut from whole restored images (as a user's prediction sees them).

    Returns the blocks as samples, their restorations and what they are, for the report.
    """
    from ..data.holdout import crop
    from ..data.restoration import block_samples
    from ..prediction.run import restore_image

    record = card.extra.get("validation") or {}
    block = tuple(record.get("block") or ())
    blocks = {name: [tuple(c) for c in corners] for name, corners in (record.get("blocks") or {}).items()}
    n_blocks = sum(len(c) for c in blocks.values())
    samples, predictions = [], []
    for sample in dataset.train:
        corners = blocks.get(sample.source_path.name)
        if not corners or len(samples) >= QC_BLOCKS:
            continue
        corners = corners[:QC_BLOCKS - len(samples)]
        restored = restore_image(model, adapter, card, sample.source, spatial)
        samples += block_samples([sample], {sample.source_path.name: corners}, block)
        predictions += [crop(restored, corner, block) for corner in corners]
    size = "x".join(map(str, block))
    scored_on = (f"{len(samples)} of the {n_blocks} validation block(s) of {size} pixels inside the training "
                 "images (no training patch touched them), cut from the whole restored images")
    return samples, predictions, scored_on


class RestorationFamily(Family):
    """A family whose model maps an image to a restored image of the same shape."""

    task_tag = "denoising"
    fiji_plugin = "csbdeep"
    layout: str     # the data layout, for the help text
    defaults: str   # the defaults worth knowing, for the help text

    @property
    def description(self) -> str:
        return (f"Train {self.help}. Data: {self.layout}. Defaults (ZeroCostDL4Mic notebooks): {self.defaults}; "
                "epochs, steps, patch and batch planned for the device and --max-minutes; 10 % of the files "
                "validate (with fewer than 10 files: 10 % of each image's area, in blocks no training patch "
                "touches). Writes the QC report (mSSIM, NRMSE, PSNR of input and prediction against GT, "
                "SSIM/RSE maps) and provenance into MODEL.")

    def add_options(self, parser) -> None:
        default = self.default
        parser.add_argument("--patch", type=sizes, help="patch size, e.g. 64 or 16,64,64")
        parser.add_argument("--batch", type=positive_int, help="batch size (default: planned for the device)")
        parser.add_argument("--lr", type=positive_float, help=f"learning rate (default {default_text(self.published_default('lr'))})")
        parser.add_argument("--depth", type=positive_int, help=f"U-Net depth (default {default('depth')})")
        parser.add_argument("--filters", type=positive_int, help=f"U-Net base filters (default {default('filters')})")

    def train(self, data, model_dir, options, *, val=None, channel=None, resume=False, from_model=None,
              progress=True, command_line=None, extra_callbacks=None, restart=False) -> TrainingOutcome:
        """Train, then QC and provenance.

        The QC report scores the validation images against their ground truth (for
        Noise2Void only when ``DATA/GT`` has images of the same names).
        """
        from ..models.card import read_card
        from ..models.training import read_history
        from ..prediction.run import restore_image
        from ..qc.restoration_report import write_restoration_report

        adapter = self.adapter()
        model_dir = check_start(model_dir, options, resume=resume, restart=restart, from_model=from_model)
        dataset = self.load_data(data, val=val, seed=options.seed, channel=channel)
        say = announcer(dataset, progress)
        if dataset.holdout == "blocks":
            say(f"data: {len(dataset.train)} image(s), {dataset.ndim}D, validating on blocks inside them")
        else:
            say(f"data: {len(dataset.train)} training and {len(dataset.val)} validation image(s), {dataset.ndim}D")
        model = train_adapter(adapter, dataset, model_dir, options, resume=resume, restart=restart,
                              from_model=from_model, progress=progress, extra_callbacks=extra_callbacks)

        say("Writing the quality-control report...")
        card = read_card(model_dir)
        spatial = "ZYX" if dataset.ndim == 3 else "YX"
        if dataset.holdout == "blocks":
            qc_samples, predictions, scored_on = _validation_blocks_restored(model, adapter, card, dataset, spatial)
        else:
            qc_samples = dataset.val
            predictions = [restore_image(model, adapter, card, s.source, spatial) for s in qc_samples]
            scored_on = "the validation images" if dataset.holdout == "files" else "the --val folder's images"
        report = write_restoration_report(
            model_dir / "qc", title=f"QC report: {model_dir.name} ({self.title})",
            names=[s.name for s in qc_samples], sources=[s.source for s in qc_samples], predictions=predictions,
            targets=[s.target for s in qc_samples], history=read_history(model_dir), card=card,
            scored_on=scored_on,
        )
        provenance = finish_training(model_dir, options, dataset.files, self.name, thresholds=None, resume=resume,
                                     from_model=from_model, command_line=command_line)
        return TrainingOutcome(model_dir, report, provenance, None, [])

    def evaluate(self, model_dir, data, out_dir, *, channel=None) -> Path:
        from ..models.training import read_history
        from ..prediction.run import restore_image
        from ..qc.restoration_report import write_restoration_report

        model_dir, out_dir = Path(model_dir), Path(out_dir)
        card, adapter, model = self.open_trained(model_dir)
        dataset = self.load_data(data, val=data, channel=channel)  # every file, no split
        samples = dataset.val
        predictions = [restore_image(model, adapter, card, s.source, card.spatial_axes) for s in samples]
        return write_restoration_report(out_dir, title=f"Evaluation of {model_dir.name} on {Path(data).name}",
                                        names=[s.name for s in samples], sources=[s.source for s in samples],
                                        predictions=predictions, targets=[s.target for s in samples],
                                        history=read_history(model_dir), card=card)
