"""How to cut an image so that prediction fits in memory.

Two levels, as in StarDist/CSBDeep:

- **tiles** (``n_tiles`` of ``model.predict`` / ``predict_instances``): the network
  sees one overlapping tile at a time and the outputs are stitched, which bounds the
  network's memory. :func:`choose_n_tiles` picks the fewest tiles that fit a budget.
- **blocks** (``StarDist2D.predict_instances_big``): for images so large that even
  the whole-image probability/distance maps and the non-maximum suppression do not
  fit (about 8k x 8k and up), the image is cut into blocks that are segmented one by
  one; objects are kept by the one block responsible for them.
  :func:`needs_block_processing` and :func:`block_parameters` decide when and how.
"""

from __future__ import annotations

import math
import numbers
import os
import shutil
import subprocess
import warnings

from ..errors import InputError, OptionError

SPATIAL_AXES = "ZYX"

# Network memory per input pixel (voxel), in bytes, for a float32 U-Net forward pass
# (TensorFlow keeps several full-resolution feature maps alive at once: a 32-feature
# map is 128 B/px, and the first level's convolutions, its skip connection and the
# concatenation on the way up hold a few of them plus the lower levels).
# Measured on CPU (TF 2.15, peak resident memory, 1024^2 and 2048^2 inputs):
# StarDist2D default (32 filters, depth 3, grid 2) ~330 B/px, CARE default
# (32 filters, depth 2, full resolution) ~760 B/px, a 64-filter depth-4 U-Net
# ~1.5 kB/px. 2 kB/px covers all of them with room to spare.
BYTES_PER_PIXEL_ESTIMATE = 2048
# Input copies per channel: the image as float32, its normalised and padded copies.
BYTES_PER_INPUT_CHANNEL = 16
# Part of the free memory one tile may use: the rest is for the process itself,
# the stitched outputs, TensorFlow's allocator slack and other programs.
MEMORY_FRACTION = 0.5
# Halo each tile reads beyond its own region, per side (pixels), at least the receptive
# field radius of the usual networks (unet_receptive_radius): 2D StarDist default 94
# (measured by StarDist itself), CARE default ~46, a 64-filter depth-4 U-Net ~122.
# 3D networks are shallower (StarDist3D/CARE 3D default depth 2: ~30-50 voxels).
# CSBDeep rounds the halo up to whole blocks of the network's divisibility.
DEFAULT_TILE_OVERLAP = 128
DEFAULT_TILE_OVERLAP_3D = 64
# Side (pixels) from which a 2D image goes through predict_instances_big.
BLOCK_THRESHOLD = 8192
# Default block side for predict_instances_big, as in StarDist's own example.
DEFAULT_BLOCK_SIZE = 4096
# StarDist's default U-Net depth (unet_n_depth=3): its pooling makes inputs and block
# borders multiples of grid * 2**3.
DEFAULT_UNET_DEPTH = 3


def available_memory_bytes(*, include_gpu: bool = True) -> int:
    """Memory a prediction can count on: free RAM, or less if a GPU has less.

    Parameters
    ----------
    include_gpu : bool
        Also ask ``nvidia-smi`` for the (first visible) GPU's total memory and take
        the smaller of the two. TensorFlow reserves most of a GPU for itself, so the
        GPU's *total* memory is the useful figure; on a CPU-only TensorFlow this
        only makes the estimate more conservative.

    Returns
    -------
    int
        Bytes; RAM is ``MemAvailable`` from ``/proc/meminfo`` (else
        ``os.sysconf`` available pages, else 4 GiB) plus what this process already
        holds, which TensorFlow's allocator reuses: otherwise an earlier prediction
        in the same process would make every later one tile more (and run slower).
    """
    ram = _available_ram_bytes() + _own_resident_bytes()
    if include_gpu:
        gpu = _gpu_memory_bytes()
        if gpu:
            return min(ram, gpu)
    return ram


def _own_resident_bytes() -> int:
    try:
        with open("/proc/self/statm", encoding="ascii") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError, AttributeError):
        return 0


def _available_ram_bytes(meminfo: str = "/proc/meminfo") -> int:
    try:
        with open(meminfo, encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return 4 << 30  # e.g. macOS/Windows without these: assume a small machine


def _gpu_memory_bytes() -> int | None:
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1"):
        return None
    nvidia_smi = shutil.which("nvidia-smi")
    if nvidia_smi is None:
        return None
    try:
        out = subprocess.run(
            [nvidia_smi, "--query-gpu=memory.total", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
        totals = [int(float(line)) for line in out.split() if line.strip()]
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    # MiB; the smallest GPU bounds what any of them can run
    return min(totals) * (1 << 20) if totals else None


def _per_axis(value, n: int, name: str) -> tuple:
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a number or one number per spatial axis, not {value!r}")
    if isinstance(value, numbers.Real):  # numpy integers too
        return (int(value),) * n
    value = tuple(int(v) for v in value)
    if len(value) != n:
        raise OptionError(f"{name} has {len(value)} entries, expected {n} (one per spatial axis)")
    return value


def _spatial(shape, axes: str) -> tuple[str, list[int]]:
    axes = axes.upper()
    if len(axes) != len(shape):
        raise ValueError(f"shape {tuple(shape)} does not match axes {axes!r}")
    if "Y" not in axes or "X" not in axes:
        raise ValueError(f"axes {axes!r} need Y and X")
    spatial = "".join(a for a in axes if a in SPATIAL_AXES)
    return spatial, [axes.index(a) for a in spatial]


def _default_overlap(spatial_axes: str) -> int:
    return DEFAULT_TILE_OVERLAP_3D if "Z" in spatial_axes else DEFAULT_TILE_OVERLAP


def _tile_extent(size: int, n_tiles: int, block: int, overlap: int) -> int:
    """Pixels one tile reads along an axis, as CSBDeep's tile iterator cuts it.

    The axis is padded to whole ``block`` s; each tile gets
    ``ceil(n_blocks / n_tiles)`` blocks plus the overlap (whole blocks) on each
    side that has a neighbour.
    """
    n_blocks = math.ceil(size / block)
    core = math.ceil(n_blocks / n_tiles)
    halo = math.ceil(overlap / block) if n_tiles > 1 else 0
    return min(n_blocks, core + 2 * halo) * block


def estimate_tile_bytes(
    shape,
    axes: str,
    n_tiles,
    *,
    n_channels: int = 1,
    grid=1,
    overlap=None,
    bytes_per_pixel_estimate: float = BYTES_PER_PIXEL_ESTIMATE,
) -> int:
    """Estimated memory of the network on the largest tile.

    Parameters
    ----------
    shape : tuple of int
        Image shape with ``axes``.
    axes : str
        Image axes (e.g. ``YX``, ``YXC``, ``ZYX``, ``TYX``); only Z, Y and X are tiled,
        a T axis is predicted frame by frame.
    n_tiles : tuple of int
        Tiles per axis of ``axes``.
    n_channels, grid, overlap, bytes_per_pixel_estimate
        See :func:`choose_n_tiles`.

    Returns
    -------
    int
        Bytes.
    """
    spatial, index = _spatial(shape, axes)
    grid = _per_axis(grid, len(spatial), "grid")
    n_tiles = tuple(int(n) for n in n_tiles)
    if len(n_tiles) != len(shape):
        raise OptionError(f"n_tiles {n_tiles} does not match axes {axes!r}")
    if "C" in axes.upper():
        n_channels = shape[axes.upper().index("C")]
    overlap = _per_axis(_default_overlap(spatial) if overlap is None else overlap, len(spatial), "overlap")
    pixels = 1
    for i, g, o in zip(index, grid, overlap):
        pixels *= _tile_extent(shape[i], n_tiles[i], g, o)
    return int(pixels * (bytes_per_pixel_estimate + BYTES_PER_INPUT_CHANNEL * n_channels))


def choose_n_tiles(
    shape,
    axes: str,
    *,
    n_channels: int = 1,
    grid=1,
    memory_bytes: int | None = None,
    bytes_per_pixel_estimate: float = BYTES_PER_PIXEL_ESTIMATE,
    overlap=None,
) -> tuple:
    """Tiles per axis so that the network's memory for one tile stays within a budget.

    Parameters
    ----------
    shape : tuple of int
        Shape of the image to predict (one frame or the whole time-lapse).
    axes : str
        Its axes, e.g. ``YX``, ``YXC``, ``ZYX``, ``TZCYX``. Only Z, Y and X get more than
        one tile (CSBDeep tiles nothing else; frames are predicted one by one).
    n_channels : int
        Network input channels when ``axes`` has no C (a C axis gives its own size).
    grid : int or tuple of int
        The network's divisibility per spatial axis (Z,) Y, X: tiles start and end on
        multiples of it. For StarDist pass ``model._axes_div_by("YX")`` (grid times
        ``2**unet_n_depth``), for CARE/N2V ``2**unet_n_depth``; 1 means no constraint.
    memory_bytes : int, optional
        Budget for one tile. Default: ``MEMORY_FRACTION`` (1/2) of
        :func:`available_memory_bytes` (free RAM, or the GPU's memory if smaller).
    bytes_per_pixel_estimate : float
        Network memory per input pixel. The default, 2 kB, is conservative for
        U-Nets with 32-64 base filters in float32 (measured on CPU: 330 B/px for
        StarDist2D's default, 760 B/px for CARE's, 1.5 kB/px for a 64-filter depth-4
        U-Net).
    overlap : int or tuple of int, optional
        Halo, in pixels per spatial axis, each tile reads beyond its region per side
        (the network's receptive field radius); counts towards a tile's size.
        Default 128 px for 2D, 64 voxels per axis when ``axes`` has Z. With a
        StarDist model at hand pass ``model._axes_tile_overlap("YX")`` (or "ZYX").

    Returns
    -------
    tuple of int
        One entry per axis of ``axes``, ready for ``n_tiles=`` of ``model.predict``,
        ``predict_instances`` or ``predict_instances_big``. All ones when the image
        fits; otherwise the fewest tiles found, added one at a time to the axis whose
        tiles are largest, then removed again wherever the budget still holds.
        A tile's own region is never made smaller than its halo (nor than one
        network block): beyond that, tiling costs far more computation than it saves
        memory. When even those tiles do not fit, warns and returns them.
    """
    shape = tuple(int(s) for s in shape)
    spatial, index = _spatial(shape, axes)
    grid = _per_axis(grid, len(spatial), "grid")
    if any(g < 1 for g in grid):
        raise ValueError(f"grid must be positive, not {grid}")
    if memory_bytes is None:
        memory_bytes = int(MEMORY_FRACTION * available_memory_bytes())
    if "C" in axes.upper():
        n_channels = shape[axes.upper().index("C")]

    overlap = _per_axis(_default_overlap(spatial) if overlap is None else overlap, len(spatial), "overlap")
    n_tiles = [1] * len(shape)

    def cost(tiles):
        return estimate_tile_bytes(
            shape,
            axes,
            tiles,
            n_channels=n_channels,
            grid=grid,
            overlap=overlap,
            bytes_per_pixel_estimate=bytes_per_pixel_estimate,
        )

    block = dict(zip(index, grid))
    halo = dict(zip(index, overlap))

    def extent(i, n):
        return _tile_extent(shape[i], n, block[i], halo[i])

    # More tiles along an axis stop paying off once a tile's own region is smaller
    # than its halo: memory then falls little (the halo stays) while the network
    # recomputes ever more of the image (9x for a region as long as the halo in
    # 2D, ~300x for one 16 px block with a 128 px halo). So the most tiles per axis
    # are the fewest that bring the region down to the halo (at least one block).
    max_tiles = {}
    for i in index:
        n_blocks = max(1, math.ceil(shape[i] / block[i]))
        halo_blocks = math.ceil(halo[i] / block[i])
        cap = max(1, n_blocks // max(1, halo_blocks))
        smallest = extent(i, cap)
        low, high = 1, cap
        while low < high:  # extent falls monotonically with n: bisect
            mid = (low + high) // 2
            if extent(i, mid) <= smallest:
                high = mid
            else:
                low = mid + 1
        max_tiles[i] = low
    while cost(n_tiles) > memory_bytes:
        candidates = [i for i in index if n_tiles[i] < max_tiles[i]]
        if not candidates:
            warnings.warn(
                f"an image of shape {shape} ({axes}) needs about {cost(n_tiles) / 2**30:.1f} GiB per "
                f"tile even with n_tiles={tuple(n_tiles)}, more than the {memory_bytes / 2**30:.1f} GiB "
                "budget; prediction may run out of memory.",
                stacklevel=2,
            )
            return tuple(n_tiles)
        # split the axis whose tiles are currently largest (ties: the last, i.e. X)
        largest = max(candidates, key=lambda i: (extent(i, n_tiles[i]), i))
        n_tiles[largest] += 1
    # greedy splitting can overshoot on an axis split early: undo what is not needed
    for i in index:
        while n_tiles[i] > 1:
            n_tiles[i] -= 1
            if cost(n_tiles) > memory_bytes:
                n_tiles[i] += 1
                break
    return tuple(n_tiles)


def needs_block_processing(shape, axes: str, threshold: int = BLOCK_THRESHOLD) -> bool:
    """Whether an image is so large that StarDist should segment it block by block.

    Parameters
    ----------
    shape : tuple of int
        Image shape with ``axes``.
    axes : str
        Its axes; only the Y and X sizes decide (a time-lapse is segmented frame by
        frame, channels do not add objects).
    threshold : int
        Side length from which ``predict_instances_big`` is used. At 8192^2, one frame's
        probability and 32-ray distance maps (at grid 1) alone take 8.6 GB in float32,
        and NMS over millions of candidates gets slow; blocks bound both.

    Returns
    -------
    bool
        True when Y or X has at least ``threshold`` pixels.
    """
    axes = axes.upper()
    if len(axes) != len(shape):
        raise ValueError(f"shape {tuple(shape)} does not match axes {axes!r}")
    return any(shape[axes.index(a)] >= threshold for a in "YX" if a in axes)


def unet_receptive_radius(
    *,
    n_depth: int = DEFAULT_UNET_DEPTH,
    kernel_size: int = 3,
    n_conv_per_depth: int = 2,
    grid: int = 1,
    conv_after_unet: bool = True,
) -> int:
    """Receptive field radius (pixels, per side) of a StarDist-style U-Net.

    Counts every convolution on the longest path: the convolutions before the
    grid pooling, down through ``n_depth`` levels to the bottom and back up, each
    adding ``(kernel_size - 1) / 2`` pixels at its level's scale, plus each 2x max
    pooling's extra pixel at its scale. An upper bound for the context a block needs
    so that the network sees all it would see on the whole image.

    Parameters
    ----------
    n_depth, kernel_size, n_conv_per_depth
        ``unet_n_depth``, ``unet_kernel_size`` (one axis), ``unet_n_conv_per_depth``.
    grid : int
        The model's grid along the axis (a power of two).
    conv_after_unet : bool
        StarDist's ``net_conv_after_unet > 0`` (one more convolution at grid scale).

    Returns
    -------
    int
    """
    half = (kernel_size - 1) // 2
    radius = 0
    scale = 1
    while scale < grid:  # StarDist: convolutions then a 2x pooling until the grid is reached
        radius += n_conv_per_depth * half * scale + scale
        scale *= 2
    for level in range(n_depth):  # down: convolutions, then pooling
        s = scale * 2**level
        radius += n_conv_per_depth * half * s + s
    radius += n_conv_per_depth * half * scale * 2**n_depth  # bottom
    for level in range(n_depth):  # up: nearest upsampling adds less than one pixel at its scale
        s = scale * 2**level
        radius += n_conv_per_depth * half * s + s
    if conv_after_unet:
        radius += half * scale
    return int(radius)


def _round_up(value: float, unit: int) -> int:
    return int(math.ceil(value / unit) * unit)


def block_parameters(
    shape,
    object_size_px: float,
    grid,
    *,
    axes: str | None = None,
    context=None,
    divisible_by=None,
    block_size: int = DEFAULT_BLOCK_SIZE,
) -> dict:
    """``block_size``, ``min_overlap`` and ``context`` for ``predict_instances_big``.

    StarDist requires, per axis, ``min_overlap + 2 * context < block_size <= size``,
    objects smaller than ``min_overlap`` (else it raises "Found object of shape ...,
    which violates the assumption"), a context covering the network's receptive field
    (else block borders change the prediction), and all three multiples of the
    network's divisibility (it silently rounds them up otherwise, which could break the
    first rule). The values returned satisfy all of these.

    Parameters
    ----------
    shape : tuple of int
        Image shape: spatial only ((Z,) Y, X) or with ``axes``.
    object_size_px : float
        Largest expected object extent (bounding-box side) in pixels. ``min_overlap``
        is 1.25 times that plus one, rounded up: predicted objects can be larger
        than annotated ones, and a too small overlap stops the whole prediction.
    grid : int or tuple of int
        The model's ``config.grid`` (per spatial axis).
    axes : str, optional
        Axes of ``shape`` when it has more than the spatial axes (e.g. ``YXC``); the
        result then has an entry for every axis (channels: whole, no overlap), as
        ``predict_instances_big`` wants one per image axis.
    context : int or tuple of int, optional
        Pixels of context per side; default :func:`unet_receptive_radius` for
        StarDist's default architecture at this grid. With a model at hand, pass
        ``model._axes_tile_overlap("YX")`` (what StarDist recommends) or larger.
    divisible_by : int or tuple of int, optional
        The model's divisibility, ``model._axes_div_by("YX")``. Default
        ``grid * 2**3`` (StarDist's default depth), also right for shallower U-Nets.
    block_size : int
        Target block side; raised to at least ``2 * (min_overlap + 2 * context)`` so
        that most of each block is new image, lowered to fit the image.

    Returns
    -------
    dict
        ``block_size``, ``min_overlap`` and ``context``, each a tuple with one entry
        per axis, to pass as ``model.predict_instances_big(img, axes, **params)``.

    Raises
    ------
    ValueError
        When the image is too small for blocks holding the objects plus context; use
        ``predict_instances`` (with ``n_tiles``) instead.
    """
    shape = tuple(int(s) for s in shape)
    if axes is None:
        spatial_index = list(range(len(shape)))
        axes = "ZYX"[-len(shape):] if len(shape) in (2, 3) else None
        if axes is None:
            raise ValueError(f"shape {shape} is not 2D or 3D; give axes")
    else:
        spatial, spatial_index = _spatial(shape, axes)
        if any(a not in SPATIAL_AXES + "C" for a in axes.upper()):
            raise ValueError(f"predict_instances_big takes one image: axes from Z, Y, X, C, not {axes!r}")
    n = len(spatial_index)
    grid = _per_axis(grid, n, "grid")
    if divisible_by is None:
        unit = tuple(g * 2**DEFAULT_UNET_DEPTH for g in grid)
    else:
        unit = _per_axis(divisible_by, n, "divisible_by")
    if any(u % g for u, g in zip(unit, grid)):
        raise ValueError(f"divisible_by {unit} must be a multiple of grid {grid}")
    if context is None:
        context = tuple(unet_receptive_radius(grid=g) for g in grid)
    context = _per_axis(context, n, "context")
    if object_size_px <= 0:
        raise OptionError(f"object_size_px must be positive, not {object_size_px}")

    sizes, overlaps, contexts = [], [], []
    for k, i in enumerate(spatial_index):
        u = unit[k]
        min_overlap = _round_up(1.25 * object_size_px + 1, u)
        ctx = _round_up(context[k], u)
        needed = min_overlap + 2 * ctx
        size = _round_up(max(block_size, 2 * needed), u)
        size = min(size, (shape[i] // u) * u)  # StarDist: block_size <= image size
        if size <= needed:
            raise InputError(
                f"an image of {shape[i]} px along {axes[i]} is too small for blocks holding objects "
                f"of {object_size_px:g} px with {ctx} px of context (needs more than {needed} px); "
                "predict it whole with predict_instances and n_tiles."
            )
        sizes.append(size)
        overlaps.append(min_overlap)
        contexts.append(ctx)

    result = {"block_size": list(shape), "min_overlap": [0] * len(shape), "context": [0] * len(shape)}
    for k, i in enumerate(spatial_index):
        result["block_size"][i] = sizes[k]
        result["min_overlap"][i] = overlaps[k]
        result["context"][i] = contexts[k]
    return {key: tuple(value) for key, value in result.items()}
