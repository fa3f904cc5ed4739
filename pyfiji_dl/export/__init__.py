"""Share trained models with Fiji tools: BioImage Model Zoo packages and Fiji plugin zips.

* :func:`export_bioimageio` - a validated BioImage Model Zoo package (format 0.5) for
  deepImageJ, the bioimage.io tools and ``pyfiji-dl predict``;
* :func:`export_fiji` - the TensorFlow SavedModel zip the StarDist and CSBDeep Fiji
  plugins load;
* :func:`open_model_source` - a model folder, or a package exported by pyfiji_dl,
  as a model folder ``pyfiji-dl predict`` can load (it lives in
  :mod:`pyfiji_dl.models.source`, below prediction, which uses it);
* :func:`validate_bioimageio_package` - offline validation of a package (format checks
  and both TensorFlow weights formats run on the test input).

Names are imported on first use, so ``import pyfiji_dl.export`` (and
``pyfiji-dl --help``) pulls in neither TensorFlow nor bioimageio.
"""

from importlib import import_module

_LAZY = {
    "export_bioimageio": "bioimageio",
    "validate_bioimageio_package": "validation",
    "BioimageioExport": "bioimageio",
    "ValidationReport": "validation",
    "PackageValidationError": "validation",
    "export_fiji": "fiji",
    "ExportError": "network",
    "open_model_source": "..models.source",
    "ModelSourceError": "..models.source",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = _LAZY[name]
    value = getattr(import_module(module, __package__) if module.startswith(".") else
                    import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
