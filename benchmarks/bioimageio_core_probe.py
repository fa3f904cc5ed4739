"""Run pyfiji_dl packages in bioimageio.core: executed by bench_export.py inside a throw-away venv.

bioimageio.core runs ``tensorflow_saved_model_bundle`` weights with TensorFlow >= 2.16 and
Keras 3 only (``keras.layers.TFSMLayer``), which pyfiji_dl's own environment (TensorFlow 2.15,
Keras 2, which n2v needs) cannot have. So this file imports nothing from pyfiji_dl and runs
with the venv's Python only.

Usage: python bioimageio_core_probe.py PACKAGE.zip TEST_INPUT.npy OUTPUT.npy [...]
Prints one JSON line per package: bioimageio.core's ``test_model`` status for the SavedModel
weights (and for the Keras HDF5 weights), the seconds to build the prediction pipeline, and
writes what the SavedModel weights give for the test input, with the package's pre- and
postprocessing, for the caller to compare with the package's test output.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np


def probe(package: str, test_input: str, output: str) -> dict:
    import bioimageio.core
    import tensorflow as tf
    from bioimageio.core import create_prediction_pipeline, load_description, test_model
    from bioimageio.core.digest_spec import create_sample_for_model

    record = {"package": package, "bioimageio_core": bioimageio.core.__version__, "tensorflow": tf.__version__}
    for weights in ("tensorflow_saved_model_bundle", "keras_hdf5"):
        summary = test_model(package, weight_format=weights)
        record[f"test_{weights}"] = str(summary.status)
        record[f"errors_{weights}"] = [e.msg[:300] for d in summary.details for e in d.errors][:3]
    try:
        started = time.perf_counter()
        description = load_description(package)
        pipeline = create_prediction_pipeline(description, weight_format="tensorflow_saved_model_bundle")
        record["load_seconds"] = time.perf_counter() - started
        # as test_model runs it: the whole image in one piece, neither padded to a block size nor
        # cropped by the halo afterwards (the defaults of predict() change the border pixels)
        sample = create_sample_for_model(description, inputs={"input": np.load(test_input)}, sample_id="test")
        pipeline.apply_preprocessing(sample)
        result_sample = pipeline.predict_sample_without_blocking(sample, skip_preprocessing=True,
                                                                 skip_postprocessing=True, skip_input_padding=True,
                                                                 skip_output_cropping=True)
        pipeline.apply_postprocessing(result_sample)
        result = result_sample.members["output"].data
        np.save(output, np.asarray(result.transpose(*result.dims).values, np.float32))
        record["ok"] = True
    except Exception as exc:  # noqa: BLE001 - the failure is the finding to report
        record["ok"], record["error"] = False, f"{type(exc).__name__}: {exc}"[:500]
    return record


if __name__ == "__main__":
    arguments = sys.argv[1:]
    for i in range(0, len(arguments), 3):
        print(json.dumps(probe(*arguments[i:i + 3])), flush=True)
