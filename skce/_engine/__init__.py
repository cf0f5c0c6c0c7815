"""The training engine: the only place a backend library is imported.

``make_trainer`` picks the trainer for the active Keras backend; ``forward``
runs a compiled inference function over chunks of rows; ``precision`` makes the
requested float type real for the backend while a fit or predict runs.
"""

import contextlib
import importlib
import random
import threading
import weakref

import keras
import numpy as np

from skce._engine._cache import CACHE_SIZE, LRUCache
from skce._engine._keys import current_sample_keys, row_keys, sample_keys
from skce._engine._loop import (
    ConvergenceStopping,
    CosineAnnealing,
    needs_batch_hooks,
    run_epochs,
)
from skce._engine._loss import SparseCELoss, batch_metrics, widen
from skce._engine._stream import (
    HostRows,
    data_budget,
    get_data_budget,
    host_rows,
    is_memory_mapped,
    set_data_budget,
)
from skce._engine._trainer import NAMED_OPTIMIZERS

__all__ = [
    "ConvergenceStopping",
    "NAMED_OPTIMIZERS",
    "CosineAnnealing",
    "HostRows",
    "SparseCELoss",
    "data_budget",
    "get_data_budget",
    "host_rows",
    "is_memory_mapped",
    "set_data_budget",
    "accelerator",
    "batch_metrics",
    "chunk_rows",
    "current_sample_keys",
    "distributed",
    "forward",
    "make_trainer",
    "needs_batch_hooks",
    "precision",
    "python_random",
    "row_keys",
    "run_epochs",
    "sample_keys",
    "widen",
]

_TRAINERS = {
    "tensorflow": ("skce._engine._tensorflow", "TensorFlowTrainer"),
    "jax": ("skce._engine._jax", "JaxTrainer"),
    "torch": ("skce._engine._torch", "TorchTrainer"),
}

# Rows per inference call: bounds the memory of activations and outputs.
PREDICT_CHUNK = 1024
# Output values per inference call, for rows with many (sequence outputs).
CHUNK_VALUES = 1 << 22

_FORWARD_CACHE = weakref.WeakKeyDictionary()
_SHARED_FORWARD = LRUCache(4 * CACHE_SIZE)


def _backend_module():
    name = keras.backend.backend()
    if name not in _TRAINERS:
        raise RuntimeError(
            f"skce supports the tensorflow, jax and torch Keras backends. "
            f"Received: KERAS_BACKEND={name!r}."
        )
    return importlib.import_module(_TRAINERS[name][0]), _TRAINERS[name][1]


def make_trainer(model, optimizer, loss, data, batch_size, architecture_key=None):
    """Return the active backend's trainer for one fit.

    ``data`` is ``(x, y, w, keys)``: inputs, class indices, sample weights and
    the per-sample keys that skce's dropout draws its masks from.
    ``architecture_key`` is a hashable description of the network that lets
    fits of the same architecture reuse compiled code (None: derive one from
    the model's config).
    """
    module, cls = _backend_module()
    return getattr(module, cls)(
        model, optimizer, loss, data, batch_size, architecture_key
    )


@contextlib.contextmanager
def python_random(seed: int):
    """Seed the Python random draws of a model build, for the build only.

    Keras draws the seeds of unseeded initializers and dropout layers from
    Python's ``random`` module. Another thread drawing from it meanwhile (a
    dask worker's event loop does) would shift them, so during the build
    Keras draws from a private ``random.Random(seed)`` instead. Keras has no
    public switch for this: the module reference its seed generator reads is
    swapped here, and tests/test_engine.py fails loudly if Keras moves it.
    ``random`` itself is seeded too (and restored after), for builders that
    draw from it directly.
    """
    from keras.src.random import seed_generator

    state = random.getstate()
    keras_random = seed_generator.python_random
    random.seed(seed)
    seed_generator.python_random = random.Random(seed)
    try:
        yield
    finally:
        seed_generator.python_random = keras_random
        random.setstate(state)


@contextlib.contextmanager
def distributed(distribution):
    """Train data-parallel under ``distribution`` for the duration.

    ``None`` leaves what is in force (the trainers honour it);
    ``"data_parallel"`` stands for every device of the host.
    """
    if distribution is None:
        yield
        return
    module, _ = _backend_module()
    if not hasattr(module, "data_parallel"):
        raise ValueError(
            f"skce trains data-parallel on the tensorflow and jax backends. "
            f"Received: distribution={distribution!r} with KERAS_BACKEND="
            f"{keras.backend.backend()!r}. Use distribution=None."
        )
    if isinstance(distribution, str):
        distribution = module.data_parallel()
    else:
        module.check_distribution(distribution)
    with distribution.scope():
        yield


def accelerator():
    """``"gpu"`` or ``"tpu"`` when the backend computes on one, else None."""
    module, _ = _backend_module()
    return module.accelerator()


# Building a model reads Keras's global float type; fits in several threads
# take turns setting it, so none of them leaves another's value behind.
_GLOBAL_DTYPE_LOCK = threading.RLock()


@contextlib.contextmanager
def precision(dtype: str, *, build: bool = True):
    """Run models in ``dtype`` (a float type or mixed policy); with ``build``,
    also build them in it.

    ``build=True`` sets Keras's global float type and dtype policy for the
    duration (under a lock) and restores them after. Inference passes
    ``build=False`` and touches no global setting. On JAX, float64 also needs
    x64 mode, which JAX scopes to the calling thread.
    """
    # Load the backend's engine before any model exists: it configures the
    # backend's thread pools, which is possible only before they start.
    _backend_module()
    with contextlib.ExitStack() as stack:
        if keras.backend.backend() == "jax" and dtype == "float64":
            from skce._engine._jax import enable_x64

            stack.enter_context(enable_x64())
        if build:
            stack.enter_context(_GLOBAL_DTYPE_LOCK)
            floatx, policy = keras.config.floatx(), keras.config.dtype_policy()
            # A mixed policy keeps float32 variables (Keras's floatx).
            keras.config.set_floatx("float32" if dtype.startswith("mixed") else dtype)
            keras.config.set_dtype_policy(dtype)
            stack.callback(keras.config.set_dtype_policy, policy)
            stack.callback(keras.config.set_floatx, floatx)
        yield


def forward(
    model, key, fn, x, *extra, reduce=None, rows=PREDICT_CHUNK, architecture_key=None
):
    """Apply ``fn(model(chunk), *extra_chunk)`` chunk by chunk.

    The compiled function is cached per model under ``key``, or, where the
    backend compiles code that any model of an architecture can run and
    ``architecture_key`` names the architecture, shared by all such models.
    Chunks of ``rows`` rows (a power of two) are written into one
    preallocated result, or summed when ``reduce == "sum"`` (for metrics), so
    only one chunk's outputs exist on the device at a time and the result is
    never copied.
    """
    module, _ = _backend_module()
    if architecture_key is not None and getattr(module, "SHARES_FORWARD", False):
        shared_key = (architecture_key, key)
        compiled = _SHARED_FORWARD.lookup(shared_key)
        if compiled is None:
            compiled = module.compile_forward(None, fn)
            _SHARED_FORWARD.store(shared_key, compiled)
    else:
        per_model = _FORWARD_CACHE.setdefault(model, {})
        if key not in per_model:
            # The compiled function must not hold the model strongly: as a
            # value of this weak-keyed cache it would keep its own key, and
            # every fitted model, alive.
            per_model[key] = module.compile_forward(weakref.proxy(model), fn)
        compiled = per_model[key]
    pad = keras.backend.backend() == "jax"
    total = None
    result = None
    for start in range(0, x.shape[0], rows):
        stop = min(start + rows, x.shape[0])
        chunk = [x[start:stop], *(e[start:stop] for e in extra)]
        n = stop - start
        if pad and reduce is None:
            # Round the last chunk up to a power of two so that jit compiles a
            # handful of shapes, not one per input length.
            size = min(rows, 1 << (n - 1).bit_length())
            chunk = [np.concatenate([c, np.repeat(c[-1:], size - n, 0)]) for c in chunk]
        part = module.call_forward(model, compiled, *chunk)
        if reduce == "sum":
            total = part if total is None else total + part
            continue
        if result is None:
            result = np.empty((x.shape[0], *part.shape[1:]), dtype=part.dtype)
        result[start:stop] = part[:n]
    return total if reduce == "sum" else result


def chunk_rows(values_per_row: int) -> int:
    """Rows per inference chunk for outputs of ``values_per_row`` values a row.

    ``PREDICT_CHUNK`` rows, fewer for wide rows (a class distribution at each
    of T timesteps) so that a chunk holds at most ``CHUNK_VALUES`` values.
    """
    rows = max(1, min(PREDICT_CHUNK, CHUNK_VALUES // max(values_per_row, 1)))
    return 1 << (rows.bit_length() - 1)
