"""The training engine: the only place a backend library is imported.

``make_trainer`` gives the active backend's trainer for one fit; ``forward``
runs a compiled inference function over chunks of rows; ``precision`` makes
the requested float type real for the backend while a fit or predict runs.
This module only re-exports: each concept lives in its own module, each
backend in a ``Backend`` subclass (``_backend.py``), and every workaround for
Keras or TensorFlow internals in ``_fixes.py``.
"""

from skce._engine._backend import Backend, active
from skce._engine._contexts import accelerator, distributed, make_trainer, precision
from skce._engine._export import export_with_labels
from skce._engine._fixes import clone_model, python_random
from skce._engine._forward import CHUNK_VALUES, PREDICT_CHUNK, chunk_rows, forward
from skce._engine._host import host_forward
from skce._engine._keys import current_sample_keys, row_keys, sample_keys
from skce._engine._loop import (
    ConvergenceStopping,
    CosineAnnealing,
    needs_batch_hooks,
    run_epochs,
)
from skce._engine._loss import SparseCELoss, batch_metrics, widen
from skce._engine._sparse import SparseRows
from skce._engine._stream import HostRows, host_rows, is_memory_mapped
from skce._engine._trainer import NAMED_OPTIMIZERS

__all__ = [
    "CHUNK_VALUES",
    "NAMED_OPTIMIZERS",
    "PREDICT_CHUNK",
    "Backend",
    "ConvergenceStopping",
    "CosineAnnealing",
    "HostRows",
    "SparseCELoss",
    "SparseRows",
    "host_rows",
    "is_memory_mapped",
    "accelerator",
    "active",
    "batch_metrics",
    "chunk_rows",
    "clone_model",
    "current_sample_keys",
    "distributed",
    "export_with_labels",
    "forward",
    "host_forward",
    "host_rows",
    "make_trainer",
    "needs_batch_hooks",
    "precision",
    "python_random",
    "row_keys",
    "run_epochs",
    "sample_keys",
    "widen",
]
