"""Small predictions of plain dense networks, computed in NumPy."""

import keras
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import load_digits

from skce import SparseCEClassifier, SparseCECNNClassifier, SparseCEMLPClassifier
from skce._engine import _host

pytestmark = [
    pytest.mark.skipif(
        keras.backend.backend() == "torch", reason="PyTorch has no host inference"
    ),
    pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning"),
]


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return (X / 16).astype(np.float32), y


def _compiled(monkeypatch, method, x):
    """``method(x)`` with the NumPy path switched off."""
    with monkeypatch.context() as patch:
        patch.setattr(_host, "HOST_ROWS", 0)
        return method(x)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("dropout", [0.0, 0.2])
def test_small_requests_give_the_compiled_answers(digits, monkeypatch, dtype, dropout):
    """Labels, probabilities and log-probabilities of a few rows match the
    compiled path's, and they are computed on the host."""
    X, y = digits
    clf = SparseCEMLPClassifier(
        (32, 16), epochs=3, dropout=dropout, dtype=dtype, random_state=0
    ).fit(X, y)
    x = X[:7].astype(dtype)
    assert _host.host_forward(clf.model_, "proba", x) is not None
    for method in (clf.predict, clf.predict_proba, clf.predict_log_proba):
        got, expected = method(x), _compiled(monkeypatch, method, x)
        assert got.dtype == expected.dtype
        if method is clf.predict:
            assert_array_equal(got, expected)
        else:
            assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    one = clf.predict_proba(x[:1])
    assert_allclose(one, _compiled(monkeypatch, clf.predict_proba, x)[:1], rtol=1e-5)


def test_the_host_path_reads_the_current_weights(digits, monkeypatch):
    """Weights changed outside skce are the ones the next prediction uses."""
    X, y = digits
    clf = SparseCEMLPClassifier((16,), epochs=2, random_state=0).fit(X, y)
    before = clf.predict_proba(X[:3])
    weights = clf.model_.get_weights()
    clf.model_.set_weights([w * 0.5 for w in weights])
    after = clf.predict_proba(X[:3])
    assert not np.allclose(before, after)
    assert_allclose(after, _compiled(monkeypatch, clf.predict_proba, X[:3]), rtol=1e-5)


def _branching(meta):
    inputs = keras.Input(meta["input_shape"])
    a = keras.layers.Dense(8, activation="relu")(inputs)
    b = keras.layers.Dense(8, activation="relu")(inputs)
    return keras.Model(inputs, keras.layers.Dense(meta["n_classes_"])(a + b))


def _dense_chain(activation):
    def build(meta):
        inputs = keras.Input(meta["input_shape"])
        x = keras.layers.Dense(8, activation="tanh")(inputs)
        x = keras.layers.Dropout(0.1)(x)
        out = keras.layers.Dense(meta["n_classes_"], activation=activation)(x)
        return keras.Model(inputs, out)

    return build


@pytest.mark.parametrize(
    "estimator, runs_on_host",
    [
        (SparseCEMLPClassifier((8,), activation="sigmoid"), True),
        (SparseCEClassifier(_dense_chain(None)), True),
        (SparseCEClassifier(_dense_chain("softmax")), False),
        (SparseCEClassifier(_branching), False),
        (SparseCEMLPClassifier((8,), dtype="mixed_float16"), False),
        (SparseCEMLPClassifier((8,), activation="gelu"), False),
    ],
    ids=["mlp", "dense-chain", "softmax-output", "branching", "mixed", "gelu"],
)
def test_only_plain_dense_chains_run_on_the_host(blobs, estimator, runs_on_host):
    """Networks the NumPy path cannot reproduce keep the compiled path."""
    X, y = blobs
    X = X.astype(np.float32)
    clf = estimator.set_params(epochs=1, random_state=0).fit(X, y)
    x = X[:2]
    assert (_host.host_forward(clf.model_, "proba", x) is not None) is runs_on_host


def test_large_requests_and_top_k_keep_the_compiled_path(digits):
    """Past HOST_ROWS rows, and for top k, predictions are compiled."""
    X, y = digits
    clf = SparseCEMLPClassifier((16,), epochs=1, random_state=0).fit(X, y)
    assert _host.host_forward(clf.model_, "argmax", X[: _host.HOST_ROWS]) is not None
    assert _host.host_forward(clf.model_, "argmax", X[: _host.HOST_ROWS + 1]) is None
    assert _host.host_forward(clf.model_, "top_k", X[:1]) is None


def test_the_cnn_keeps_the_compiled_path(digits):
    """Convolutions are not a dense chain."""
    X, y = digits
    images = X[:200].reshape(-1, 8, 8, 1)
    clf = SparseCECNNClassifier(filters=(4,), dense_units=(), epochs=1, random_state=0)
    clf.fit(images, y[:200])
    assert _host.host_forward(clf.model_, "proba", images[:1]) is None


class _MonteCarloDropout(keras.layers.Dropout):
    """Dropout that stays random at inference."""

    def call(self, inputs, training=None):
        return super().call(inputs, training=True)


def _mc_dropout(meta):
    inputs = keras.Input(meta["input_shape"])
    x = _MonteCarloDropout(0.5)(keras.layers.Dense(8, activation="relu")(inputs))
    return keras.Model(inputs, keras.layers.Dense(meta["n_classes_"])(x))


def _mixed_dtypes(meta):
    inputs = keras.Input(meta["input_shape"])
    x = keras.layers.Dense(8, activation="relu", dtype="float64")(inputs)
    return keras.Model(inputs, keras.layers.Dense(meta["n_classes_"])(x))


@pytest.mark.parametrize("build", [_mc_dropout, _mixed_dtypes], ids=["mc", "dtypes"])
def test_layers_that_differ_at_inference_keep_the_compiled_path(blobs, build):
    """A dropout subclass that overrides call, or a layer of another float
    type than the model, is not run on the host."""
    X, y = blobs
    X = X.astype(np.float32)
    clf = SparseCEClassifier(build, epochs=1, random_state=0).fit(X, y)
    assert _host.host_forward(clf.model_, "proba", X[:2]) is None


def test_rows_of_another_float_type_keep_the_compiled_path(digits):
    """The NumPy path computes in the network's own float type only."""
    X, y = digits
    clf = SparseCEMLPClassifier((8,), epochs=1, random_state=0).fit(X, y)
    assert _host.host_forward(clf.model_, "proba", X[:2].astype(np.float64)) is None
    assert _host.host_forward(clf.model_, "proba", X[:2]) is not None


def test_a_layer_changed_after_a_first_prediction_is_seen(digits, monkeypatch):
    """A layer given another activation after a small prediction is run as
    it is now, on the host or not."""
    X, y = digits
    clf = SparseCEMLPClassifier((8,), epochs=1, random_state=0).fit(X, y)
    clf.predict_proba(X[:2])
    clf.model_.layers[1].activation = keras.activations.tanh
    got = clf.predict_proba(X[:2])
    assert_allclose(got, _compiled(monkeypatch, clf.predict_proba, X[:2]), rtol=1e-5)


def test_weights_mirrored_by_a_strategy_keep_the_compiled_path(digits):
    """TensorFlow's mirrored variables have no one handle to read."""
    if keras.backend.backend() != "tensorflow":
        pytest.skip("tf.distribute strategies")
    import tensorflow as tf

    with tf.distribute.MirroredStrategy(["/cpu:0"]).scope():
        inputs = keras.Input((64,))
        model = keras.Model(inputs, keras.layers.Dense(10)(inputs))
        assert _host.host_forward(model, "proba", digits[0][:2]) is None
