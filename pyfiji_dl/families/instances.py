"""What the segmentation families (StarDist, U-Net) share: data, evaluation and its QC report.

Both learn from ``DATA/images/NAME.tif`` with ``DATA/masks/NAME.tif`` (label maps) or
``DATA/rois/NAME.zip`` (ROI Manager sets), and are scored by object matching
against annotated images.
"""

from __future__ import annotations

from pathlib import Path

from .base import Family

INSTANCE_DATA_HELP = "folder with images/ and masks/ or rois/"
INSTANCE_VAL_HELP = "separate validation folder (default: 10%% of the files, at least one)"


class InstanceFamily(Family):
    """A family whose models find objects, trained and scored on annotated images."""

    data_help = INSTANCE_DATA_HELP
    val_help = INSTANCE_VAL_HELP
    scored_by_object_matching = True
    # the title of ``pyfiji-dl evaluate``'s report ({model}: the model folder's name, {data}: the data's)
    evaluation_title = "Evaluation of {model} on {data}"

    def load_data(self, data, *, val=None, seed: int = 42, channel: int | None = None):
        from ..data.instances import load_instance_dataset

        return load_instance_dataset(data, val_dir=val, seed=seed, channel=channel)

    def evaluate(self, model_dir, data, out_dir, *, channel=None) -> Path:
        from ..data.instances import load_instance_samples
        from ..models.training import read_history

        model_dir, out_dir = Path(model_dir), Path(out_dir)
        card, adapter, model = self.open_trained(model_dir)
        samples, _ = load_instance_samples(data, channel=channel)
        title = self.evaluation_title.format(model=model_dir.name, data=Path(data).name)
        return self.write_report(model, adapter, card, samples, out_dir, title=title,
                                 history=read_history(model_dir))

    def write_report(self, model, adapter, card, samples: list, out_dir: Path, *, title: str,
                     history: list | None, warnings: list | None = None) -> Path:
        """Predict annotated ``samples`` with the model and write the matching QC report into ``out_dir``."""
        raise NotImplementedError
