"""The one place that decides where TensorFlow runs (GPU when there is one).

Every model family calls :func:`configure_tensorflow` before building a model, so
device choice, memory growth and the CPU fallback message are the same everywhere.
"""

from __future__ import annotations

import logging
import os

from ..errors import OptionError, SetupError

log = logging.getLogger(__name__)
_configured: dict | None = None


def wait_passively_in_openmp() -> None:
    """Let idle OpenMP threads sleep instead of spinning, unless the user set ``OMP_WAIT_POLICY``.

    StarDist's non-maximum suppression (Schmidt et al., MICCAI 2018; the C code in
    ``stardist/lib``) runs its loops with OpenMP. GNU OpenMP's waiting threads spin by
    default, which pays only when each thread has a core to itself: on a machine whose cores
    are busy (TensorFlow's thread pool, Fiji, other programs) the spinning threads take the
    time the working thread needs. On 2 shared cores the suppression of about 6,500
    candidates (a 512 x 512 nuclei image) took 0.55-0.9 s spinning and 0.08 s passive, with
    the same objects. OpenMP reads the variable when its library loads: call this before
    StarDist (or TensorFlow) is imported.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def configure_tensorflow(device: str | None = None, *, quiet: bool = False) -> dict:
    """Pick the device for training/prediction and enable GPU memory growth.

    Parameters
    ----------
    device : str, optional
        ``"cpu"`` to force the CPU, ``"gpu"`` / ``"gpu:N"`` for a GPU, default: the
        first GPU TensorFlow sees, else the CPU. Also read from ``PYFIJI_DL_DEVICE``.
    quiet : bool
        Do not print the CPU fallback message.

    Returns
    -------
    dict
        ``{"device": "/GPU:0" or "/CPU:0", "gpus": [names], "reason": str}``.
    """
    global _configured
    if _configured is not None:
        return _configured
    device = (device or os.environ.get("PYFIJI_DL_DEVICE") or "auto").lower()
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")  # AutoGraph notes are not for our users
    gpus = tf.config.list_physical_devices("GPU")
    if device == "cpu":
        if gpus:
            tf.config.set_visible_devices([], "GPU")
        chosen, reason = "/CPU:0", "CPU requested"
    elif gpus:
        index = int(device.split(":")[1]) if device.startswith("gpu:") else 0
        if index >= len(gpus):
            raise OptionError(f"GPU {index} requested but TensorFlow sees {len(gpus)} GPU(s).")
        tf.config.set_visible_devices([gpus[index]], "GPU")
        # Without memory growth TensorFlow grabs the whole card and a second model
        # (or Fiji's own GPU plugins) cannot start.
        try:
            tf.config.experimental.set_memory_growth(gpus[index], True)
        except RuntimeError:
            pass  # already initialised by the caller: keep its setting
        chosen, reason = "/GPU:0", f"using GPU {index} of {len(gpus)}"
    else:
        if device.startswith("gpu"):
            raise SetupError(
                "A GPU was requested but TensorFlow sees none. Check the NVIDIA driver "
                "(nvidia-smi) and install 'tensorflow[and-cuda]==2.15.1'."
            )
        chosen, reason = "/CPU:0", "no GPU visible to TensorFlow: running on the CPU (slower, but works)"
        if not quiet:
            log.info("pyfiji-dl: %s.", reason)
    _configured = {"device": chosen, "gpus": [g.name for g in gpus], "reason": reason}
    log.debug("TensorFlow device: %s (%s)", chosen, reason)
    return _configured


def gpu_memory_in_use() -> int | None:
    """Bytes TensorFlow holds on the GPU it runs on; None on the CPU (or before configuring).

    TensorFlow tells what it allocated (``get_memory_info``), not what the card has: a
    bound on it is the user's setting (the warm worker's ``PYFIJI_DL_WORKER_GPU_MEMORY_MB``).
    """
    if _configured is None or not _configured["device"].startswith("/GPU"):
        return None
    import tensorflow as tf

    try:
        return int(tf.config.experimental.get_memory_info("GPU:0")["current"])
    except (ValueError, RuntimeError):  # no such device or no allocator statistics
        return None
