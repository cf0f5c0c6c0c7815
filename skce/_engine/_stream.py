"""Training data that stays on the host and reaches the device in segments.

A fit whose X is a ``numpy.memmap`` (of any dtype), or larger than the data
budget, is never copied to the device (or into RAM) whole: each epoch visits
its permutation in segments of whole mini-batches, gathers a segment's rows
from the host array (cast to the network's input type as they are read),
moves them to the device and trains on them, while a background thread
gathers the next segment. A segment holds at most ``SEGMENT_BYTES`` whatever
the budget, so streaming holds about three segments (the one training, its
device copy, the next one) however large X is. The batches, their order and
their sample keys are those of the in-memory path, so the result is the same
up to float rounding.
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
#: The most bytes of X a streamed segment holds: large enough that a segment's
#: transfer and compiled call cost little next to its training, small enough
#: that the segments in flight stay a small share of memory.
SEGMENT_BYTES = 8 << 20
# Rows are read from the host array in blocks of about this many bytes, cast
# into the segment as they come.
_READ_BYTES = 1 << 20


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
        return gather(self.base, self.index[item], self.dtype)


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


def gather(x, index, dtype=None) -> np.ndarray:
    """``x[index]`` as an in-memory array of ``dtype`` (default: x's).

    Rows are read in increasing order (file order, for a memmap), a block at
    a time, straight into the result: one copy, cast as it is made.
    """
    if isinstance(x, (HostRows, SparseRows)):
        return x[index]
    index = np.asarray(index)
    dtype = np.dtype(x.dtype if dtype is None else dtype)
    if index.ndim != 1 or index.dtype.kind not in "iu":
        return np.asarray(x[index]).astype(dtype, copy=False)
    order = np.argsort(index, kind="stable")
    ordered = index[order]
    out = np.empty((len(index), *x.shape[1:]), dtype)
    row_bytes = max(1, int(np.prod(x.shape[1:], dtype=np.int64)) * x.dtype.itemsize)
    step = max(1, _READ_BYTES // row_bytes)
    for start in range(0, len(index), step):
        out[order[start : start + step]] = x[ordered[start : start + step]]
    return out


def streams(x, budget) -> bool:
    """Whether ``x`` goes to the device in segments rather than whole."""
    return isinstance(x, (HostRows, np.memmap)) or x.nbytes > budget


def segment_rows(data, batch_size, budget) -> int:
    """Rows per segment: whole mini-batches whose data fits in the budget.

    The budget is capped at ``SEGMENT_BYTES``: however much the device may
    hold, a segment is gathered on the host (twice, with the prefetch).
    """
    budget = min(budget, SEGMENT_BYTES)
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
