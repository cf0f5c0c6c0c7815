"""Sample keys: an exact integer fingerprint of each training sample.

skce's dropout draws each sample's mask from a key computed once, on the host,
from the bytes of that sample's input. Identical rows get identical keys (so a
sample of weight ``k`` and ``k`` copies of it are masked alike), and nothing
about a key depends on how a device rounds a sum. The training step publishes
the keys of its mini-batch with :func:`sample_keys`; layers read them with
:func:`current_sample_keys` while the step is traced or run.
"""

import contextlib
import threading

import numpy as np

_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)
# Bytes of 64-bit words hashed per block: bounds the temporary copies.
_BLOCK_BYTES = 8 << 20

_STATE = threading.local()


def _splitmix64(z: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser, elementwise on uint64 (wrapping arithmetic)."""
    z = z + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def row_keys(x) -> np.ndarray:
    """Return one int32 key per row of ``x``, from the row's values.

    The values are read as float64 bytes, so the same numbers give the same
    key whether ``x`` holds float32, float64 or integers. The key is a
    universal hash of those bytes: a weighted sum of their 32-bit words with
    fixed odd multipliers, modulo 2**64 (exact integer arithmetic, in any
    order), passed through a finaliser.
    """
    csr = getattr(x, "csr", None)
    if csr is not None:
        return _sparse_row_keys(csr)
    n = x.shape[0]
    n_words = 2 * int(np.prod(x.shape[1:], dtype=np.int64))
    with np.errstate(over="ignore"):
        multipliers = _splitmix64(np.arange(n_words, dtype=np.uint64)) | np.uint64(1)
        keys = np.empty(n, dtype=np.uint64)
        rows = max(1, _BLOCK_BYTES // (8 * max(1, n_words)))
        # Block by block, so a memory-mapped X is read, never held, whole.
        for start in range(0, n, rows):
            block = np.asarray(x[start : start + rows])
            block = np.ascontiguousarray(block.reshape(len(block), -1), np.float64)
            words = block.view(np.uint32).astype(np.uint64)
            keys[start : start + len(block)] = _splitmix64(words @ multipliers)
    return (keys >> np.uint64(32)).astype(np.uint32).view(np.int32)


def _sparse_row_keys(csr) -> np.ndarray:
    """``row_keys`` of a CSR matrix's dense rows, from its stored values alone.

    A zero is eight zero bytes and adds nothing to the weighted sum, so the
    sum over the stored values is the dense row's: the keys, and the dropout
    masks drawn from them, are those of the dense copy of X.
    """
    n = csr.shape[0]
    with np.errstate(over="ignore"):
        values = np.ascontiguousarray(csr.data, np.float64)
        words = values.view(np.uint32).reshape(-1, 2).astype(np.uint64)
        low = 2 * csr.indices.astype(np.uint64)
        terms = words[:, 0] * (_splitmix64(low) | np.uint64(1)) + words[:, 1] * (
            _splitmix64(low + np.uint64(1)) | np.uint64(1)
        )
        sums = np.zeros(n, dtype=np.uint64)
        rows = np.repeat(np.arange(n), np.diff(csr.indptr))
        np.add.at(sums, rows, terms)
        keys = _splitmix64(sums)
    return (keys >> np.uint64(32)).astype(np.uint32).view(np.int32)


@contextlib.contextmanager
def sample_keys(keys):
    """Publish the current mini-batch's keys to the layers that draw from them."""
    previous = getattr(_STATE, "keys", None)
    _STATE.keys = keys
    try:
        yield
    finally:
        _STATE.keys = previous


def current_sample_keys():
    """The keys published by the running training step, or None outside one."""
    return getattr(_STATE, "keys", None)
