"""Inference: a compiled function of the network's outputs, run chunk by chunk."""

import weakref

import numpy as np

from skce._engine._backend import active
from skce._engine._cache import CACHE_SIZE, LRUCache
from skce._engine._sparse import SparseRows

# Rows per inference call: bounds the memory of activations and outputs.
PREDICT_CHUNK = 1024
# Output values per inference call, for rows with many (sequence outputs).
CHUNK_VALUES = 1 << 22

_FORWARD_CACHE = weakref.WeakKeyDictionary()
_SHARED_FORWARD = LRUCache(4 * CACHE_SIZE)


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
    backend = active()
    if architecture_key is not None and backend.shares_forward:
        shared_key = (architecture_key, key)
        compiled = _SHARED_FORWARD.lookup(shared_key)
        if compiled is None:
            compiled = backend.compile_forward(None, fn)
            _SHARED_FORWARD.store(shared_key, compiled)
    else:
        per_model = _FORWARD_CACHE.setdefault(model, {})
        if key not in per_model:
            # The compiled function must not hold the model strongly: as a
            # value of this weak-keyed cache it would keep its own key, and
            # every fitted model, alive.
            per_model[key] = backend.compile_forward(weakref.proxy(model), fn)
        compiled = per_model[key]
    pad = backend.pads_inference
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
            if size != n:
                chunk = [_pad_rows(c, size) for c in chunk]
        part = backend.call_forward(model, compiled, *chunk)
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


def _pad_rows(chunk, size: int):
    """``chunk`` followed by copies of its last row (empty rows if sparse)."""
    if isinstance(chunk, SparseRows):
        return chunk.padded(size)
    return np.concatenate([chunk, np.repeat(chunk[-1:], size - len(chunk), 0)])
