"""Keep ``bioimageio.spec`` working with pydantic >= 2.14.

``bioimageio.spec`` (0.5.x, up to at least 0.5.14) calls pydantic's wrap-serializer
handler as ``handler(value, info)``, copying an old pydantic docstring. The second
argument is ``index_key``; pydantic-core ignored the wrong value until pydantic 2.14
(pydantic PR #13506), which raises ``TypeError: 'index_key' is expected to be an
integer or a string``. Every validation then fails, because the validator serialises
the description to measure its completeness.

The fix belongs in bioimageio.spec (call ``handler(value)``) or in the environment
(``pydantic<2.14``). Until then, :func:`ensure_compatible` gives the three affected
serializers a handler that drops the stray argument: exactly what pydantic < 2.14 did
with it. It changes nothing when pydantic is older, when the functions do not look
as expected, or when it has already run.
"""

from __future__ import annotations

import importlib

_ORIGINAL = "_pyfiji_dl_original_serializer"  # name injected into the patched module
_AFFECTED = (
    ("bioimageio.spec._internal.io_packaging", "package_file_descr_serializer"),
    ("bioimageio.spec.model.v0_4", "package_weights"),
    ("bioimageio.spec._internal.validated_string_with_inner_node", "ValidatedStringWithInnerNode._serialize"),
)
_done = False


def _handler_without_info(value, handler, info):
    # runs with the patched module's globals, where _ORIGINAL names the unpatched copy
    return _pyfiji_dl_original_serializer(value, lambda v, *_ignored: handler(v), info)  # noqa: F821


def _needs_fix() -> bool:
    import pydantic

    major, minor = (int(part) for part in pydantic.VERSION.split(".")[:2])
    return (major, minor) >= (2, 14)


def ensure_compatible() -> list:
    """Patch the affected ``bioimageio.spec`` serializers if this pydantic needs it.

    Returns
    -------
    list of str
        The functions patched in this call (empty when nothing was needed).
    """
    global _done
    if _done or not _needs_fix():
        _done = True
        return []
    import types

    patched = []
    for module_name, qualified in _AFFECTED:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        owner = module
        *path, name = qualified.split(".")
        for part in path:
            owner = getattr(owner, part, None)
        function = getattr(owner, name, None) if owner is not None else None
        function = getattr(function, "__func__", function)
        decorated = getattr(function, "func", None)  # pydantic's decorator info keeps the function here
        function = decorated if callable(decorated) else function
        code = getattr(function, "__code__", None)
        if code is None or code.co_argcount != 3 or code.co_freevars or _ORIGINAL in module.__dict__:
            continue
        module.__dict__[_ORIGINAL] = types.FunctionType(code, function.__globals__, function.__name__,
                                                        function.__defaults__, function.__closure__)
        function.__code__ = _handler_without_info.__code__
        patched.append(f"{module_name}.{qualified}")
    _done = True
    return patched
