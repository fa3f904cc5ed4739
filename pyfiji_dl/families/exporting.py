"""What an exported package needs from a family, and the parts several families share.

:mod:`pyfiji_dl.export` writes BioImage Model Zoo packages (deepImageJ; Gomez-de-Mariscal
et al., Nature Methods 2021) and the zips of the StarDist/CSBDeep Fiji plugins; each
family's declaration (:class:`~pyfiji_dl.families.base.Family`) says how its network is
described: pre/postprocessing in the format's terms (:class:`Processing`), the ImageJ
macros deepImageJ runs, what the output holds, and what to enter in the Fiji plugin.
The ``exportable`` these functions take is :class:`pyfiji_dl.export.network.ExportableModel`.
"""

from __future__ import annotations

from dataclasses import dataclass

PREPROCESSING_MACRO, POSTPROCESSING_MACRO = "pyfiji_dl_preprocessing.ijm", "pyfiji_dl_postprocessing.ijm"


@dataclass
class Processing:
    """A package's preprocessing and postprocessing: spec entries, descriptions and deepImageJ macros.

    Attributes
    ----------
    pre, post : list of dict
        The bioimageio spec's processing steps (``{"id": ..., "kwargs": ...}``).
    description_pre, description_post : str
        The same in words, for the README and ``config.pyfiji_dl``.
    deepimagej_pre, deepimagej_post : str, optional
        ImageJ macro texts for deepImageJ's legacy configuration.
    deepimagej_post_name : str
        File name of the postprocessing macro in the package.
    deepimagej_post_needs : str
        What the postprocessing macro needs, said in the README (e.g. an update site).
    outside_step : str, optional
        A step the format cannot express (Fiji's CLAHE for some U-Nets): the test input
        and every user's image go through it before the package's preprocessing.
    """

    pre: list
    post: list
    description_pre: str
    description_post: str
    deepimagej_pre: str | None = None
    deepimagej_post: str | None = None
    deepimagej_post_name: str = POSTPROCESSING_MACRO
    deepimagej_post_needs: str = ""
    outside_step: str | None = None


def percentile_processing(exportable, description_post: str, **more) -> Processing:
    """Percentile normalisation of each image and channel (the card's percentiles), as ``scale_range``."""
    axes = list(exportable.spatial_axes)
    norm = exportable.card.normalization
    low, high = float(norm.get("low", 1.0)), float(norm.get("high", 99.8))
    return Processing(
        pre=[{"id": "scale_range", "kwargs": {"axes": axes, "min_percentile": low, "max_percentile": high}}],
        post=[],
        description_pre=(f"percentile normalisation per image and channel: percentile {low:g} maps to 0 and "
                         f"percentile {high:g} to 1 (computed over {', '.join(axes)})"),
        description_post=description_post,
        deepimagej_pre=macro_percentiles(low, high),
        **more,
    )


def macro_percentiles(low: float, high: float) -> str:
    """ImageJ macro of the ``scale_range`` step, for deepImageJ."""
    return f"""// pyfiji_dl export: the package's preprocessing for deepImageJ.
// Percentile normalisation, as the 'scale_range' step of rdf.yaml: in each channel,
// percentile {low:g} of all pixels (all slices) maps to 0 and percentile {high:g} to 1.
low = {low!r};
high = {high!r};
run("32-bit");
getDimensions(width, height, channels, slices, frames);
for (c = 1; c <= channels; c++) {{
    values = newArray(width * height * slices);
    i = 0;
    for (z = 1; z <= slices; z++) {{
        if (channels * slices > 1) Stack.setPosition(c, z, 1);
        for (y = 0; y < height; y++)
            for (x = 0; x < width; x++) {{ values[i] = getPixel(x, y); i++; }}
    }}
    Array.sort(values);
    lower = percentile(values, low);
    upper = percentile(values, high);
    for (z = 1; z <= slices; z++) {{
        if (channels * slices > 1) Stack.setPosition(c, z, 1);
        run("Subtract...", "value=" + d2s(lower, 9) + " slice");
        run("Divide...", "value=" + d2s(upper - lower + 1e-6, 9) + " slice");
    }}
}}

// linear interpolation between the two nearest ranks, as numpy.percentile
function percentile(sorted, p) {{
    position = p / 100 * (sorted.length - 1);
    i = floor(position);
    if (i >= sorted.length - 1) return sorted[sorted.length - 1];
    return sorted[i] + (position - i) * (sorted[i + 1] - sorted[i]);
}}
"""


def numbers_text(values) -> str:
    """Numbers as the README and notes write them (6 significant digits)."""
    import numpy as np

    return ", ".join(f"{v:.6g}" for v in np.atleast_1d(values))


def csbdeep_instructions(exportable, *, before: tuple = (), normalize: tuple | None = None,
                         after: tuple = ()) -> list:
    """What to enter in CSBDeep's "Run your network" for an exported zip.

    ``before``: steps before the plugin; ``normalize``: the normalisation lines (default:
    the card's percentiles); ``after``: what to do with the result.
    """
    norm = exportable.card.normalization
    lines = list(before) + ["In Fiji: Plugins > CSBDeep > Run your network; 'Import model (.zip)' from file: this zip."]
    if normalize is None:
        normalize = (f"  Normalize image: on; Bottom percentile: {norm.get('low', 2.0):g}; "
                     f"Top percentile: {norm.get('high', 99.8):g}; Clip normalization: off",)
    lines += list(normalize) + list(after)
    lines.append(f"  Tile size has to be multiple of: {max(exportable.step)}; Overlap between tiles: "
                 f"{max(exportable.halo)} or more")
    return lines
