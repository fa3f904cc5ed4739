"""The model families pyfiji_dl trains and runs, one module each, and their registry.

Adding a family: write its module here (a :class:`~pyfiji_dl.families.base.Family`
subclass and ``FAMILY``: options with their training profile
(:class:`~pyfiji_dl.models.budget.TrainingProfile`, what the time-budget plan needs), data,
training, evaluation, menu label, and how its exports are described), its adapter in
:mod:`pyfiji_dl.models` (network, training, prediction, ``OUTPUTS``, and its part of the
model card, ``CARD_DETAILS``), its tests, and add its module name to ``MODULES``. The command line (``train NAME``, ``predict``,
``evaluate``, ``export``), ``pyfiji-dl families`` and the family list the Fiji macros
offer are generated from this registry.
"""

from __future__ import annotations

from importlib import import_module

from ..errors import PyfijiDLError
from ..models.card import read_card
from .base import Family, TrainingOutcome

# The registry: one module name per family, in the order menus list them.
MODULES = ("stardist", "unet", "care", "n2v")

REGISTRY: dict[str, Family] = {}
for _module in MODULES:
    _family = import_module(f"{__name__}.{_module}").FAMILY
    REGISTRY[_family.name] = _family


class UnknownFamilyError(PyfijiDLError, ValueError):
    """A model family this version does not know."""


def names() -> tuple[str, ...]:
    """Every family's name, in registry order."""
    return tuple(REGISTRY)


def get(name: str) -> Family:
    """The family called ``name``."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise UnknownFamilyError(f"no model family {name!r} in this version (known: {', '.join(REGISTRY)})") from None


def of_model(model_dir) -> Family:
    """The family of a model folder, from its model card."""
    family = read_card(model_dir).family
    try:
        return get(family)
    except UnknownFamilyError:
        raise UnknownFamilyError(f"{model_dir}: a {family!r} model, which this version of pyfiji_dl does not know "
                                 f"(known: {', '.join(REGISTRY)}); update pyfiji_dl.") from None


__all__ = ["Family", "TrainingOutcome", "REGISTRY", "MODULES", "UnknownFamilyError", "get", "names", "of_model"]
