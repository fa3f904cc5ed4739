"""One channel rule for every command that takes ``--channel``.

Channels are 1-based as in Fiji's channel slider; 0 and channels an image does not
have are refused with a message naming the file and its number of channels
(:func:`pyfiji_dl.io.tiff.select_channel`). A valid channel gives that channel's
pixels. Prediction and evaluation with a trained model are in ``test_stardist.py``
(they need its model).
"""

import numpy as np
import pytest
import tifffile

from pyfiji_dl.cli import main
from pyfiji_dl.io.tiff import ChannelError, select_channel, write_imagej_tiff, write_label_image


def run_cli(*args):
    return main([str(a) for a in args])


def discs(shape=(64, 64), centres=((16, 16), (40, 44), (20, 48)), radius=7):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    labels = np.zeros(shape, np.uint16)
    for label, (y, x) in enumerate(centres, start=1):
        labels[(yy - y) ** 2 + (xx - x) ** 2 <= radius ** 2] = label
    return labels


def two_channels(labels, seed=0):
    """Channel 1: noise only; channel 2: bright objects on the noise (so a result shows which was used)."""
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 20, labels.shape).astype(np.uint16)
    return np.stack([noise, noise + np.where(labels > 0, 200, 0).astype(np.uint16)])


# --- the rule itself ------------------------------------------------------------------------

def test_select_channel_is_one_based_and_names_the_file():
    image = np.arange(2 * 3 * 4).reshape(2, 3, 4)
    plane, axes = select_channel(image, "CYX", 2, "a.tif")
    assert axes == "YX" and np.array_equal(plane, image[1])
    for bad in (0, 3, -1):
        with pytest.raises(ChannelError, match=rf"a.tif: has 2 channel\(s\); channel {bad} does not exist"):
            select_channel(image, "CYX", bad, "a.tif")
    with pytest.raises(ChannelError, match="a.tif: has 2 channels; choose one with --channel N"):
        select_channel(image, "CYX", None, "a.tif")
    kept, axes = select_channel(image, "CYX", None, "a.tif", all_channels=True)
    assert axes == "YXC" and np.array_equal(kept, np.moveaxis(image, 0, -1))
    # an image without a channel axis has one channel
    assert select_channel(image[0], "YX", 1, "b.tif")[1] == "YX"
    with pytest.raises(ChannelError, match=r"b.tif: has 1 channel\(s\); channel 2 does not exist"):
        select_channel(image[0], "YX", 2, "b.tif")
    with pytest.raises(ChannelError, match="RGB"):
        select_channel(np.zeros((4, 4, 3), np.uint8), "YXS", None, "c.tif")


# --- training data: the loaders the train command runs first ---------------------------------

@pytest.fixture()
def datasets(tmp_path):
    """Two-channel data in the layout of each training family."""
    root = {}
    labels = [discs(), discs(centres=((20, 20), (44, 40)))]
    for family in ("stardist", "unet"):
        for i, lbl in enumerate(labels):
            write_imagej_tiff(tmp_path / family / "images" / f"f{i}.tif", two_channels(lbl, i), "CYX")
            write_label_image(tmp_path / family / "masks" / f"f{i}.tif", lbl, "YX")
        root[family] = tmp_path / family
    for i, lbl in enumerate(labels):
        write_imagej_tiff(tmp_path / "care" / "low" / f"f{i}.tif", two_channels(lbl, i), "CYX")
        write_imagej_tiff(tmp_path / "care" / "GT" / f"f{i}.tif", two_channels(lbl, i + 5), "CYX")
        write_imagej_tiff(tmp_path / "n2v" / "images" / f"f{i}.tif", two_channels(lbl, i), "CYX")
    root["care"], root["n2v"] = tmp_path / "care", tmp_path / "n2v"
    return root, labels


@pytest.mark.parametrize("family", ["stardist", "unet", "care", "n2v"])
def test_train_refuses_channel_0_and_n_plus_1(family, datasets, tmp_path, capsys):
    root, _ = datasets
    for bad in ("0", "3"):
        assert run_cli("train", family, "--data", root[family], "--model", tmp_path / f"m{bad}",
                       "--channel", bad, "--quiet", "--epochs", "1", "--steps", "1") == 1
        err = capsys.readouterr().err
        assert f"f0.tif: has 2 channel(s); channel {bad} does not exist" in err, err
        assert not (tmp_path / f"m{bad}").exists()


@pytest.mark.parametrize("family", ["stardist", "unet", "care", "n2v"])
def test_training_data_take_the_chosen_channel(family, datasets):
    from pyfiji_dl.data.instances import load_instance_dataset
    from pyfiji_dl.data.restoration import load_care_pairs, load_noisy_images

    root, labels = datasets
    load = {"stardist": load_instance_dataset, "unet": load_instance_dataset,
            "care": load_care_pairs, "n2v": load_noisy_images}[family]
    dataset = load(root[family], channel=2, seed=1)
    for sample in dataset.all_samples:
        index = int(sample.name[-1])
        image = sample.image if family in ("stardist", "unet") else sample.source
        assert image.shape == labels[index].shape
        assert np.array_equal(image, two_channels(labels[index], index)[1])
    if family in ("stardist", "unet"):  # no choice: a multichannel model (every channel, last)
        assert load(root[family], seed=1).n_channels == 2


# --- annotation commands ------------------------------------------------------------------------

def test_bootstrap_rois_channel_rule(tmp_path, capsys):
    lbl = discs()
    write_imagej_tiff(tmp_path / "in" / "two.tif", two_channels(lbl), "CYX")
    for bad in ("0", "3"):
        assert run_cli("bootstrap-rois", tmp_path / "in", "-o", tmp_path / "rois", "--channel", bad,
                       "--method", "Otsu") == 1
        assert f"two.tif: has 2 channel(s); channel {bad} does not exist" in capsys.readouterr().err
    assert run_cli("bootstrap-rois", tmp_path / "in", "-o", tmp_path / "rois", "--channel", "2",
                   "--method", "Otsu") == 0
    assert "two.tif" in capsys.readouterr().out and (tmp_path / "rois" / "two.zip").exists()


def test_autolabel_channel_rule(tmp_path, capsys):
    folder = tmp_path / "fluo"
    for i in range(2):
        write_imagej_tiff(folder / f"f{i}.tif", two_channels(discs(shape=(96, 96)), i), "CYX")
    for bad in ("0", "3"):
        assert run_cli("autolabel", "--fluorescence", folder, "-o", tmp_path / f"masks{bad}",
                       "--channel", bad, "--quiet") != 0
        assert f"f0.tif: has 2 channel(s); channel {bad} does not exist" in capsys.readouterr().out
    assert run_cli("autolabel", "--fluorescence", folder, "-o", tmp_path / "masks", "--channel", "2",
                   "--quiet", "--lowest-fraction", "0") == 0
    written = sorted(p.name for p in (tmp_path / "masks").iterdir())
    assert written == ["f0.tif", "f1.tif"]
    assert tifffile.imread(tmp_path / "masks" / "f0.tif").max() == 3
