"""The typed model card reads every card format pyfiji_dl has written, and writes them back unchanged."""

import json

import pytest

from pyfiji_dl.models.card import CARD_FILE, ModelCard, ModelFolderError, read_card, write_card

# The first StarDist card format (before training plans existed), as training wrote it.
OLD_STARDIST_CARD = {
    "family": "stardist",
    "ndim": 2,
    "n_channels": 1,
    "axes": "YX",
    "normalization": {"method": "percentile", "low": 1.0, "high": 99.8},
    "fine_tuned_from": None,
    "thresholds": {"prob": 0.4821, "nms": 0.3},
    "patch": [128, 128],
    "n_rays": 32,
    "grid": [2, 2],
    "largest_object_px": 31,
    "data_check": {"n_objects": 183, "warnings": []},
}

# A U-Net card of today's format: one "threshold", nulls that mean "no limit" and "given by the user".
UNET_CARD = {
    "family": "unet", "ndim": 2, "n_channels": 1, "axes": "YX", "patch": [64, 64],
    "contrast": {"method": "percentile"},
    "normalization": {"method": "percentile", "low": 1.0, "high": 99.8, "per_channel": True, "clip": False},
    "input": {"keras_shape": [None, None, None, 1], "layout": "byxc", "divisible_by": 4,
              "padding": "reflect to a multiple of divisible_by", "tile_halo": 44},
    "output": {"keras_shape": [None, None, None, 1], "meaning": "foreground probability", "activation": "sigmoid"},
    "network": {"architecture": "U-Net", "depth": 2, "filters": 8},
    "loss": {"name": "binary focal", "gamma": 2.0, "alpha": 0.5},
    "threshold": 0.4, "min_area": 12, "max_area": None, "area_unit": "pixel", "split_touching": False,
    "connectivity": 8, "fine_tuned_from": None, "training_plan": {"epochs": 2, "steps": 3},
    "threshold_optimisation": None, "median_object_area": 50, "early_stopped_at_epoch": None,
    "weights": "weights_best.h5", "data_check": {"training foreground fraction": 0.12},
}


def _write(folder, data):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / CARD_FILE).write_text(json.dumps(data, indent=2))
    return folder


def test_an_old_stardist_card_loads_typed_and_is_written_back_unchanged(tmp_path):
    folder = _write(tmp_path / "old_model", OLD_STARDIST_CARD)
    card = read_card(folder)
    assert card.family == "stardist" and card.ndim == 2 and card.spatial_axes == "YX"
    assert card.training_plan is None  # older than training plans
    assert card.thresholds == {"prob": 0.4821, "nms": 0.3}
    assert card.details.n_rays == 32 and card.largest_object == 31 and card.percentiles == (1.0, 99.8)
    write_card(folder, card)
    written = json.loads((folder / CARD_FILE).read_text())
    assert list(written.items()) == list(OLD_STARDIST_CARD.items())  # same keys, same order, same values


def test_unet_threshold_is_read_as_the_common_thresholds_and_its_nulls_survive(tmp_path):
    card = ModelCard.from_json(UNET_CARD)
    assert card.thresholds == {"prob": 0.4}
    assert card.details.min_area == 12 and card.details.max_area is None
    assert card.has("threshold_optimisation") and card.has("max_area")
    assert list(card.to_json().items()) == list(UNET_CARD.items())
    before_training_ends = {k: v for k, v in UNET_CARD.items() if k not in ("threshold_optimisation", "threshold")}
    unfinished = ModelCard.from_json(before_training_ends)
    assert not unfinished.has("threshold_optimisation")  # what models.completeness asks
    assert unfinished.thresholds == {"prob": 0.5}  # as prediction always assumed without a threshold


def test_keys_this_version_does_not_know_are_kept(tmp_path):
    data = dict(OLD_STARDIST_CARD, note_from_a_newer_version={"a": 1})
    card = ModelCard.from_json(data)
    assert card.extra == {"note_from_a_newer_version": {"a": 1}}
    assert list(card.to_json()) == list(data)
    unknown = ModelCard.from_json({"family": "cellpose", "ndim": 2, "diameter": 30})
    assert unknown.details is None and unknown.thresholds == {} and unknown.extra == {"diameter": 30}
    assert unknown.to_json() == {"family": "cellpose", "ndim": 2, "diameter": 30}


def test_a_new_card_writes_its_keys_in_the_order_given_and_updates_append(tmp_path):
    card = ModelCard.new("care", ndim=3, n_channels=1, axes="ZYX", patch=[16, 64, 64],
                         normalization={"method": "percentile", "low": 1.0, "high": 99.8}, fine_tuned_from=None,
                         training_plan={"epochs": 1})
    assert list(card.to_json()) == ["family", "ndim", "n_channels", "axes", "patch", "normalization",
                                    "fine_tuned_from", "training_plan"]
    copy = card.copy_with(data_check={"x": 1})
    assert card.data_check is None and list(copy.to_json())[-1] == "data_check"
    card.update(note=None)  # a key set to None is written (null), not dropped
    assert card.to_json()["note"] is None and card.has("note")


def test_a_damaged_or_missing_card_is_a_clear_error(tmp_path):
    with pytest.raises(ModelFolderError, match="no such model folder"):
        read_card(tmp_path / "nothing")
    with pytest.raises(ModelFolderError, match="not a pyfiji_dl model"):
        read_card(tmp_path)
    (tmp_path / CARD_FILE).write_text("{not json")
    with pytest.raises(ModelFolderError, match="damaged model card"):
        read_card(tmp_path)
    (tmp_path / CARD_FILE).write_text("[1, 2]")
    with pytest.raises(ModelFolderError, match="damaged model card"):
        read_card(tmp_path)
    for broken, message in (({"ndim": 2}, "family"), ({"family": "stardist", "ndim": "2"}, "'ndim' must be 2 or 3"),
                            ({"family": "care", "n_channels": 0}, "n_channels")):
        (tmp_path / CARD_FILE).write_text(json.dumps(broken))
        with pytest.raises(ModelFolderError, match=message):
            read_card(tmp_path)
