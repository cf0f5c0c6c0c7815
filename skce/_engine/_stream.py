"""Training data that stays on the host and reaches the device in segments.

A fit whose X is a ``numpy.memmap``, or larger than the data budget, is never
copied to the device (or into RAM) whole: each epoch visits its permutation in
segments of whole mini-batches, gathers a segment's rows from the host array,
moves them to the device and trains on them, while a background thread
gathers the next segment. The batches, their order and their sample keys are
those of the in-memory path, so the result is the same up to float rounding.
Sparse X counts by the bytes of its stored values, indices and row pointers.
"""

import concurrent.futures
import mmap
import os

import numpy as np
import scipy.sparse as sp

from skce._engine._sparse import SparseRows, sparse_rows

# The default data budget: the share of the machine's memory (or of the
# accelerator's, where there is one) that training data may take on the device.
_BUDGET_SHARE = 0.25


def host_budget() -> int:
    """A quarter of the machine's physical memory, in bytes."""
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") * _BUDGET_SHARE)


class HostRows:
    """Rows ``index`` of a host array, read (and cast) only when asked for.

    Stands for a memory-mapped X, or a subset of one, without reading it:
    indexing gathers the rows asked for, in file order for locality.
    """

    def __init__(self, base, index, dtype):
        self.base = base
        self.index = np.asarray(index)
        self.dtype = np.dtype(dtype)
        self.shape = (len(self.index), *base.shape[1:])
        self.nbytes = int(np.prod(self.shape)) * self.dtype.itemsize

    def __len__(self):
        return len(self.index)

    def subset(self, index):
        """The rows ``index`` of these rows, still unread."""
        return HostRows(self.base, self.index[index], self.dtype)

    def __getitem__(self, item):
        return gather(self.base, self.index[item]).astype(self.dtype, copy=False)


def is_memory_mapped(array) -> bool:
    """Whether ``array`` is, or is a view of, a memory-mapped file."""
    while array is not None:
        if isinstance(array, (np.memmap, mmap.mmap)):
            return True
        array = getattr(array, "base", None)
    return False


def host_rows(x, dtype):
    """A memory-mapped ``x`` as unread rows cast to ``dtype``; a sparse one as
    ``SparseRows``; else ``x`` cast."""
    if sp.issparse(x):
        return sparse_rows(x, dtype)
    if is_memory_mapped(x):
        return HostRows(x, np.arange(x.shape[0]), dtype)
    return x.astype(dtype, copy=False)


def gather(x, index) -> np.ndarray:
    """``x[index]`` as an in-memory array, read in increasing row order."""
    if isinstance(x, (HostRows, SparseRows)):
        return x[index]
    index = np.asarray(index)
    if isinstance(index, np.ndarray) and index.ndim == 1 and index.dtype.kind in "iu":
        order = np.argsort(index, kind="stable")
        rows = np.asarray(x[index[order]])
        out = np.empty_like(rows)
        out[order] = rows
        return out
    return np.asarray(x[index])


def streams(x, budget) -> bool:
    """Whether ``x`` goes to the device in segments rather than whole."""
    return isinstance(x, (HostRows, np.memmap)) or x.nbytes > budget


def segment_rows(data, batch_size, budget) -> int:
    """Rows per segment: whole mini-batches whose data fits in the budget."""
    per_row = sum(_row_bytes(a) for a in data)
    batches = max(1, budget // max(1, per_row * batch_size))
    return int(batches * batch_size)


def _row_bytes(a) -> int:
    """Bytes per row of ``a``: on average, for sparse rows."""
    if isinstance(a, SparseRows):
        return -(-a.nbytes // max(1, len(a)))
    return int(np.prod(a.shape[1:], dtype=np.int64)) * np.dtype(a.dtype).itemsize


class Segments:
    """Iterate an epoch's segments, gathering the next one in the background."""

    def __init__(self, data, perm, rows):
        self._data = data
        self._parts = [perm[i : i + rows] for i in range(0, len(perm), rows)]

    def _gather(self, part):
        return tuple(gather(a, part) for a in self._data)

    def __iter__(self):
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            pending = pool.submit(self._gather, self._parts[0]) if self._parts else None
            for i in range(len(self._parts)):
                arrays = pending.result()
                if i + 1 < len(self._parts):
                    pending = pool.submit(self._gather, self._parts[i + 1])
                yield arrays
