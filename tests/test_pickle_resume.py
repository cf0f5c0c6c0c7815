"""Training resumed after a pickle round trip continues the same training."""

import pickle

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from skce import SparseCEMLPClassifier, SparseCERNNClassifier


def _mlp_data():
    rng = np.random.RandomState(0)
    X = rng.rand(120, 6).astype(np.float32)
    return X, (X[:, 0] + X[:, 1] > X[:, 2] + 0.5).astype(int)


def _rnn_data():
    rng = np.random.RandomState(0)
    X = rng.randint(1, 6, (120, 8))
    return X, (X + np.roll(X, 1, axis=1)) % 3


CASES = {
    "mlp": (
        lambda **p: SparseCEMLPClassifier(
            (16,), dropout=0.3, batch_size=16, random_state=0, **p
        ),
        _mlp_data,
    ),
    "rnn": (
        lambda **p: SparseCERNNClassifier(
            units=(8,), embedding_dim=4, batch_size=16, random_state=0, **p
        ),
        _rnn_data,
    ),
}


def _proba(clf, X):
    proba = clf.predict_proba(X)
    return np.stack(proba) if isinstance(proba, list) else proba


@pytest.mark.parametrize("case", CASES)
def test_warm_start_after_unpickling_continues_the_same_training(case):
    """A warm-started fit of an unpickled estimator equals one without the trip."""
    make, data = CASES[case]
    X, y = data()
    clf = make(epochs=3, warm_start=True).fit(X, y)
    copy = pickle.loads(pickle.dumps(clf))
    clf.fit(X, y)
    copy.fit(X, y)
    assert_array_equal(_proba(copy, X), _proba(clf, X))
    assert copy.n_iter_ == clf.n_iter_


@pytest.mark.parametrize("case", CASES)
def test_partial_fit_after_unpickling_continues_the_same_training(case):
    """partial_fit on an unpickled estimator equals partial_fit without the trip."""
    make, data = CASES[case]
    X, y = data()
    classes = np.unique(y)
    clf = make().partial_fit(X[:60], y[:60], classes=classes)
    copy = pickle.loads(pickle.dumps(clf))
    for est in (clf, copy):
        est.partial_fit(X[60:], y[60:]).partial_fit(X[:60], y[:60])
    assert_array_equal(_proba(copy, X), _proba(clf, X))
