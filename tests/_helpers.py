"""Estimators and data that several test modules share."""

import keras
import numpy as np
import pytest
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

parametrize_estimators = pytest.mark.parametrize(
    "Estimator", ESTIMATORS, ids=lambda e: e.__name__
)


def blobs_of(n_classes, per_class, seed=0):
    """``per_class`` samples of each of ``n_classes`` blobs in four features."""
    X, y = make_blobs(
        n_samples=[per_class] * n_classes, n_features=4, random_state=seed
    )
    return X, y


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


def sequence_data():
    """Token sequences and per-position labels a small LSTM can learn."""
    rng = np.random.RandomState(0)
    X = rng.randint(1, 9, (64, 12))
    return X, (X + np.roll(X, 1, axis=1)) % 5


def build_lstm(n_classes_, vocabulary_size_, input_shape):
    """An Embedding, an LSTM and per-timestep logits, with seeded weights."""
    inputs = keras.Input(input_shape, dtype="int32")
    x = keras.layers.Embedding(
        vocabulary_size_,
        8,
        embeddings_initializer=keras.initializers.RandomUniform(seed=1),
    )(inputs)
    x = keras.layers.LSTM(
        16,
        return_sequences=True,
        kernel_initializer=keras.initializers.GlorotUniform(2),
        recurrent_initializer=keras.initializers.Orthogonal(seed=3),
    )(x)
    out = keras.layers.Dense(
        n_classes_, kernel_initializer=keras.initializers.GlorotUniform(4)
    )(x)
    return keras.Model(inputs, out)
