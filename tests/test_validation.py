"""Bad input is rejected with an error that names it, and changes nothing.

Every case checks the exception type and that its message names what is wrong.
"""

import pickle
import re

import keras
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from numpy.testing import assert_array_equal
from sklearn.datasets import make_blobs
from sklearn.exceptions import NotFittedError

from skce import (
    SparseCEClassifier,
    SparseCECNNClassifier,
    SparseCEMLPClassifier,
    SparseCERNNClassifier,
)

X, Y = make_blobs(n_samples=30, n_features=4, centers=3, random_state=0)

# Small networks: these tests need a fit, not accuracy.
SMALL = {
    SparseCEClassifier: {},
    SparseCEMLPClassifier: {"hidden_layer_sizes": (8,)},
    SparseCECNNClassifier: {"filters": (4,), "dense_units": (8,)},
    SparseCERNNClassifier: {"units": (8,), "embedding_dim": 4},
}

# Estimators that take only 2-D X (the CNN also takes images, the RNN
# sequences, SparseCEClassifier whatever its model takes).
FLAT = (SparseCEMLPClassifier,)
# Estimators that take per-position labels, y of shape (n_samples, n_outputs).
MULTI_OUTPUT = (SparseCEClassifier, SparseCERNNClassifier)


def small(Estimator, **params):
    """A small seeded network trained for two epochs."""
    return Estimator(**{"epochs": 2, "random_state": 0, **SMALL[Estimator], **params})


def replaced(a, index, value, dtype=None):
    """A copy of ``a`` (cast to ``dtype``) with ``value`` at ``index``."""
    a = np.array(a, dtype=dtype)
    a[index] = value
    return a


@pytest.fixture(scope="module")
def fitted_cache():
    return {}


@pytest.fixture
def fitted(Estimator, fitted_cache):
    """A fitted estimator of each class, shared by tests that only read it."""
    if Estimator not in fitted_cache:
        fitted_cache[Estimator] = small(Estimator).fit(X, Y)
    return fitted_cache[Estimator]


# ----------------------------------------------------------------------
# fit: X, y, sample_weight, class_weight and validation data

FIT_CASES = [
    # X
    pytest.param(
        lambda: {"X": replaced(X, (0, 0), np.nan), "y": Y},
        ValueError,
        "Input X contains NaN",
        id="X-nan",
    ),
    pytest.param(
        lambda: {"X": replaced(X, (3, 1), np.inf), "y": Y},
        ValueError,
        "Input X contains infinity",
        id="X-inf",
    ),
    pytest.param(
        lambda: {"X": replaced(X, (0, 0), "abc", dtype=object), "y": Y},
        ValueError,
        "could not convert string to float: 'abc'",
        id="X-string",
    ),
    pytest.param(
        lambda: {"X": X[:, 0], "y": Y},
        ValueError,
        "Expected 2D array, got 1D array",
        id="X-1d",
    ),
    pytest.param(
        lambda: {"X": X[:0], "y": Y[:0]},
        ValueError,
        r"0 sample\(s\)",
        id="X-zero-samples",
    ),
    pytest.param(
        lambda: {"X": X[:, :0], "y": Y},
        ValueError,
        r"0 feature\(s\)",
        id="X-zero-features",
    ),
    pytest.param(
        lambda: {"X": sp.csr_matrix(X), "y": Y},
        TypeError,
        "Sparse data was passed for X",
        id="X-sparse",
    ),
    pytest.param(
        lambda: {"X": X + 1j, "y": Y},
        ValueError,
        "Complex data not supported",
        id="X-complex",
    ),
    pytest.param(
        lambda: {"X": [[1.0, 2.0], [3.0]], "y": [0, 1]},
        ValueError,
        "inhomogeneous|different lengths",
        id="X-ragged",
    ),
    # y
    pytest.param(
        lambda: {"X": X, "y": Y + 0.5},
        ValueError,
        "Unknown label type: continuous",
        id="y-continuous",
    ),
    pytest.param(
        lambda: {"X": X, "y": np.zeros(30)},
        ValueError,
        "1 class",
        id="y-one-class",
    ),
    pytest.param(
        lambda: {"X": X, "y": np.array(["cat"] * 30)},
        ValueError,
        "1 class",
        id="y-one-string-class",
    ),
    pytest.param(
        lambda: {"X": X, "y": Y[:-1]},
        ValueError,
        r"inconsistent numbers of samples: \[30, 29\]",
        id="y-wrong-length",
    ),
    pytest.param(
        lambda: {"X": X, "y": replaced(Y, 0, np.nan, dtype=float)},
        ValueError,
        "Input y contains NaN",
        id="y-nan",
    ),
    pytest.param(
        lambda: {"X": X, "y": replaced(Y, 0, np.inf, dtype=float)},
        ValueError,
        "Input y contains infinity",
        id="y-inf",
    ),
    # sample_weight
    pytest.param(
        lambda: {"X": X, "y": Y, "sample_weight": np.ones(29)},
        ValueError,
        r"sample_weight.shape == \(29,\), expected \(30,\)",
        id="sample_weight-wrong-length",
    ),
    pytest.param(
        lambda: {"X": X, "y": Y, "sample_weight": replaced(np.ones(30), 4, -1.0)},
        ValueError,
        "Negative values in data passed to `sample_weight`",
        id="sample_weight-negative",
    ),
    pytest.param(
        lambda: {"X": X, "y": Y, "sample_weight": np.zeros(30)},
        ValueError,
        "(?i)sample weights must contain at least one non-zero",
        id="sample_weight-all-zero",
    ),
    pytest.param(
        lambda: {"X": X, "y": Y, "sample_weight": replaced(np.ones(30), 0, np.nan)},
        ValueError,
        "Input sample_weight contains NaN",
        id="sample_weight-nan",
    ),
    pytest.param(
        lambda: {"X": X, "y": Y, "sample_weight": replaced(np.ones(30), 0, np.inf)},
        ValueError,
        "Input sample_weight contains infinity",
        id="sample_weight-inf",
    ),
    pytest.param(
        lambda: {"X": X, "y": Y, "sample_weight": np.ones((30, 2))},
        ValueError,
        "Sample weights must be 1D array",
        id="sample_weight-2d",
    ),
    pytest.param(
        lambda: {"X": X, "y": Y, "sample_weight": (Y == 0).astype(float)},
        ValueError,
        "Only one class has a positive sample weight",
        id="sample_weight-one-class-positive",
    ),
    # validation_data
    pytest.param(
        lambda: {"X": X, "y": Y, "validation_data": [X, Y]},
        TypeError,
        r"validation_data must be a tuple .* Received: list",
        id="validation_data-list",
    ),
    pytest.param(
        lambda: {"X": X, "y": Y, "validation_data": (X,)},
        TypeError,
        "validation_data must be a tuple",
        id="validation_data-one-item",
    ),
    pytest.param(
        lambda: {"X": X, "y": Y, "validation_data": (X[:, :3], Y)},
        ValueError,
        "X has 3 features, but .* is expecting 4 features",
        id="validation_data-n_features",
    ),
    pytest.param(
        lambda: {"X": X, "y": Y, "validation_data": (X, Y + 5)},
        ValueError,
        r"y_val has labels that are not among the classes \[0, 1, 2\]",
        id="validation_data-unknown-label",
    ),
    pytest.param(
        lambda: {"X": X, "y": Y, "validation_data": (replaced(X, (0, 0), np.nan), Y)},
        ValueError,
        "Input X contains NaN",
        id="validation_data-nan",
    ),
    pytest.param(
        lambda: {"X": X, "y": Y, "validation_data": (X, Y[:-1])},
        ValueError,
        r"inconsistent numbers of samples: \[30, 29\]",
        id="validation_data-wrong-length",
    ),
    pytest.param(
        lambda: {"X": X, "y": Y, "validation_data": (X, Y, -np.ones(30))},
        ValueError,
        "(?i)negative",
        id="validation_data-negative-weight",
    ),
]


@pytest.mark.parametrize("make, error, match", FIT_CASES)
def test_fit_rejects_bad_data(Estimator, make, error, match):
    """fit rejects bad X, y, sample_weight and validation data by name."""
    with pytest.raises(error, match=match):
        small(Estimator).fit(**make())


@pytest.mark.parametrize(
    "Estimator",
    [e for e in SMALL if e not in MULTI_OUTPUT],
    ids=lambda e: e.__name__,
)
@pytest.mark.parametrize(
    "y, shape",
    [(np.c_[Y, Y], r"\(30, 2\)"), (np.eye(3, dtype=int)[Y], r"\(30, 3\)")],
    ids=["y-2d", "y-multilabel-indicator"],
)
def test_one_label_estimators_reject_2d_y(Estimator, y, shape):
    """Estimators whose networks emit one label per sample reject 2-D y."""
    with pytest.raises(ValueError, match=rf"y should be a 1d array, got .* {shape}"):
        small(Estimator).fit(X, y)


@pytest.mark.parametrize(
    "Estimator",
    [SparseCEMLPClassifier, SparseCECNNClassifier, SparseCERNNClassifier],
    ids=lambda e: e.__name__,
)
def test_5d_X_rejected(Estimator):
    """The built-in networks reject X of a rank they do not take."""
    with pytest.raises(ValueError, match="dim 5|5 dimensions"):
        small(Estimator).fit(X.reshape(30, 1, 2, 2, 1), Y)


def test_model_instance_rejects_X_of_another_sample_shape():
    """A model instance whose input differs from X's samples says both shapes."""
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(3)(inputs))
    with pytest.raises(ValueError, match=r"samples of shape \(1, 2, 2, 1\).*\(4,\)"):
        small(SparseCEClassifier, model=model).fit(X.reshape(30, 1, 2, 2, 1), Y)


@pytest.mark.parametrize("Estimator", FLAT, ids=lambda e: e.__name__)
def test_flat_estimators_reject_3d_X(Estimator):
    """Estimators without an image input reject 3-D X at fit and predict."""
    with pytest.raises(ValueError, match="dim 3, while dim <= 2"):
        small(Estimator).fit(X.reshape(30, 2, 2), Y)
    clf = small(Estimator).fit(X, Y)
    with pytest.raises(ValueError, match="dim 3, while dim <= 2"):
        clf.predict(X.reshape(30, 2, 2))


# ----------------------------------------------------------------------
# Parameters

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
    "params, match",
    [
        pytest.param({"class_weight": {7: 2.0}}, r"not classes of y: \[7\]", id="cw-7"),
        pytest.param(
            {"class_weight": {"0": 2.0}}, r"not classes of y: \['0'\]", id="cw-str"
        ),
        pytest.param(
            {"class_weight": {0: -1.0}}, "finite and non-negative", id="cw-neg"
        ),
        pytest.param(
            {"class_weight": {0: np.inf}}, "finite and non-negative", id="cw-inf"
        ),
        pytest.param(
            {"class_weight": {0: 0.0, 1: 0.0, 2: 0.0}}, "sums to zero", id="cw-zero"
        ),
    ],
)
def test_class_weight_rejected(Estimator, params, match):
    """class_weight naming unknown classes or holding bad weights is rejected."""
    with pytest.raises(ValueError, match=match):
        small(Estimator, **params).fit(X, Y)


def test_validation_split_without_room(Estimator):
    """A validation_split that leaves no training sample says so."""
    with pytest.raises(ValueError, match="leaves no training or no validation"):
        small(Estimator, validation_split=0.9).fit(X[:2], [0, 1])


# ----------------------------------------------------------------------
# partial_fit


def test_partial_fit_classes_missing_a_label(Estimator):
    """classes that do not hold every label of y are named with the strays."""
    with pytest.raises(ValueError, match=r"not among the classes \[0, 1\]: \[2\]"):
        small(Estimator).partial_fit(X, Y, classes=[0, 1])


@pytest.mark.parametrize(
    "y, classes, match",
    [
        pytest.param(np.zeros(30), [0], "1 class", id="one"),
        pytest.param(Y, [[0, 1, 2]], "1d array", id="2d"),
        pytest.param(
            Y, ["a", "b", "c"], r"among the classes \['a', 'b', 'c'\]", id="str"
        ),
        pytest.param(Y, [0, 1, 2, np.nan], "(?i)nan", id="nan"),
    ],
)
def test_partial_fit_bad_classes(Estimator, y, classes, match):
    """A classes argument that cannot describe y is rejected by name."""
    with pytest.raises(ValueError, match=match):
        small(Estimator).partial_fit(X, y, classes=classes)


def test_partial_fit_new_class_later(Estimator):
    """A later partial_fit bringing a class outside classes_ names it."""
    clf = small(Estimator).partial_fit(X, Y, classes=[0, 1, 2])
    with pytest.raises(ValueError, match=r"not among the classes \[0, 1, 2\]: \[3\]"):
        clf.partial_fit(X, Y + 1)


def test_partial_fit_accepts_one_class_batch(Estimator):
    """A mini-batch of one class trains when classes declares the others."""
    clf = small(Estimator).partial_fit(X[Y == 0], Y[Y == 0], classes=[0, 1, 2])
    clf.partial_fit(X[Y == 1], Y[Y == 1])
    assert_array_equal(clf.classes_, [0, 1, 2])
    assert clf.n_iter_ == 2


# ----------------------------------------------------------------------
# SparseCECNNClassifier's image shapes

IMAGES = np.random.RandomState(0).rand(12, 64)
IMAGE_LABELS = np.arange(12) % 2


@pytest.mark.parametrize(
    "X_fit, params, match",
    [
        pytest.param(
            IMAGES,
            {"image_shape": (8, 8, 3)},
            "needs 192 features per sample but X has 64",
            id="image_shape-vs-n_features",
        ),
        pytest.param(
            IMAGES[:, :63],
            {"image_shape": (8, 8)},
            "needs 64 features per sample but X has 63",
            id="image_shape-vs-63-features",
        ),
        pytest.param(
            IMAGES.reshape(12, 8, 8),
            {"image_shape": (4, 16)},
            r"image_shape=\(4, 16\) does not match the images in X, of shape "
            r"\(8, 8, 1\)",
            id="image_shape-vs-3d",
        ),
        pytest.param(
            np.repeat(IMAGES.reshape(12, 1, 8, 8), 3, axis=1),
            {},
            "channels-first",
            id="channels-first",
        ),
        pytest.param(
            IMAGES.reshape(12, 4, 4, 4, 1),
            {},
            "X has 5 dimensions",
            id="5d",
        ),
        pytest.param(
            np.zeros((12, 0, 8, 1)),
            {},
            r"\(0, 8, 1\)",
            id="empty-image-height",
        ),
    ],
)
def test_cnn_rejects_bad_images(X_fit, params, match):
    """Images that do not fit the network are rejected with their shape."""
    clf = small(SparseCECNNClassifier, **params)
    with pytest.raises(ValueError, match=match):
        clf.fit(X_fit, IMAGE_LABELS)


@pytest.mark.parametrize(
    "X_fit",
    [IMAGES, IMAGES.reshape(12, 8, 8, 1)],
    ids=["fitted-flat", "fitted-4d"],
)
def test_cnn_predict_other_image_size(X_fit):
    """Images of another height and width at predict name the fitted shape."""
    clf = small(SparseCECNNClassifier).fit(X_fit, IMAGE_LABELS)
    with pytest.raises(ValueError, match=r"\(8, 8, 1\)"):
        clf.predict(IMAGES.reshape(12, 4, 16, 1))


# ----------------------------------------------------------------------
# Inference

PREDICT_CASES = [
    pytest.param(
        X[:, :3], "X has 3 features, but .* is expecting 4 features", id="n_features"
    ),
    pytest.param(replaced(X, (0, 0), np.nan), "Input X contains NaN", id="nan"),
    pytest.param(replaced(X, (0, 0), -np.inf), "Input X contains infinity", id="inf"),
    pytest.param(
        replaced(X, (0, 0), "abc", dtype=object),
        "could not convert string",
        id="string",
    ),
    pytest.param(X[0], "Expected 2D array, got 1D array", id="1d"),
    pytest.param(X[:0], r"0 sample\(s\)", id="zero-samples"),
]


@pytest.mark.parametrize("method", ["predict", "predict_proba", "predict_log_proba"])
@pytest.mark.parametrize("X_bad, match", PREDICT_CASES)
def test_inference_rejects_bad_X(fitted, method, X_bad, match):
    """predict, predict_proba and predict_log_proba reject bad X by name."""
    with pytest.raises(ValueError, match=match):
        getattr(fitted, method)(X_bad)


@pytest.mark.parametrize(
    "columns", [list("wxyz"), list("dcba")], ids=["renamed", "reordered"]
)
def test_predict_with_other_feature_names(Estimator, columns):
    """A DataFrame whose columns differ from fit's is rejected."""
    clf = small(Estimator).fit(pd.DataFrame(X, columns=list("abcd")), Y)
    with pytest.raises(ValueError, match="feature names"):
        clf.predict(pd.DataFrame(X, columns=columns))


@pytest.mark.parametrize(
    "method", ["predict", "predict_proba", "predict_log_proba", "score"]
)
def test_unfitted_inference(Estimator, method):
    """Every inference method raises NotFittedError before fit."""
    args = (X, Y) if method == "score" else (X,)
    with pytest.raises(NotFittedError, match="is not fitted yet"):
        getattr(small(Estimator), method)(*args)


# ----------------------------------------------------------------------
# A rejected fit changes nothing


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
