"""SparseCEClassifier on the model builder Keras tests its own wrapper with."""

import keras
import pytest
from sklearn.utils.estimator_checks import (
    parametrize_with_checks,
)

from skce import SparseCEClassifier
from tests._keras_builders import dynamic_model, linear_model, softmax_model


@parametrize_with_checks(
    [
        SparseCEClassifier(build, epochs=epochs, random_state=0)
        for build in (softmax_model, linear_model)
        for epochs in (5, 20)
    ]
)
def test_keras_dynamic_model_passes_every_check(estimator, check):
    """A single-output builder passes every check, multi-output ones included."""
    check(estimator)


def test_multi_output_tag_follows_the_model():
    """Only a model that declares per-position output sets multi_output."""

    def per_position(n_outputs_, n_classes_, input_shape):
        inputs = keras.Input(input_shape)
        x = keras.layers.Dense(n_outputs_ * n_classes_)(inputs)
        return keras.Model(inputs, keras.layers.Reshape((n_outputs_, n_classes_))(x))

    flat = dynamic_model(4, 3, "softmax")
    sequence = per_position(5, 3, (4,))

    def tag(model):
        return SparseCEClassifier(model).__sklearn_tags__().target_tags.multi_output

    assert tag(None) and tag(per_position) and tag(sequence)
    assert not tag(softmax_model) and not tag(flat)


def test_undeclared_builder_still_takes_per_position_labels(rng):
    """A builder reading n_outputs_ from meta trains on 2-D y without the tag."""
    X = rng.rand(40, 4)
    y = (X[:, :3] > 0.5).astype(int)

    def build(meta):
        n_outputs, n_classes = meta["n_outputs_"], meta["n_classes_"]
        inputs = keras.Input(meta["input_shape"])
        x = keras.layers.Dense(n_outputs * n_classes)(inputs)
        return keras.Model(inputs, keras.layers.Reshape((n_outputs, n_classes))(x))

    clf = SparseCEClassifier(build, epochs=2, random_state=0)
    assert not clf.__sklearn_tags__().target_tags.multi_output
    assert clf.fit(X, y).predict(X).shape == y.shape


@pytest.mark.parametrize("build", [softmax_model, linear_model])
def test_dynamic_model_learns(build, blobs):
    """Keras's test builder trains to a good score with either output."""
    X, y = blobs
    assert (
        SparseCEClassifier(build, epochs=50, random_state=0).fit(X, y).score(X, y) > 0.9
    )
