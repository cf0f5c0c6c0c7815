"""On JAX the short last mini-batch runs inside the epoch's scan, padded."""

import keras
import numpy as np
import pytest
from numpy.testing import assert_allclose

from skce import SparseCEClassifier
from skce._engine._rows import rows_independent
from skce._layers import SampleKeyedDropout

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "jax", reason="the scanned epoch is JAX's"
)


class _OwnDense(keras.layers.Dense):
    """A Dense of the user's own class: skce cannot know it is row-wise."""


def _builder(dense):
    def build(n_features_in_, n_classes_):
        inputs = keras.Input((n_features_in_,))
        x = dense(8, activation="tanh", kernel_initializer="glorot_uniform")(inputs)
        x = SampleKeyedDropout(0.3, seed=3)(x)
        out = dense(n_classes_, kernel_initializer="glorot_uniform")(x)
        return keras.Model(inputs, out)

    return build


def _fit(dense, X, y, sample_weight):
    clf = SparseCEClassifier(
        _builder(dense),
        epochs=4,
        batch_size=16,
        optimizer="adam",
        random_state=0,
        n_iter_no_change=None,
    )
    return clf.fit(X, y, sample_weight=sample_weight)


def _traced_steps(monkeypatch):
    """Count the traces of the training step (each enters ``sample_keys``)."""
    from skce._engine import _jax

    traces = []
    original = _jax.sample_keys

    def counting(keys):
        traces.append(keys.shape)
        return original(keys)

    monkeypatch.setattr(_jax, "sample_keys", counting)
    _jax._EPOCH_CACHE.clear()
    return traces


def test_padded_tail_trains_as_the_short_batch(blobs, monkeypatch):
    """The padded last batch reaches the weights of a short one, in one trace."""
    X, y = blobs  # 90 rows: five batches of 16 and one of 10
    X = X.astype(np.float32)
    weights = np.random.default_rng(0).uniform(0.5, 2.0, len(y))
    traces = _traced_steps(monkeypatch)
    padded = _fit(keras.layers.Dense, X, y, weights)
    assert traces == [(16,)]
    traces.clear()
    short = _fit(_OwnDense, X, y, weights)
    assert sorted(traces) == [(10,), (16,)]
    assert_allclose(padded.history_["loss"], short.history_["loss"], rtol=1e-5)
    for a, b in zip(
        padded.model_.get_weights(), short.model_.get_weights(), strict=True
    ):
        assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_rows_independent_networks():
    """Padding is kept to networks that compute each row from that row alone."""
    inputs = keras.Input((4,))

    def model(*layers):
        x = inputs
        for layer in layers:
            x = layer(x)
        return keras.Model(inputs, x)

    assert rows_independent(model(keras.layers.Dense(3), SampleKeyedDropout(0.5)))
    assert not rows_independent(model(keras.layers.BatchNormalization()))
    assert not rows_independent(model(keras.layers.Dropout(0.5)))
    assert not rows_independent(model(_OwnDense(3)))
    assert not rows_independent(model(keras.layers.Dense(3, activity_regularizer="l2")))
    sequences = keras.Input((5, 2))
    lstm = keras.layers.Bidirectional(keras.layers.LSTM(3))
    assert rows_independent(keras.Model(sequences, lstm(sequences)))
