"""Per-sample keys for skce's dropout masks."""

import numpy as np
from numpy.testing import assert_array_equal

from skce._engine import row_keys


def test_row_keys_exact_and_dtype_free():
    """Equal rows share a key whatever their dtype; distinct rows do not."""
    rng = np.random.RandomState(0)
    X = rng.rand(5000, 7).astype(np.float32)
    X[10] = X[3]
    keys32 = row_keys(X)
    keys64 = row_keys(X.astype(np.float64))
    assert keys32.dtype == np.int32
    assert_array_equal(keys32, keys64)
    assert keys32[10] == keys32[3]
    assert len(np.unique(keys32)) == len(X) - 1
    # Images hash like their flattened rows; rows are hashed independently.
    assert_array_equal(row_keys(X.reshape(5000, 7, 1)), keys32)
    assert_array_equal(row_keys(X[::-1]), keys32[::-1])
