"""Behaviour shared by every estimator: labels, weights, state, reproducibility."""

import pickle
import random
import re

import keras
import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning, NotFittedError

from skce import (
    SparseCEClassifier,
    SparseCECNNClassifier,
    SparseCEMLPClassifier,
    SparseCERNNClassifier,
)
from tests._helpers import X, Y, fast, replaced, small


def test_unfitted_raises(Estimator, blobs):
    """Inference before fit raises NotFittedError."""
    X, _ = blobs
    for method in ("predict", "predict_proba", "predict_log_proba"):
        with pytest.raises(NotFittedError):
            getattr(Estimator(), method)(X)


def test_same_seed_same_predictions(Estimator, blobs):
    """A fixed random_state gives identical predictions on every fit."""
    X, y = blobs
    a = fast(Estimator, random_state=3).fit(X, y).predict_proba(X)
    b = fast(Estimator, random_state=3).fit(X, y).predict_proba(X)
    assert_array_equal(a, b)


def test_fit_leaves_global_state_alone(Estimator, blobs):
    """fit neither reseeds the caller's RNGs nor changes Keras's float type."""
    X, y = blobs
    random.seed(1)
    np.random.seed(1)
    py_state, np_state = random.getstate(), np.random.get_state()
    floatx, policy = keras.config.floatx(), keras.config.dtype_policy().name
    fast(Estimator, random_state=0).fit(X, y)
    assert random.getstate() == py_state
    assert_array_equal(np.random.get_state()[1], np_state[1])
    assert keras.config.floatx() == floatx
    assert keras.config.dtype_policy().name == policy


@pytest.mark.parametrize(
    "X_dtype, param, expected",
    [
        (np.float32, None, "float32"),
        (np.float64, None, "float64"),
        (np.int64, None, "float64"),
        (np.float64, "float32", "float32"),
    ],
)
def test_compute_dtype(X_dtype, param, expected, blobs):
    """The network computes in X's float type unless dtype says otherwise."""
    X, y = blobs
    clf = fast(SparseCEMLPClassifier, dtype=param).fit(X.astype(X_dtype), y)
    assert clf.model_.compute_dtype == expected
    assert clf.predict_proba(X).dtype == np.dtype(expected)


def test_partial_fit_rejects_new_class(blobs):
    """A label outside the first call's classes is an error that keeps state."""
    X, y = blobs
    clf = SparseCEMLPClassifier(random_state=0).partial_fit(X, y, classes=[0, 1, 2])
    before = clf.predict_proba(X)
    with pytest.raises(ValueError, match="not among the classes"):
        clf.partial_fit(X, np.where(y == 2, 5, y))
    assert_array_equal(clf.predict_proba(X), before)
    assert clf.n_iter_ == 1


def test_warm_start_continues_exactly(blobs):
    """Two warm fits of 5 epochs equal one fit of 10 (weights and optimizer)."""
    X, y = blobs
    params = dict(shuffle=False, batch_size=len(X), random_state=0)
    once = SparseCEMLPClassifier(epochs=10, **params).fit(X, y)
    twice = SparseCEMLPClassifier(epochs=5, warm_start=True, **params)
    twice.fit(X, y).fit(X, y)
    assert_allclose(twice.predict_proba(X), once.predict_proba(X), rtol=1e-10)


def test_rejected_fit_keeps_fitted_state(Estimator, blobs):
    """A fit rejected by validation leaves the previous fit untouched."""
    X, y = blobs
    clf = fast(Estimator).fit(X, y)
    model, proba = clf.model_, clf.predict_proba(X)
    with pytest.raises(ValueError):
        clf.fit(X[:, :2], np.full(len(X), 0.5))
    assert clf.model_ is model
    assert clf.n_features_in_ == X.shape[1]
    assert_array_equal(clf.predict_proba(X), proba)


def test_diverging_fit_raises_and_stays_unfitted(blobs):
    """A non-finite loss raises a clear error and leaves no fitted model."""
    X, y = blobs
    clf = SparseCEMLPClassifier(epochs=5, optimizer="sgd", learning_rate=1e30)
    with pytest.raises(FloatingPointError, match="lower learning_rate"):
        clf.fit(X * 1e10, y)
    assert not hasattr(clf, "model_")


class _Interrupt(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 1:
            raise KeyboardInterrupt


def test_interrupted_fit_keeps_previous_state(blobs):
    """KeyboardInterrupt mid-fit restores the previous fit; fit works after."""
    X, y = blobs
    clf = fast(SparseCEMLPClassifier, warm_start=True).fit(X, y)
    proba = clf.predict_proba(X)
    clf.set_params(callbacks=[_Interrupt()])
    with pytest.raises(KeyboardInterrupt):
        clf.fit(X, y)
    assert_array_equal(clf.predict_proba(X), proba)
    clf.set_params(callbacks=None, warm_start=False).fit(X, y)
    assert clf.n_iter_ == 5


# ----------------------------------------------------------------------
# partial_fit and warm_start, as in MLPClassifier and SGDClassifier


def test_partial_fit_other_classes_later_raises(blobs):
    """A later partial_fit with classes unlike the first call's is an error."""
    X, y = blobs
    clf = fast(SparseCEMLPClassifier).partial_fit(X, y, classes=[0, 1, 2])
    clf.partial_fit(X, y, classes=[2, 1, 0])  # the same classes, in any order
    clf.partial_fit(X, y)
    with pytest.raises(ValueError, match=r"not the same as on the first call"):
        clf.partial_fit(X, y, classes=[0, 1, 2, 3])
    assert clf.n_iter_ == 3


def test_class_weight_balanced_rejected_in_partial_fit(blobs):
    """class_weight='balanced' cannot be computed from one mini-batch."""
    X, y = blobs
    clf = fast(SparseCEMLPClassifier, class_weight="balanced")
    with pytest.raises(ValueError, match="compute_class_weight"):
        clf.partial_fit(X, y, classes=[0, 1, 2])
    assert not hasattr(clf, "model_")


def test_float64_on_an_accelerator_warns(blobs, monkeypatch):
    """float64 training on a GPU says how to get float32; float32 says nothing."""
    import warnings

    from skce import _engine

    X, y = blobs
    monkeypatch.setattr(_engine, "accelerator", lambda: "gpu")
    with pytest.warns(UserWarning, match=r"float64 on a GPU.*astype\(np.float32\)"):
        fast(SparseCEMLPClassifier, epochs=1).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        fast(SparseCEMLPClassifier, epochs=1).fit(X.astype(np.float32), y)


# ----------------------------------------------------------------------
# Mixed precision and top-k


@pytest.mark.parametrize("dtype", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_precision_trains_and_predicts(dtype, blobs):
    """A mixed policy computes in half precision with float32 weights and outputs."""
    X, y = blobs
    X = (X - X.mean(0)) / X.std(0)
    clf = SparseCEMLPClassifier(
        (16,), epochs=40, learning_rate=0.01, random_state=0, dtype=dtype
    ).fit(X, y)
    assert clf.model_.dtype_policy.name == dtype
    assert clf.model_.compute_dtype == dtype.removeprefix("mixed_")
    assert all(w.dtype == np.float32 for w in clf.model_.get_weights())
    proba = clf.predict_proba(X)
    assert proba.dtype == np.float32
    assert_allclose(proba.sum(axis=1), 1, atol=1e-5)
    assert clf.score(X, y) > 0.9
    assert isinstance(clf.model_.optimizer, keras.optimizers.LossScaleOptimizer) == (
        dtype == "mixed_float16"
    )


# (parameter, value, error): out of range is a ValueError, a wrong type a
# TypeError. A tuple holding a wrong element is a bad value of the tuple.
COMMON_PARAMS = [
    ("epochs", 0, ValueError),
    ("epochs", -1, ValueError),
    ("epochs", 1.5, TypeError),
    ("epochs", "10", TypeError),
    ("epochs", None, TypeError),
    ("batch_size", 0, ValueError),
    ("batch_size", -2, ValueError),
    ("batch_size", "big", ValueError),
    ("batch_size", 1.5, TypeError),
    ("learning_rate", 0, ValueError),
    ("learning_rate", -1, ValueError),
    ("learning_rate", "0.1", TypeError),
    ("learning_rate", np.nan, ValueError),
    ("alpha", -1, ValueError),
    ("alpha", "x", TypeError),
    ("validation_split", 1.0, ValueError),
    ("validation_split", -0.1, ValueError),
    ("optimizer", "nope", ValueError),
    ("optimizer", 3, TypeError),
    ("optimizer", keras.optimizers.Adam, TypeError),
    ("n_iter_no_change", 0, ValueError),
    ("n_iter_no_change", 1.5, TypeError),
    ("tol", -1e-3, ValueError),
    ("tol", "small", TypeError),
    ("class_weight", "x", ValueError),
    ("class_weight", [1.0, 2.0], TypeError),
    ("dtype", "float16", ValueError),
    ("dtype", "int32", ValueError),
    ("shuffle", "yes", TypeError),
    ("early_stopping", "yes", TypeError),
    ("warm_start", "yes", TypeError),
    ("callbacks", "x", TypeError),
    ("callbacks", [1], TypeError),
    ("callbacks", [keras.callbacks.History], TypeError),
    ("random_state", "x", TypeError),
    ("random_state", -1, ValueError),
    ("verbose", -1, ValueError),
    ("ignore_label", 1.5, TypeError),
    ("ignore_label", [-100], TypeError),
]


OWN_PARAMS = [
    (SparseCEClassifier, "model", "x", TypeError),
    (SparseCEClassifier, "model", 3, TypeError),
    (SparseCEMLPClassifier, "hidden_layer_sizes", (0,), ValueError),
    (SparseCEMLPClassifier, "hidden_layer_sizes", (-3,), ValueError),
    (SparseCEMLPClassifier, "hidden_layer_sizes", (8, 0), ValueError),
    (SparseCEMLPClassifier, "hidden_layer_sizes", ("a",), ValueError),
    (SparseCEMLPClassifier, "hidden_layer_sizes", (5.0,), ValueError),
    (SparseCEMLPClassifier, "hidden_layer_sizes", 5, TypeError),
    (SparseCEMLPClassifier, "dropout", 1.0, ValueError),
    (SparseCEMLPClassifier, "dropout", -0.1, ValueError),
    (SparseCEMLPClassifier, "dropout", "x", TypeError),
    (SparseCEMLPClassifier, "activation", "nope", ValueError),
    (SparseCEMLPClassifier, "activation", "softmax", ValueError),
    (SparseCEMLPClassifier, "activation", None, TypeError),
    (SparseCECNNClassifier, "filters", (0,), ValueError),
    (SparseCECNNClassifier, "filters", (-1,), ValueError),
    (SparseCECNNClassifier, "filters", ("a",), ValueError),
    (SparseCECNNClassifier, "filters", 5, TypeError),
    (SparseCECNNClassifier, "dense_units", (0,), ValueError),
    (SparseCECNNClassifier, "dense_units", ("a",), ValueError),
    (SparseCECNNClassifier, "dense_units", 5, TypeError),
    (SparseCECNNClassifier, "kernel_size", 0, ValueError),
    (SparseCECNNClassifier, "kernel_size", 1.5, TypeError),
    (SparseCECNNClassifier, "kernel_size", (3, 3), TypeError),
    (SparseCECNNClassifier, "pool_size", 0, ValueError),
    (SparseCECNNClassifier, "pool_size", (2, 2), TypeError),
    (SparseCECNNClassifier, "image_shape", (0, 4), ValueError),
    (SparseCECNNClassifier, "image_shape", (-2, -2), ValueError),
    (SparseCECNNClassifier, "image_shape", (4,), ValueError),
    (SparseCECNNClassifier, "image_shape", (2, 2, 1, 1), ValueError),
    (SparseCECNNClassifier, "image_shape", (2.0, 2.0), ValueError),
    (SparseCECNNClassifier, "image_shape", "2x2", TypeError),
    (SparseCECNNClassifier, "dropout", 1.0, ValueError),
    (SparseCECNNClassifier, "dropout", -0.1, ValueError),
    (SparseCECNNClassifier, "activation", "nope", ValueError),
    (SparseCERNNClassifier, "units", (0,), ValueError),
    (SparseCERNNClassifier, "units", (), ValueError),
    (SparseCERNNClassifier, "units", ("a",), ValueError),
    (SparseCERNNClassifier, "units", 8, TypeError),
    (SparseCERNNClassifier, "embedding_dim", 0, ValueError),
    (SparseCERNNClassifier, "embedding_dim", 2.5, TypeError),
    (SparseCERNNClassifier, "cell", "rnn", ValueError),
    (SparseCERNNClassifier, "cell", None, TypeError),
    (SparseCERNNClassifier, "bidirectional", "yes", TypeError),
    (SparseCERNNClassifier, "dropout", 1.0, ValueError),
    (SparseCERNNClassifier, "mask_zero", "yes", TypeError),
    (SparseCERNNClassifier, "vocabulary_size", 0, ValueError),
    (SparseCERNNClassifier, "vocabulary_size", 5.0, TypeError),
]


def _param_id(value):
    if isinstance(value, list):
        return f"[{', '.join(_param_id(v) for v in value)}]"
    return getattr(value, "__name__", repr(value))


def _names_param(name, value):
    """A pattern for a message naming the parameter and the value received."""
    return rf"{name}\b.*{re.escape(repr(value))}"


@pytest.mark.parametrize(
    "name, value, error",
    [
        pytest.param(*case, id=f"{case[0]}={_param_id(case[1])}")
        for case in COMMON_PARAMS
    ],
)
def test_shared_parameter_rejected(Estimator, name, value, error):
    """A shared training parameter out of range or of the wrong type is rejected."""
    with pytest.raises(error, match=_names_param(name, value)):
        small(Estimator, **{name: value}).fit(X, Y)


@pytest.mark.parametrize(
    "Estimator, name, value, error",
    [
        pytest.param(*case, id=f"{case[0].__name__}-{case[1]}={_param_id(case[2])}")
        for case in OWN_PARAMS
    ],
)
def test_own_parameter_rejected(Estimator, name, value, error):
    """An estimator's own parameter out of range or of the wrong type is rejected."""
    with pytest.raises(error, match=_names_param(name, value)):
        small(Estimator, **{name: value}).fit(X, Y)


@pytest.mark.parametrize(
    "method", ["predict", "predict_proba", "predict_log_proba", "score"]
)
def test_unfitted_inference(Estimator, method):
    """Every inference method raises NotFittedError before fit."""
    args = (X, Y) if method == "score" else (X,)
    with pytest.raises(NotFittedError, match="is not fitted yet"):
        getattr(small(Estimator), method)(*args)


def _nan_weights():
    return replaced(np.ones(30), 0, np.nan)


REJECTED = [
    pytest.param(lambda clf: clf.fit(replaced(X, (0, 0), np.nan), Y), id="X-nan"),
    pytest.param(
        lambda clf: clf.fit(X[:, :3], np.zeros(30)), id="X-narrower-one-class"
    ),
    pytest.param(
        lambda clf: clf.fit(pd.DataFrame(X, columns=list("abcd")), Y[:-1]),
        id="dataframe-y-wrong-length",
    ),
    pytest.param(lambda clf: clf.fit(X, Y, sample_weight=-np.ones(30)), id="weights"),
    pytest.param(
        lambda clf: clf.set_params(class_weight={7: 1.0}).fit(X, Y),
        id="class_weight-unknown",
    ),
    pytest.param(lambda clf: clf.set_params(epochs=0).fit(X, Y), id="epochs-0"),
    pytest.param(lambda clf: clf.partial_fit(X, Y + 1), id="partial_fit-new-class"),
    pytest.param(
        lambda clf: clf.partial_fit(X, Y, sample_weight=_nan_weights()),
        id="partial_fit-nan-weights",
    ),
    pytest.param(
        lambda clf: clf.set_params(warm_start=True).fit(X, Y + 1),
        id="warm_start-new-class",
    ),
]


@pytest.mark.parametrize("reject", REJECTED)
def test_rejected_fit_changes_nothing(fitted, reject):
    """After a rejected fit the estimator predicts and describes itself as before."""
    clf = pickle.loads(pickle.dumps(fitted))
    model, attributes = clf.model_, sorted(vars(clf))
    proba = clf.predict_proba(X)
    weights = clf.model_.get_weights()
    history, n_iter = {k: list(v) for k, v in clf.history_.items()}, clf.n_iter_
    with pytest.raises((ValueError, TypeError)):
        reject(clf)
    assert clf.model_ is model
    assert sorted(vars(clf)) == attributes
    assert clf.n_features_in_ == X.shape[1]
    assert_array_equal(clf.classes_, [0, 1, 2])
    assert clf.history_ == history and clf.n_iter_ == n_iter
    for before, after in zip(weights, clf.model_.get_weights(), strict=True):
        assert_array_equal(after, before)
    assert_array_equal(clf.predict_proba(X), proba)
    if isinstance(clf, SparseCECNNClassifier):
        assert clf.image_shape_ == (2, 2, 1)
