"""Building, seeding and reading Keras models."""

import keras
import numpy as np
import pytest
from numpy.testing import assert_allclose

from skce import (
    SparseCEClassifier,
)
from tests._helpers import fast


def test_custom_model_builder_conventions(blobs):
    """Builders get meta, named entries or **kwargs; softmax outputs work."""

    X, y = blobs
    seen = {}

    def by_name(n_features_in_, n_classes_, seed):
        seen.update(n_features_in_=n_features_in_, n_classes_=n_classes_)
        inputs = keras.Input((n_features_in_,))
        out = keras.layers.Dense(n_classes_, activation="softmax")(inputs)
        return keras.Model(inputs, out)

    def by_meta(meta):
        return by_name(meta["n_features_in_"], meta["n_classes_"], 0)

    def by_kwargs(**kwargs):
        return by_name(kwargs["n_features_in_"], kwargs["n_classes_"], 0)

    for build in (by_name, by_meta, by_kwargs):
        clf = SparseCEClassifier(build, epochs=100, random_state=0).fit(X, y)
        assert clf.score(X, y) > 0.9
        assert_allclose(clf.predict_proba(X).sum(axis=1), 1.0)
    assert seen == {"n_features_in_": 4, "n_classes_": 3}


def test_custom_model_errors(blobs):
    """Wrong outputs, non-models and unknown arguments get clear errors."""

    X, y = blobs

    def wrong_width(n_features_in_):
        inputs = keras.Input((n_features_in_,))
        return keras.Model(inputs, keras.layers.Dense(2)(inputs))

    with pytest.raises(ValueError, match="must output shape"):
        SparseCEClassifier(wrong_width).fit(X, y)
    with pytest.raises(TypeError, match="must return a keras.Model"):
        SparseCEClassifier(lambda: "model").fit(X, y)
    with pytest.raises(TypeError, match="asks for 'units'"):
        SparseCEClassifier(lambda units: None).fit(X, y)


def test_same_initial_network_whatever_the_dtype(Estimator, blobs):
    """One random_state builds one initial network for float32 and float64 X."""
    X, y = blobs
    params = dict(epochs=1, learning_rate=1e-12, random_state=3)
    w32 = fast(Estimator, **params).fit(X.astype(np.float32), y).model_.get_weights()
    w64 = fast(Estimator, **params).fit(X.astype(np.float64), y).model_.get_weights()
    assert w64[0].dtype == np.float64
    for a, b in zip(w32, w64, strict=True):
        assert_allclose(a, b, rtol=1e-5, atol=1e-6)
