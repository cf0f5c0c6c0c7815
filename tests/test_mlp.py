"""SparseCEMLPClassifier: the network its parameters describe."""

import keras
import numpy as np
import pytest
from numpy.testing import assert_array_equal

from skce import SparseCEMLPClassifier
from skce._layers import SampleKeyedDropout


def _dense_layers(model):
    return [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]


def test_hidden_layers_follow_the_parameters(blobs):
    """One Dense layer per hidden size, with the activation, then the logits."""
    X, y = blobs
    clf = SparseCEMLPClassifier((7, 5), activation="tanh", epochs=1, random_state=0)
    dense = _dense_layers(clf.fit(X, y).model_)
    assert [layer.units for layer in dense] == [7, 5, 3]
    names = [layer.activation.__name__ for layer in dense]
    assert names == ["tanh", "tanh", "linear"]
    assert not any(isinstance(layer, SampleKeyedDropout) for layer in clf.model_.layers)


def test_dropout_follows_each_hidden_layer(blobs):
    """dropout > 0 puts skce's keyed dropout after every hidden layer."""
    X, y = blobs
    clf = SparseCEMLPClassifier((6, 4), dropout=0.25, epochs=1, random_state=0)
    dropouts = [
        layer
        for layer in clf.fit(X, y).model_.layers
        if isinstance(layer, SampleKeyedDropout)
    ]
    assert [layer.rate for layer in dropouts] == [0.25, 0.25]


def test_no_hidden_layer_is_a_linear_model(blobs):
    """hidden_layer_sizes=() trains softmax regression: the logits layer alone."""
    X, y = blobs
    clf = SparseCEMLPClassifier((), epochs=50, learning_rate=0.05, random_state=0)
    clf.fit(X, y)
    assert [layer.units for layer in _dense_layers(clf.model_)] == [3]
    assert clf.score(X, y) > 0.9


def test_list_and_tuple_sizes_train_the_same_network(blobs):
    """A list of sizes is the same parameter as the tuple."""
    X, y = blobs
    a = SparseCEMLPClassifier([8], epochs=3, random_state=0).fit(X, y)
    b = SparseCEMLPClassifier((8,), epochs=3, random_state=0).fit(X, y)
    assert_array_equal(a.predict_proba(X), b.predict_proba(X))


@pytest.mark.parametrize("sizes", [(0,), (8, -1), (2.5,), ("8",)])
def test_bad_hidden_layer_sizes_are_rejected_before_training(blobs, sizes):
    """Sizes that are not positive integers are a ValueError; a fitted
    estimator keeps its network."""
    X, y = blobs
    clf = SparseCEMLPClassifier((4,), epochs=1, random_state=0).fit(X, y)
    before = clf.predict_proba(X)
    clf.set_params(hidden_layer_sizes=sizes)
    with pytest.raises(ValueError, match="hidden_layer_sizes must hold positive"):
        clf.fit(X, y)
    assert_array_equal(clf.predict_proba(X), before)
    assert np.all(np.isfinite(before))
