"""Recently used models, kept loaded in the worker up to a memory budget.

A model is known by its folder and the names, sizes and modification times of the files
in it, so a model trained again (new weights, new thresholds) is loaded again. When the
estimated memory of the kept models exceeds the budget, the least recently used ones are
dropped (the newest is always kept). The estimate is the weights' size (4 bytes per
parameter) twice over, for the weights and the graph TensorFlow builds from them, plus
a fixed part per model. On a GPU, ``$PYFIJI_DL_WORKER_GPU_MEMORY_MB`` bounds what
TensorFlow holds there as well (:func:`pyfiji_dl.models.device.gpu_memory_in_use`).
"""

from __future__ import annotations

import gc
import os
import threading
from collections import OrderedDict
from pathlib import Path

BUDGET_ENV = "PYFIJI_DL_WORKER_MODEL_MEMORY_MB"
GPU_BUDGET_ENV = "PYFIJI_DL_WORKER_GPU_MEMORY_MB"
OVERHEAD_BYTES = 64 * 2**20


def gpu_budget() -> int | None:
    """``$PYFIJI_DL_WORKER_GPU_MEMORY_MB`` in bytes: what TensorFlow may hold on the GPU
    with the kept models (None: no bound; TensorFlow does not tell the card's size)."""
    value = os.environ.get(GPU_BUDGET_ENV)
    return int(float(value) * 2**20) if value else None


def default_budget() -> int:
    """A quarter of the machine's memory, or ``$PYFIJI_DL_WORKER_MODEL_MEMORY_MB``."""
    if os.environ.get(BUDGET_ENV):
        return int(float(os.environ[BUDGET_ENV]) * 2**20)
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        total = 8 * 2**30
    return total // 4


def folder_signature(folder: Path) -> tuple:
    entries = []
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        if entry.is_file():
            info = entry.stat()
            entries.append((entry.name, info.st_size, info.st_mtime_ns))
    return tuple(entries)


def estimate_bytes(model) -> int:
    """Rough memory of a loaded model (CSBDeep/StarDist ``keras_model``, our U-Net ``model``)."""
    for name in ("keras_model", "model", "network"):
        network = getattr(model, name, None)
        if network is not None and hasattr(network, "count_params"):
            return 2 * 4 * int(network.count_params()) + OVERHEAD_BYTES
    return OVERHEAD_BYTES


class ModelCache:
    """Least-recently-used models within ``budget`` bytes."""

    def __init__(self, budget: int | None = None, gpu_bytes: int | None = None, gpu_in_use=None):
        self.budget = default_budget() if budget is None else budget
        self.gpu_budget = gpu_budget() if gpu_bytes is None else gpu_bytes
        if gpu_in_use is None:
            from ..models.device import gpu_memory_in_use as gpu_in_use
        self._gpu_in_use = gpu_in_use
        self._entries: OrderedDict = OrderedDict()  # key -> (model, bytes, folder)
        self._lock = threading.Lock()
        self.hits = 0
        self.loads = 0

    def get(self, model_dir, load):
        folder = Path(model_dir).resolve()
        key = (str(folder), folder_signature(folder))
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                self.hits += 1
                return self._entries[key][0]
            # an older state of the same folder will not be asked for again
            for old in [k for k in self._entries if k[0] == key[0]]:
                del self._entries[old]
        model = load()
        with self._lock:
            self.loads += 1
            self._entries[key] = (model, estimate_bytes(model), folder)
            self._evict()
        return model

    def _evict(self) -> None:
        dropped = False
        while len(self._entries) > 1 and self.total_bytes() > self.budget:
            self._entries.popitem(last=False)
            dropped = True
        if dropped:
            gc.collect()
        # on a GPU: what TensorFlow really holds there (freed once a dropped model is collected)
        while len(self._entries) > 1 and self.gpu_budget is not None and (self._gpu_in_use() or 0) > self.gpu_budget:
            self._entries.popitem(last=False)
            gc.collect()

    def total_bytes(self) -> int:
        return sum(size for _, size, _ in self._entries.values())

    def describe(self) -> list:
        """``[{"model": folder, "mb": estimate}]``, most recently used last."""
        with self._lock:
            return [{"model": str(folder), "mb": round(size / 2**20, 1)}
                    for _, size, folder in self._entries.values()]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
        gc.collect()
