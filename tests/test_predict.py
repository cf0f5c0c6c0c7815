"""Inference: labels, probabilities, top k, chunks and threads."""

import warnings
from concurrent.futures import ThreadPoolExecutor

import keras
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import load_digits

from skce import SparseCEClassifier, SparseCEMLPClassifier
from tests._helpers import blobs_of, fast, parametrize_estimators, small

# Each example is a fit: few examples, no deadline, the same examples every run.
FEW = settings(max_examples=5, deadline=None, derandomize=True)


_no_nul = st.characters(blacklist_characters="\x00")


def _ints(dtype):
    info = np.iinfo(dtype)
    values = st.lists(
        st.integers(int(info.min), int(info.max)), min_size=2, max_size=4, unique=True
    )
    return values.map(lambda v: np.array(v, dtype=dtype))


LABEL_SETS = st.one_of(
    st.sampled_from(["int8", "uint8", "int16", "uint16", "int32", "int64"]).flatmap(
        _ints
    ),
    st.lists(st.text(_no_nul, max_size=4), min_size=2, max_size=4, unique=True).map(
        np.array
    ),
    st.lists(st.text(_no_nul, max_size=4), min_size=2, max_size=4, unique=True).map(
        lambda v: np.array(v, dtype=object)
    ),
    st.lists(st.integers(-1000, 1000), min_size=2, max_size=4, unique=True).map(
        lambda v: np.array(v, dtype=float)
    ),
)


@parametrize_estimators
@FEW
@given(labels=LABEL_SETS, strided=st.booleans())
def test_predict_returns_labels_of_y(Estimator, labels, strided):
    """Any label set trains, and predict returns labels of classes_ in y's kind."""
    X, index = blobs_of(len(labels), 6)
    y = labels[index]
    if strided:
        X, y = np.repeat(X, 2, axis=0)[::2], np.repeat(y, 2)[::2]
        assert not y.flags.contiguous
    clf = small(Estimator).fit(X, y)
    assert_array_equal(clf.classes_, np.unique(labels))
    pred = clf.predict(X)
    assert pred.shape == y.shape
    assert pred.dtype.kind == y.dtype.kind
    assert set(pred.tolist()) <= set(labels.tolist())
    assert clf.predict_proba(X).shape == (len(y), len(labels))


@parametrize_estimators
@settings(max_examples=2, deadline=None, derandomize=True)
@given(n_classes=st.integers(30, 60))
def test_many_classes(Estimator, n_classes):
    """Dozens of classes of two samples each give one column per class."""
    X, y = blobs_of(n_classes, 2)
    clf = small(Estimator).fit(X, y)
    assert_array_equal(clf.classes_, np.arange(n_classes))
    proba = clf.predict_proba(X)
    assert proba.shape == (2 * n_classes, n_classes)
    assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert_array_equal(clf.classes_[proba.argmax(axis=1)], clf.predict(X))


@parametrize_estimators
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_concurrent_inference_matches_serial(Estimator, dtype):
    """Four threads predicting on one estimator get the serial answers."""
    X, y = blobs_of(3, 10)
    clf = small(Estimator, dtype=dtype).fit(X, y)
    batches = [X[i:] for i in range(16)]
    # Threads first, so that they also race to compile the inference functions.
    with ThreadPoolExecutor(max_workers=4) as pool:
        probas = list(pool.map(clf.predict_proba, batches))
        labels = list(pool.map(clf.predict, batches))
    for batch, proba, label in zip(batches, probas, labels, strict=True):
        assert_array_equal(proba, clf.predict_proba(batch))
        assert_array_equal(label, clf.predict(batch))


@parametrize_estimators
def test_concurrent_inference_leaves_keras_config(Estimator):
    """Threads predicting in float64 leave Keras's global float type as it was."""
    X, y = blobs_of(3, 10)
    clf = small(Estimator, dtype="float64").fit(X, y)
    X = np.resize(X, (3000, X.shape[1]))
    keras.config.set_floatx("float32")
    keras.config.set_dtype_policy("float32")
    # A race shows only now and then: give it a few rounds to show.
    for _ in range(5):
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(clf.predict_proba, [X] * 16))
        assert keras.config.floatx() == "float32"
        assert keras.config.dtype_policy().name == "float32"


@pytest.mark.parametrize(
    "labels",
    [
        np.array([10, 20, 50]),
        np.array([0, 1, 2], dtype=np.uint8),
        np.array(["cat", "dog", "eel"]),
        np.array(["cat", "dog", "eel"], dtype=object),
        np.array([-1.0, 2.0, 7.0]),
    ],
    ids=["sparse-int", "uint8", "str", "object", "float-codes"],
)
def test_labels_come_back_as_given(Estimator, blobs, labels):
    """Any label type trains and predicts the same labels with the same dtype."""
    X, y = blobs
    y = labels[y]
    clf = fast(Estimator).fit(X, y)
    assert_array_equal(clf.classes_, np.unique(labels))
    pred = clf.predict(X)
    assert pred.dtype == y.dtype
    assert set(pred) <= set(labels)


def test_proba_matches_predict(Estimator, blobs):
    """Probabilities sum to one, their argmax is predict, and logs agree."""
    X, y = blobs
    clf = fast(Estimator).fit(X, y)
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), 3)
    assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert_array_equal(clf.classes_[proba.argmax(axis=1)], clf.predict(X))
    assert_allclose(np.exp(clf.predict_log_proba(X)), proba, rtol=1e-6)


def test_predict_top_k(blobs):
    """Top-k labels and probabilities agree with predict_proba, best first."""
    X, y = blobs
    labels = np.array(["ant", "bee", "cat"])
    clf = fast(SparseCEMLPClassifier).fit(X, labels[y])
    top, proba = clf.predict_top_k(X, k=2)
    full = clf.predict_proba(X)
    order = np.argsort(-full, axis=1)[:, :2]
    assert top.shape == proba.shape == (len(X), 2)
    assert_array_equal(top, clf.classes_[order])
    assert_allclose(proba, np.take_along_axis(full, order, axis=1), rtol=1e-6)
    assert_array_equal(top[:, 0], clf.predict(X))
    for k in (0, 4, 1.5, True):
        with pytest.raises(ValueError, match="k must be an integer from 1 to"):
            clf.predict_top_k(X, k=k)


N_ROWS = 1000


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return (X / 16)[:N_ROWS], y[:N_ROWS]


def _fitted(X, y, sparse):
    Estimator = SparseCEClassifier if sparse else SparseCEMLPClassifier
    params = {} if sparse else {"hidden_layer_sizes": (100,)}
    return fast(Estimator, **params).fit(sp.csr_array(X) if sparse else X, y)


@pytest.mark.parametrize(
    "dtype, sparse",
    [("float32", False), ("float64", False), ("float32", True)],
    ids=["float32", "float64", "sparse"],
)
def test_one_row_predictions_equal_the_batched_ones(digits, dtype, sparse):
    """predict/predict_proba of each single row equal that row of a 1,000-row call."""
    X, y = digits
    X = X.astype(dtype)
    clf = _fitted(X, y, sparse)
    rows = sp.csr_array(X) if sparse else X
    labels, proba = clf.predict(rows), clf.predict_proba(rows)
    for i in range(0, N_ROWS, 7):
        row = rows[i : i + 1]
        assert clf.predict(row)[0] == labels[i], f"row {i}"
        np.testing.assert_allclose(clf.predict_proba(row)[0], proba[i], atol=1e-6)
    # A few rows at a time too: each chunk size gets its own compiled shape.
    for n in (2, 3, 10, 33):
        np.testing.assert_array_equal(clf.predict(rows[:n]), labels[:n])


@pytest.mark.parametrize("bad", (np.nan, np.inf, -np.inf))
def test_one_row_with_a_non_finite_value_is_rejected(digits, bad):
    """predict still rejects NaN and infinity in a single row, naming X."""
    X, y = digits
    clf = _fitted(X, y, sparse=False)
    row = X[:1].copy()
    row[0, 5] = bad
    with pytest.raises(ValueError, match="Input X contains"):
        clf.predict(row)


def test_finite_values_whose_sum_overflows_are_accepted(digits):
    """Rows of huge finite values pass the finiteness check, without a warning."""
    X, y = digits
    clf = _fitted(X.astype("float32"), y, sparse=False)
    row = np.full((1, X.shape[1]), np.finfo(np.float32).max, dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert clf.predict(row).shape == (1,)


def test_one_row_of_the_wrong_width_is_rejected(digits):
    """predict checks n_features on a single NumPy row, as scikit-learn does."""
    X, y = digits
    clf = _fitted(X, y, sparse=False)
    with pytest.raises(ValueError, match="X has 63 features"):
        clf.predict(X[:1, :63])


def test_one_row_without_the_fitted_feature_names_warns(digits):
    """A NumPy row for a model fitted on a DataFrame gets scikit-learn's warning."""
    X, y = digits
    columns = [f"pixel{i}" for i in range(X.shape[1])]
    clf = _fitted(pd.DataFrame(X, columns=columns), y, sparse=False)
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        clf.predict(X[:1])
