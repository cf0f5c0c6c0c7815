"""SparseCEClassifier with models as Keras users hand them over."""

import keras
import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV

from skce import SparseCEClassifier


def _functional(n_features=4, n_classes=3, seed=0):
    inputs = keras.Input((n_features,))
    hidden = keras.layers.Dense(
        8, activation="tanh", kernel_initializer=keras.initializers.GlorotUniform(seed)
    )(inputs)
    out = keras.layers.Dense(
        n_classes, kernel_initializer=keras.initializers.GlorotUniform(seed + 1)
    )(hidden)
    return keras.Model(inputs, out)


@keras.saving.register_keras_serializable(package="skce_tests")
class TwoLayerNet(keras.Model):
    def __init__(self, n_classes=3, **kwargs):
        super().__init__(**kwargs)
        self.n_classes = n_classes
        self.hidden = keras.layers.Dense(
            8, activation="relu", kernel_initializer=keras.initializers.GlorotUniform(1)
        )
        self.out = keras.layers.Dense(
            n_classes, kernel_initializer=keras.initializers.GlorotUniform(2)
        )

    def call(self, inputs):
        return self.out(self.hidden(inputs))

    def get_config(self):
        return {**super().get_config(), "n_classes": self.n_classes}


def _X32(blobs):
    X, y = blobs
    return X.astype(np.float32), y


def test_model_instance_is_copied_and_fine_tuned(blobs):
    """An instance trains as a copy from its weights; the instance is unchanged."""
    X, y = _X32(blobs)
    model = _functional()
    before = [w.copy() for w in model.get_weights()]
    clf = SparseCEClassifier(model, epochs=40, random_state=0).fit(X, y)
    assert clf.model_ is not model
    for a, b in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert clf.score(X, y) > 0.9
    # Training starts from the instance's weights: no step changes nothing.
    still = SparseCEClassifier(model, epochs=1, learning_rate=1e-12).fit(X, y)
    assert_allclose(still.predict_proba(X), keras.ops.softmax(model(X)), rtol=1e-4)


def test_model_instance_in_a_search_shares_no_state(blobs):
    """Clones of an estimator holding an instance train independently."""
    X, y = _X32(blobs)
    est = SparseCEClassifier(_functional(), epochs=5, random_state=0)
    a = clone(est).fit(X, y).predict_proba(X)
    search = GridSearchCV(est, {"learning_rate": [0.01, 0.02]}, cv=2).fit(X, y)
    b = clone(est).fit(X, y).predict_proba(X)
    assert_allclose(a, b, rtol=1e-6)
    assert search.best_estimator_.model_ is not est.model


def test_model_instance_dtype_conflict(blobs):
    """A float32 instance with dtype='float64' is refused, naming the fix."""
    X, y = _X32(blobs)
    with pytest.raises(ValueError, match="trains in its own float type"):
        SparseCEClassifier(_functional(), dtype="float64").fit(X, y)


@pytest.mark.parametrize("as_instance", [False, True], ids=["builder", "instance"])
def test_subclassed_model(blobs, as_instance):
    """A subclassed keras.Model is built on the data's shape and trains."""
    X, y = _X32(blobs)

    def build(n_classes_):
        return TwoLayerNet(n_classes_)

    model = TwoLayerNet() if as_instance else build
    clf = SparseCEClassifier(model, epochs=30, random_state=0).fit(X, y)
    assert clf.score(X, y) > 0.9
    assert clf.predict_proba(X).shape == (len(X), 3)


def test_subclassed_model_with_wrong_output(blobs):
    """A subclassed model with the wrong number of classes is refused."""
    X, y = _X32(blobs)
    with pytest.raises(ValueError, match=r"Received: output shape \(None, 5\)"):
        SparseCEClassifier(lambda: TwoLayerNet(5), epochs=1).fit(X, y)


def test_multi_output_model_rejected_before_training(blobs):
    """Two outputs are a clear ValueError raised before any training."""
    X, y = _X32(blobs)

    def build(n_features_in_, n_classes_):
        inputs = keras.Input((n_features_in_,))
        return keras.Model(
            inputs,
            [keras.layers.Dense(n_classes_)(inputs), keras.layers.Dense(2)(inputs)],
        )

    clf = SparseCEClassifier(build, epochs=1)
    with pytest.raises(ValueError, match="has 2 outputs"):
        clf.fit(X, y)
    assert not hasattr(clf, "model_")
