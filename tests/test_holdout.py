"""Validation blocks inside the images (restoration with few files): which blocks, and that
no training patch ever holds a validation pixel."""

from pathlib import Path

import numpy as np
import pytest

from pyfiji_dl.data.holdout import (block_centres, choose_validation_blocks, grid_corners,
                                    patch_centres_clear_of)
from pyfiji_dl.data.restoration import RestorationDataset, RestorationSample, load_care_pairs, load_noisy_images
from pyfiji_dl.io.tiff import write_imagej_tiff


def test_about_a_tenth_of_all_blocks_validate_and_every_image_keeps_one_to_train():
    shapes = {"a.tif": (256, 256), "b.tif": (256, 256), "c.tif": (256, 192)}  # 16 + 16 + 12 blocks of 64
    blocks = choose_validation_blocks(shapes, (64, 64), 0.1, seed=42)
    assert sum(len(c) for c in blocks.values()) == 4  # round(0.1 * 44)
    assert all(set(c) <= set(grid_corners(shapes[k], (64, 64))) for k, c in blocks.items())
    assert choose_validation_blocks(shapes, (64, 64), 0.1, seed=42) == blocks  # a resumed run validates there too
    assert any(choose_validation_blocks(shapes, (64, 64), 0.1, seed=s) != blocks for s in range(5))
    # an image of two blocks gives at most one; a single-block image none; at least one in all
    assert choose_validation_blocks({"small": (64, 128)}, (64, 64), 0.1, seed=0) == {"small": [(0, 0)]} or \
        choose_validation_blocks({"small": (64, 128)}, (64, 64), 0.1, seed=0) == {"small": [(0, 64)]}
    assert choose_validation_blocks({"one": (64, 64)}, (64, 64), 0.5, seed=0) == {}
    many = choose_validation_blocks({"x": (128, 128)}, (64, 64), 1.0, seed=0)
    assert len(many["x"]) == 3  # not all four: the last trains


def test_only_eligible_blocks_validate():
    shapes = {"a": (128, 128), "b": (128, 128)}
    eligible = {"a": [(64, 64)], "b": []}
    assert choose_validation_blocks(shapes, (64, 64), 0.5, seed=1, eligible=eligible) == {"a": [(64, 64)]}


@pytest.mark.parametrize("patch", [(8, 8), (7, 5), (4, 6, 6)])
def test_a_patch_centred_where_allowed_never_touches_a_block_and_every_other_centre_does(patch):
    shape = tuple(3 * p + 3 for p in patch)
    corners = [tuple(p for p in patch), tuple(0 for _ in patch)]
    allowed = patch_centres_clear_of(shape, patch, corners)
    in_block = np.zeros(shape, bool)
    for corner in corners:
        in_block[tuple(slice(c, c + p) for c, p in zip(corner, patch))] = True
    for centre in np.ndindex(*shape):
        start = [r - p // 2 for r, p in zip(centre, patch)]
        if any(s < 0 or s + p > n for s, p, n in zip(start, patch, shape)):
            continue  # CSBDeep never centres a patch there
        touches = in_block[tuple(slice(s, s + p) for s, p in zip(start, patch))].any()
        assert allowed[centre] == (not touches), centre
    centres = block_centres(shape, patch, corners)
    assert centres.sum() == 2 and all(centres[tuple(c + p // 2 for c, p in zip(corner, patch))] for corner in corners)


def _numbered(shape, offset, name, frames=1):
    """Samples whose every pixel value is unique, so a pixel can be traced to its patch."""
    size = int(np.prod(shape))
    return [RestorationSample(f"{name}-t{t}", (offset + t * size + np.arange(size)).reshape(shape).astype(np.float32),
                              None, Path("data/images") / f"{name}.tif", None) for t in range(frames)]


def test_noise2void_validation_pixels_are_never_trained_on_even_after_augmentation():
    from pyfiji_dl.models.n2v import training_and_validation_patches

    samples = _numbered((96, 128), 0, "a", frames=2) + _numbered((64, 64), 10 ** 6, "b")
    dataset = RestorationDataset(samples, [], 2, holdout="blocks")
    X, X_val, blocks = training_and_validation_patches(dataset, (32, 32), augment=True, seed=3)
    n_blocks = sum(len(c) for c in blocks.values())
    assert n_blocks == 2  # round(0.1 * (12 + 4)), every frame of a file validates there
    assert len(X_val) == sum(2 * len(c) if k == "a.tif" else len(c) for k, c in blocks.items())
    assert len(X) == 8 * (2 * 12 + 4 - len(X_val))  # the rest, each in 8 orientations
    assert not set(np.unique(X)) & set(np.unique(X_val))


def test_care_trains_beside_its_validation_blocks_and_validates_on_each_once():
    from pyfiji_dl.models.care import training_and_validation_patches

    rng = np.random.default_rng(0)
    samples = []
    for i in range(2):
        clean = np.zeros((128, 128), np.float32)
        clean[rng.integers(0, 120, 40), rng.integers(0, 120, 40)] = 100.0  # bright dots everywhere
        samples.append(RestorationSample(f"f{i}", clean + rng.normal(0, 5, clean.shape).astype(np.float32), clean,
                                         Path(f"low/f{i}.tif"), Path(f"GT/f{i}.tif")))
    dataset = RestorationDataset(samples, [], 2, holdout="blocks")

    class Options:
        patches_per_image, seed = 16, 7

    X, Y, X_val, Y_val, blocks = training_and_validation_patches(dataset, (32, 32), Options)
    assert X.shape == (32, 32, 32, 1) and Y.shape == X.shape
    assert sum(len(c) for c in blocks.values()) == len(X_val) == 3  # round(0.1 * 32) blocks, each once
    # each validation patch is its block (normalised: the same up to an affine map)
    by_name = {s.source_path.name: s for s in samples}
    cut = [by_name[name].source[y:y + 32, x:x + 32] for name, corners in sorted(blocks.items()) for y, x in corners]
    for block in cut:
        assert max(abs(np.corrcoef(block.ravel(), v[..., 0].ravel())[0, 1]) for v in X_val) > 0.999


def test_few_files_validate_on_blocks_many_on_whole_files(tmp_path):
    image = np.random.default_rng(0).normal(100, 10, (64, 64)).astype(np.float32)
    for i in range(10):
        write_imagej_tiff(tmp_path / "many" / "images" / f"i{i}.tif", image, "YX")
        if i < 3:
            write_imagej_tiff(tmp_path / "few" / "images" / f"i{i}.tif", image, "YX")
    few = load_noisy_images(tmp_path / "few")
    assert few.holdout == "blocks" and len(few.train) == 3 and few.val == []
    assert "validation uses about 10% of each image's area" in few.messages[0]
    many = load_noisy_images(tmp_path / "many")
    assert many.holdout == "files" and (len(many.train), len(many.val)) == (9, 1)
    given = load_noisy_images(tmp_path / "few", val_dir=tmp_path / "many")
    assert given.holdout == "folder" and len(given.val) == 10
    # one CARE pair is enough now (it used to need a second file to validate)
    write_imagej_tiff(tmp_path / "care" / "low" / "a.tif", image, "YX")
    write_imagej_tiff(tmp_path / "care" / "GT" / "a.tif", image, "YX")
    assert load_care_pairs(tmp_path / "care").holdout == "blocks"
