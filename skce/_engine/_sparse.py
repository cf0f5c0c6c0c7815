"""Sparse X on the host: CSR rows, gathered a mini-batch or a chunk at a time.

A scipy sparse X is kept as one canonical CSR matrix (sorted, summed column
indices, int32 indices) whose values are cast to the network's input type; it
is never densified whole. Training moves its three arrays (``indptr``,
``indices``, ``data``) to the device, where each mini-batch's rows are
gathered into the backend's sparse tensor inside the compiled epoch; inference
converts one chunk of rows at a time.
"""

import numpy as np
import scipy.sparse as sp

_INT32_MAX = np.iinfo(np.int32).max


def check_dense(x) -> None:
    """Raise unless X is dense: data-parallel training takes dense X."""
    if isinstance(x, SparseRows):
        raise ValueError(
            "skce trains on sparse X on one device; data-parallel training "
            "takes dense X. Pass distribution=None, or X.toarray() if it fits "
            "in memory."
        )


class SparseRows:
    """Rows of a canonical CSR matrix with values of ``dtype``.

    Indexing with a slice or an array of row numbers gives those rows, in that
    order, as another ``SparseRows``: a mini-batch, a segment or a chunk.
    ``nbytes`` is what its arrays take (values, column indices and row
    pointers), the size that the data budget counts.
    """

    layout = "csr"

    def __init__(self, csr):
        self.csr = csr
        self.dtype = csr.data.dtype
        self.shape = csr.shape
        self.nbytes = int(csr.data.nbytes + csr.indices.nbytes + csr.indptr.nbytes)

    def __len__(self):
        return self.shape[0]

    def __getitem__(self, item):
        if isinstance(item, np.ndarray) and item.dtype.kind in "iu":
            item = item.astype(np.intp, copy=False)
        return SparseRows(self.csr[item])

    subset = __getitem__

    def row_nnz(self) -> np.ndarray:
        """Stored values per row."""
        return np.diff(self.csr.indptr)

    def arrays(self):
        """``(indptr, indices, data)`` with int32 row pointers and indices."""
        csr = self.csr
        if csr.nnz > _INT32_MAX:
            raise ValueError(
                f"A block of sparse X holds {csr.nnz} stored values, more than "
                f"{_INT32_MAX} (the int32 limit of the device's row pointers). "
                "Lower the data budget with skce.set_data_budget so that X is "
                "streamed in smaller segments."
            )
        return (
            csr.indptr.astype(np.int32, copy=False),
            csr.indices.astype(np.int32, copy=False),
            csr.data,
        )

    def coo(self):
        """``(rows, cols, values)`` of the stored values, row by row."""
        rows = np.repeat(np.arange(self.shape[0], dtype=np.int64), self.row_nnz())
        return rows, self.csr.indices.astype(np.int64), self.csr.data

    def padded(self, n_rows: int) -> "SparseRows":
        """These rows followed by empty ones, ``n_rows`` in all."""
        csr = self.csr
        extra = np.full(n_rows - self.shape[0], csr.indptr[-1], csr.indptr.dtype)
        indptr = np.concatenate([csr.indptr, extra])
        shape = (n_rows, self.shape[1])
        return SparseRows(sp.csr_matrix((csr.data, csr.indices, indptr), shape=shape))

    def toarray(self) -> np.ndarray:
        """These rows as a dense array (for a backend without sparse tensors)."""
        return self.csr.toarray()


def sparse_rows(X, dtype) -> SparseRows:
    """``X`` (any scipy sparse format) as canonical CSR rows of ``dtype``.

    The caller's matrix is never modified: its arrays are copied wherever
    they would be changed.
    """
    csr = sp.csr_matrix(X)
    if csr.shape[1] > _INT32_MAX:
        raise ValueError(
            f"X has {csr.shape[1]} columns; skce takes sparse X with at most "
            f"{_INT32_MAX} (int32 column indices). Hash the features into fewer "
            "columns, e.g. HashingVectorizer(n_features=2**20)."
        )
    data = csr.data.astype(dtype, copy=False)
    indices = csr.indices.astype(np.int32, copy=False)
    canonical = csr.has_canonical_format
    if not canonical:
        data, indices = data.copy(), indices.copy()
    out = sp.csr_matrix((data, indices, csr.indptr.copy()), shape=csr.shape)
    if not canonical:
        out.sum_duplicates()
    return SparseRows(out)


def nnz_bound(row_nnz: np.ndarray, perm: np.ndarray, batch_size: int) -> int:
    """Stored values per mini-batch to pad to, for the epoch in order ``perm``.

    The largest mini-batch's count, rounded up to one of eight sizes per
    power of two (``padded_size``): a compiler that needs fixed shapes
    compiles a handful of epochs, not one per shuffle, and a batch carries
    at most 12.5 % of padding slots, which cost as much as stored values.
    """
    counts = row_nnz[perm]
    n_batches = -(-len(perm) // batch_size)
    padded = np.zeros(n_batches * batch_size, dtype=np.int64)
    padded[: len(counts)] = counts
    return padded_size(int(padded.reshape(n_batches, batch_size).sum(axis=1).max()))


def padded_size(n: int) -> int:
    """``n`` rounded up to a multiple of a sixteenth of the power of two above
    it: one of eight sizes per power of two. Up to 64, that power of two."""
    top = 1 << max(0, n - 1).bit_length()
    if top <= 64:
        return top
    step = top >> 4
    return -(-n // step) * step


def is_sparse_rows(x) -> bool:
    return isinstance(x, SparseRows)
