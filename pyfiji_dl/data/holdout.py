"""Validation regions held out inside the training images, for restoration with few files.

Holding whole files out is the honest split when there are many (no field of view is
seen by both sides), but with three images it trains on two: a third of the data is
lost, and the model over-fits sooner. CSBDeep's and n2v's examples instead validate on
10 % of the patches cut from every image; their patches overlap the training patches
(CSBDeep samples at random) or are rotated copies of them (n2v augments before the
split), so the validation loss is optimistic. Here every image is cut into a grid of
patch-sized blocks, about 10 % of the blocks validate, and no training patch touches
one: every image trains, and the validation pixels are never trained on. Frames of a
time-lapse share their file's blocks (the same place in the next frame is nearly the
same picture).

Functions work on shapes and corners (tuples of pixel offsets); they know nothing of
files or models.
"""

from __future__ import annotations

import numpy as np

# With fewer files than this, holding one out costs more than a tenth of the data:
# validate on blocks inside every image instead.
MIN_FILES_TO_HOLD_OUT = 10


def grid_corners(shape: tuple, block: tuple) -> list:
    """Corners of the non-overlapping ``block``-sized tiles of an array of ``shape``, from its origin.

    The last pixels of an axis that do not fill a whole block belong to no tile (as in
    n2v's patch generator).
    """
    starts = [range(0, size - b + 1, b) for size, b in zip(shape, block)]
    if any(len(s) == 0 for s in starts):
        return []
    grid = np.stack(np.meshgrid(*starts, indexing="ij"), -1).reshape(-1, len(block))
    return [tuple(int(c) for c in corner) for corner in grid]


def choose_validation_blocks(shapes: dict, block: tuple, fraction: float, seed: int,
                             eligible: dict | None = None) -> dict:
    """Pick about ``fraction`` of all grid blocks, over every image, to validate on.

    Parameters
    ----------
    shapes : dict
        Spatial shape of each image (or file), by key.
    block : tuple of int
        Block (patch) size, one per axis.
    fraction : float
        Share of the blocks that validate (at least one block in all).
    seed : int
        The same seed, shapes and block give the same choice (a resumed run validates
        where the first run did).
    eligible : dict, optional
        By key, the corners that may validate (e.g. not background); every block by default.

    Returns
    -------
    dict
        Key -> list of block corners; only keys with at least one block. Every image
        keeps at least one block for training. Empty when no image has two blocks.
    """
    candidates = []
    for key in sorted(shapes):
        corners = grid_corners(shapes[key], block)
        if len(corners) < 2:
            continue  # a single block must train
        if eligible is not None:
            allowed_here = set(eligible.get(key, ()))
            corners_allowed = [c for c in corners if c in allowed_here]
        else:
            corners_allowed = corners
        candidates += [(key, corner, len(corners)) for corner in corners_allowed]
    total = sum(len(grid_corners(shape, block)) for shape in shapes.values())
    if not candidates:
        return {}
    wanted = max(1, int(round(fraction * total)))
    chosen: dict = {}
    for index in np.random.default_rng(seed).permutation(len(candidates)):
        key, corner, n_blocks = candidates[index]
        if len(chosen.get(key, ())) + 1 >= n_blocks:
            continue  # its last block trains
        chosen.setdefault(key, []).append(corner)
        if sum(len(v) for v in chosen.values()) == wanted:
            break
    return {key: sorted(corners) for key, corners in chosen.items()}


def crop(array: np.ndarray, corner: tuple, block: tuple) -> np.ndarray:
    """The block of ``array`` at ``corner`` (leading axes, e.g. channels last, are not cut)."""
    return array[tuple(slice(c, c + b) for c, b in zip(corner, block))]


def patch_centres_clear_of(shape: tuple, patch: tuple, corners: list) -> np.ndarray:
    """Where a ``patch`` may be centred without touching any block at ``corners``.

    Centres follow CSBDeep's ``create_patches`` (a patch centred at ``r`` covers
    ``r - p // 2`` to ``r + p - p // 2``), so the mask can be and-ed with its patch
    filters. Blocks have the patch's size.
    """
    allowed = np.ones(shape, dtype=bool)
    for corner in corners:
        # a patch with its corner c overlaps the block at b when |c - b| < p on every axis
        allowed[tuple(slice(max(0, b - p + 1 + p // 2), b + p + p // 2) for b, p in zip(corner, patch))] = False
    return allowed


def block_centres(shape: tuple, patch: tuple, corners: list) -> np.ndarray:
    """A mask with True only at the centres (in CSBDeep's sense) of the blocks at ``corners``."""
    mask = np.zeros(shape, dtype=bool)
    for corner in corners:
        mask[tuple(b + p // 2 for b, p in zip(corner, patch))] = True
    return mask
