"""Estimators and data that several test modules share."""

import numpy as np
from sklearn.datasets import make_blobs

from skce import (
    SparseCEClassifier,
    SparseCECNNClassifier,
    SparseCEMLPClassifier,
    SparseCERNNClassifier,
)

ESTIMATORS = (
    SparseCEClassifier,
    SparseCECNNClassifier,
    SparseCEMLPClassifier,
    SparseCERNNClassifier,
)

# Estimators that take only 2-D X (the CNN also takes images, the RNN
# sequences, SparseCEClassifier whatever its model takes).
FLAT = (SparseCEMLPClassifier,)
# Estimators that take per-position labels, y of shape (n_samples, n_outputs).
MULTI_OUTPUT = (SparseCEClassifier, SparseCERNNClassifier)

# Small networks: these tests need a fit, not accuracy.
SMALL = {
    SparseCEClassifier: {},
    SparseCEMLPClassifier: {"hidden_layer_sizes": (8,)},
    SparseCECNNClassifier: {"filters": (4,), "dense_units": (8,)},
    SparseCERNNClassifier: {"units": (8,), "embedding_dim": 4},
}

X, Y = make_blobs(n_samples=30, n_features=4, centers=3, random_state=0)


def fast(Estimator, **params):
    """An estimator with few epochs, for tests that need a fit, not accuracy."""
    return Estimator(
        **{"epochs": 5, "n_iter_no_change": None, "random_state": 0, **params}
    )


def small(Estimator, **params):
    """A small seeded network trained for two epochs."""
    return Estimator(**{"epochs": 2, "random_state": 0, **SMALL[Estimator], **params})


def replaced(a, index, value, dtype=None):
    """A copy of ``a`` (cast to ``dtype``) with ``value`` at ``index``."""
    a = np.array(a, dtype=dtype)
    a[index] = value
    return a
