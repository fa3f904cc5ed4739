"""Model families, one adapter module each: stardist, care, n2v, unet."""

from importlib import import_module

ADAPTERS = {"stardist": "stardist", "care": "care", "n2v": "n2v", "unet": "unet"}


def adapter_for(family: str):
    """The adapter module of a model family (imported on demand: it pulls in TensorFlow)."""
    if family not in ADAPTERS:
        raise ValueError(f"no adapter for {family!r} models in this version (known: {', '.join(ADAPTERS)})")
    return import_module(f"{__name__}.{ADAPTERS[family]}")
