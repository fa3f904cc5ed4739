"""Model adapters, one module per family (``stardist``, ``care``, ``n2v``, ``unet``).

An adapter wraps the family's library (StarDist, CSBDeep, n2v, Keras): configuration,
training with the shared bookkeeping of :mod:`.training`, ``load_model`` and
``predict``, and declares ``FAMILY`` (its name in model cards), ``OUTPUTS``
(``"labels"``, ``"semantic"`` or ``"restored"``: what prediction writes) and, when its
cards hold more than the common fields, ``CARD_DETAILS`` (:class:`.card.CardDetails`). Which
families exist is said once, by :mod:`pyfiji_dl.families`; model cards name the adapter.
"""

from importlib import import_module
from importlib.util import find_spec

from ..errors import PyfijiDLError


class UnknownAdapterError(PyfijiDLError, ValueError):
    """A model card names a family without an adapter in this version."""


def adapter_for(family: str):
    """The adapter module of a model family (imported on demand: it pulls in TensorFlow's stack)."""
    name = f"{__name__}.{family}" if isinstance(family, str) and family.isidentifier() else None
    module = import_module(name) if name and find_spec(name) is not None else None
    if module is None or getattr(module, "FAMILY", None) != family:
        raise UnknownAdapterError(f"no adapter for {family!r} models in this version of pyfiji_dl")
    return module
