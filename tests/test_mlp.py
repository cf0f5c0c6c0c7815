"""SparseCEMLPClassifier: the network its parameters describe."""

import warnings

import keras
import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.datasets import load_wine
from sklearn.exceptions import ConvergenceWarning

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


class _FirstWeights(keras.callbacks.Callback):
    """Records the network's weights as training begins (in a class list:
    skce trains on a copy of the callbacks it is given)."""

    recorded = []

    def on_train_begin(self, logs=None):
        self.recorded.append(self.model.get_weights())


def _initial_weights(clf, X, y):
    """The weights ``clf``'s network starts from."""
    _FirstWeights.recorded.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.set_params(epochs=1, callbacks=[_FirstWeights()]).fit(X, y)
    return _FirstWeights.recorded[0]


@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
def test_an_integer_seed_draws_mlpclassifiers_initial_weights(activation):
    """Kernels and biases are MLPClassifier's draw for the same random_state."""
    from sklearn.neural_network import MLPClassifier

    X, y = load_wine(return_X_y=True)
    sizes = (9, 4)
    skce = SparseCEMLPClassifier(sizes, activation=activation, random_state=7)
    got = _initial_weights(skce, X, y)
    # scikit-learn names the sigmoid "logistic".
    name = {"relu": "relu", "sigmoid": "logistic"}[activation]
    reference = MLPClassifier(sizes, activation=name, random_state=7)
    reference._random_state = np.random.RandomState(7)
    units = [X.shape[1], *sizes, 3]
    expected = [
        array
        for fan_in, fan_out in zip(units[:-1], units[1:], strict=True)
        for array in reference._init_coef(fan_in, fan_out, np.float32)
    ]
    assert [w.shape for w in got] == [w.shape for w in expected]
    for value, want in zip(got, expected, strict=True):
        assert_array_equal(value, want)


def test_mlpclassifier_and_skce_train_alike_from_one_seed():
    """At MLPClassifier's settings and seed, both reach the same probabilities."""
    from sklearn.neural_network import MLPClassifier
    from sklearn.preprocessing import StandardScaler

    X, y = load_wine(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    ours = SparseCEMLPClassifier((16,), epochs=30, dtype="float64", random_state=3)
    theirs = MLPClassifier((16,), max_iter=30, random_state=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours.fit(X, y)
        theirs.fit(X, y)
    # Not to the last bit: skce rounds its initial draw to float32 in every
    # float type (one network a seed), and the two sum in other orders.
    np.testing.assert_allclose(
        ours.predict_proba(X), theirs.predict_proba(X), atol=1e-4
    )
