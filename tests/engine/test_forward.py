"""Compiled inference over chunks of rows."""

import keras
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from skce import SparseCEMLPClassifier


def test_fitted_models_are_freed(blobs):
    """Refits release the previous Keras models (no growth over a search)."""
    import gc
    import weakref

    X, y = blobs
    refs = []
    for seed in range(3):
        clf = SparseCEMLPClassifier((8,), epochs=2, random_state=seed).fit(X, y)
        clf.predict_proba(X)
        refs.append(weakref.ref(clf.model_))
        del clf
    gc.collect()
    assert all(ref() is None for ref in refs)


def test_models_of_one_network_share_their_compiled_inference(blobs):
    """skce's own networks predict through one compiled function per network
    and output (weights as its arguments), each with its own weights."""
    from skce._engine import _forward

    if keras.backend.backend() == "torch":
        pytest.skip("PyTorch runs inference eagerly")
    X, y = blobs
    X = X.astype(np.float32)
    _forward._SHARED_FORWARD.clear()
    first = SparseCEMLPClassifier((8,), epochs=2, random_state=0).fit(X, y)
    proba = first.predict_proba(X)
    assert len(_forward._SHARED_FORWARD) == 1
    second = SparseCEMLPClassifier((8,), epochs=2, random_state=1).fit(X, y)
    other = second.predict_proba(X)
    assert len(_forward._SHARED_FORWARD) == 1
    assert not np.allclose(proba, other)
    for clf, expected in ((first, proba), (second, other)):
        direct = keras.ops.softmax(clf.model_(X, training=False))
        assert_allclose(keras.ops.convert_to_numpy(direct), expected, rtol=1e-5)


def _sequence_data():
    rng = np.random.RandomState(0)
    X = rng.randint(1, 9, (64, 12))
    return X, (X + np.roll(X, 1, axis=1)) % 5


def test_sequence_predictions_are_computed_in_chunks(monkeypatch):
    """Chunks of a few rows give exactly the predictions of one whole call."""
    from skce import SparseCERNNClassifier, _engine
    from skce._engine import _forward

    X, y = _sequence_data()
    clf = SparseCERNNClassifier(units=(8,), epochs=1, random_state=0).fit(X, y)
    whole = np.stack(clf.predict_proba(X))
    labels = clf.predict(X)
    # 12 timesteps x 5 classes = 60 values a row: chunks of 4 rows.
    monkeypatch.setattr(_forward, "CHUNK_VALUES", 250)
    assert _engine.chunk_rows(60) == 4
    chunked = clf.predict_proba(X)
    assert chunked[0].base.shape == (64, 12, 5)
    assert_allclose(np.stack(chunked), whole, rtol=1e-6)
    assert_array_equal(clf.predict(X), labels)


@pytest.mark.parametrize(
    "values_per_row, rows",
    [(3, 1024), (60, 1024), (6500, 512), (25600, 128), (10**8, 1)],
)
def test_chunk_rows(values_per_row, rows):
    """Rows per chunk: a power of two, at most 1024, about 4M output values."""
    from skce._engine import chunk_rows

    assert chunk_rows(values_per_row) == rows
