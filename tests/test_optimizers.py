"""Optimizers by name, and their reuse across warm and partial fits."""

import keras
import numpy as np
import pytest
from numpy.testing import assert_allclose

from skce import (
    SparseCEMLPClassifier,
)
from tests._helpers import fast


@pytest.mark.parametrize("method", ["warm_start", "partial_fit"])
def test_changed_learning_rate_applies_on_continued_fit(blobs, method):
    """A learning_rate set between continued fits is the one that trains."""
    X, y = blobs
    clf = fast(SparseCEMLPClassifier, warm_start=method == "warm_start")
    continue_fit = (
        (lambda: clf.fit(X, y))
        if method == "warm_start"
        else (lambda: clf.partial_fit(X, y, classes=[0, 1, 2]))
    )
    continue_fit()
    before = [w.copy() for w in clf.model_.get_weights()]
    clf.set_params(learning_rate=1e-12)
    continue_fit()
    assert float(clf.model_.optimizer.learning_rate) == pytest.approx(1e-12)
    for old, new in zip(before, clf.model_.get_weights(), strict=True):
        assert_allclose(new, old, atol=1e-8)
    clf.set_params(learning_rate=0.05)
    continue_fit()
    after = clf.model_.get_weights()
    assert max(np.abs(n - o).max() for o, n in zip(before, after, strict=True)) > 1e-3


def test_changed_optimizer_applies_on_warm_start(blobs):
    """A different optimizer named between warm fits replaces the fitted one."""
    X, y = blobs
    clf = fast(SparseCEMLPClassifier, warm_start=True).fit(X, y)
    assert isinstance(clf.model_.optimizer, keras.optimizers.Adam)
    clf.set_params(optimizer="SGD").fit(X, y)
    assert isinstance(clf.model_.optimizer, keras.optimizers.SGD)
    assert clf.n_iter_ == 5


@pytest.mark.parametrize(
    "name, cls",
    [("SGD", "SGD"), ("Adam", "Adam"), ("RMSprop", "RMSprop"), ("adamw", "AdamW")],
)
def test_optimizer_names_as_keras_takes_them(blobs, name, cls):
    """Optimizer names are accepted in Keras's spellings."""
    X, y = blobs
    clf = fast(SparseCEMLPClassifier, optimizer=name, epochs=1).fit(X, y)
    assert type(clf.model_.optimizer).__name__ == cls
