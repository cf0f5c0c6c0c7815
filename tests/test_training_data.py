"""Sample and class weights, validation split and validation data."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from skce import (
    SparseCEMLPClassifier,
)
from tests._helpers import X, fast, small


def test_validation_split_without_room(Estimator):
    """A validation_split that leaves no training sample says so."""
    with pytest.raises(ValueError, match="leaves no training or no validation"):
        small(Estimator, validation_split=0.9).fit(X[:2], [0, 1])


@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_integer_weights_equal_repeated_rows(dropout, rng):
    """Weight k trains exactly like k copies, dropout included."""
    X = rng.rand(20, 6)
    y = rng.randint(0, 3, 20)
    sw = rng.randint(0, 4, 20)
    params = dict(dropout=dropout, epochs=30, random_state=0)
    weighted = SparseCEMLPClassifier(**params).fit(X, y, sample_weight=sw)
    repeated = SparseCEMLPClassifier(**params).fit(X.repeat(sw, 0), y.repeat(sw))
    assert_allclose(weighted.predict_proba(X), repeated.predict_proba(X), rtol=1e-9)


def test_class_weight_balanced_equals_sample_weights(blobs):
    """class_weight="balanced" is the same as the equivalent sample weights."""
    X, y = blobs
    X, y = X[:70], y[:70]
    counts = np.bincount(y)
    sw = len(y) / (3 * counts[y])
    a = fast(SparseCEMLPClassifier, class_weight="balanced").fit(X, y)
    b = fast(SparseCEMLPClassifier).fit(X, y, sample_weight=sw)
    assert_allclose(a.predict_proba(X), b.predict_proba(X), rtol=1e-9)


def test_class_weight_unknown_label(blobs):
    """class_weight naming a label that is not a class is rejected."""
    X, y = blobs
    with pytest.raises(ValueError, match="not classes of y: \\[7\\]"):
        fast(SparseCEMLPClassifier, class_weight={7: 2.0}).fit(X, y)


def test_class_weight_balanced_honours_sample_weight(blobs):
    """Balanced class weights count samples by their weight, like repetitions."""
    X, y = blobs
    X, y = X[:70], y[:70]
    sw = np.where(y == 0, 3, 1)
    params = dict(batch_size=1000, shuffle=False, class_weight="balanced")
    weighted = fast(SparseCEMLPClassifier, **params).fit(X, y, sample_weight=sw)
    repeated = fast(SparseCEMLPClassifier, **params).fit(X.repeat(sw, 0), y.repeat(sw))
    assert_allclose(weighted.predict_proba(X), repeated.predict_proba(X), rtol=1e-9)
