"""One-row predictions: the answers of the batched path, with X checked as fully."""

import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_digits

from skce import SparseCEClassifier, SparseCEMLPClassifier
from tests.conftest import fast

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
