"""What a fit is: epochs='auto', partial fits and their schedule."""

import warnings

import keras
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import make_blobs
from sklearn.exceptions import ConvergenceWarning

from skce import (
    SparseCEMLPClassifier,
)
from tests._helpers import blobs_of, fast, parametrize_estimators, small


class _LearningRates(keras.callbacks.Callback):
    """Records the learning rate each epoch starts with."""

    def __init__(self, rates):
        super().__init__()
        self.rates = rates

    def on_epoch_begin(self, epoch, logs=None):
        self.rates.append(float(self.model.optimizer.learning_rate))


@pytest.mark.parametrize(
    "n_samples, batch_size, epochs",
    # 90 steps an epoch: 27 epochs; 1 step: capped at 100; 600: at least 5.
    [(90, 1, 27), (90, 90, 100), (600, 1, 5)],
)
def test_auto_epochs_anneal_over_a_step_budget(n_samples, batch_size, epochs):
    """epochs="auto": about 2,400 steps in whole epochs, lr along a cosine."""
    X, y = make_blobs(n_samples=n_samples, n_features=4, centers=3, random_state=0)
    rates = []
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf = SparseCEMLPClassifier(
            epochs="auto",
            batch_size=batch_size,
            learning_rate=0.002,
            n_iter_no_change=None,
            random_state=0,
            callbacks=[_LearningRates(rates)],
        ).fit(X, y)
    assert clf.n_iter_ == epochs
    expected = 0.001 * (1 + np.cos(np.pi * np.arange(epochs) / epochs))
    assert_allclose(rates, expected, rtol=1e-6)
    # The fitted optimizer is left at the learning rate it started with.
    assert float(clf.model_.optimizer.learning_rate) == pytest.approx(0.002)


def test_auto_epochs_equal_a_keras_schedule(blobs):
    """The annealing is Keras's LearningRateScheduler with the cosine."""
    X, y = blobs
    common = dict(batch_size=16, n_iter_no_change=None, random_state=0)
    auto = SparseCEMLPClassifier(epochs="auto", **common).fit(X, y)
    n = auto.n_iter_
    cosine = keras.callbacks.LearningRateScheduler(
        lambda epoch, rate: 0.0005 * (1 + np.cos(np.pi * epoch / n))
    )
    scheduled = SparseCEMLPClassifier(epochs=n, callbacks=[cosine], **common)
    constant = SparseCEMLPClassifier(epochs=n, **common).fit(X, y)
    assert_allclose(
        auto.predict_proba(X), scheduled.fit(X, y).predict_proba(X), atol=1e-6
    )
    assert not np.allclose(auto.predict_proba(X), constant.predict_proba(X))


def test_auto_epochs_run_to_the_end_and_keep_a_users_schedule(blobs):
    """ "auto" ignores the training-loss rule, not early_stopping's."""
    X, y = blobs
    common = dict(epochs="auto", batch_size=len(X), random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        # tol=1e-2 would stop a constant-rate fit within a few dozen epochs.
        full = SparseCEMLPClassifier(learning_rate=0.05, tol=1e-2, **common)
        assert full.fit(X, y).n_iter_ == 100
        stopped = SparseCEMLPClassifier(
            learning_rate=0.05,
            tol=1e-2,
            early_stopping=True,
            validation_split=0.3,
            n_iter_no_change=3,
            **common,
        )
        assert stopped.fit(X, y).n_iter_ < 100
    assert (
        SparseCEMLPClassifier(
            epochs=100, batch_size=len(X), learning_rate=0.05, tol=1e-2, random_state=0
        )
        .fit(X, y)
        .n_iter_
        < 100
    )
    decay = keras.optimizers.schedules.ExponentialDecay(0.01, 10, 0.5)
    rates = []
    SparseCEMLPClassifier(
        epochs="auto",
        batch_size=len(X),
        optimizer=keras.optimizers.Adam(decay),
        n_iter_no_change=None,
        callbacks=[_LearningRates(rates)],
        random_state=0,
    ).fit(X, y)
    assert len(rates) == 100
    assert_allclose(rates[:3], [0.01 * 0.5 ** (e / 10) for e in (0, 1, 2)], rtol=1e-5)


@parametrize_estimators
def test_partial_fit_twice_equals_two_epochs(Estimator):
    """Two partial_fit calls on the full batch equal one fit of two epochs."""
    X, y = blobs_of(3, 10)
    params = dict(shuffle=False, batch_size=len(X))
    once = small(Estimator, epochs=2, **params).fit(X, y)
    twice = small(Estimator, **params)
    twice.partial_fit(X, y, classes=np.unique(y)).partial_fit(X, y)
    assert_allclose(twice.predict_proba(X), once.predict_proba(X), rtol=1e-10)
    assert_allclose(twice.history_["loss"], once.history_["loss"], rtol=1e-10)
    assert twice.n_iter_ == once.n_iter_ == 2


def test_partial_fit_requires_classes_then_accumulates(blobs):
    """partial_fit needs classes first, then adds one epoch per call."""
    X, y = blobs
    clf = SparseCEMLPClassifier(random_state=0)
    with pytest.raises(ValueError, match="classes must be passed"):
        clf.partial_fit(X, y)
    clf.partial_fit(X[:30], y[:30], classes=[0, 1, 2, 3])
    clf.partial_fit(X[30:], y[30:])
    assert clf.n_iter_ == 2
    assert len(clf.history_["loss"]) == 2
    assert_array_equal(clf.classes_, [0, 1, 2, 3])


def test_partial_fit_holds_nothing_out_and_never_stops_early(blobs):
    """partial_fit trains on the whole mini-batch: no split, no early stop."""
    X, y = blobs
    clf = fast(
        SparseCEMLPClassifier, validation_split=0.5, early_stopping=True
    ).partial_fit(X, y, classes=[0, 1, 2])
    assert "val_loss" not in clf.history_
    # The loss is over all 90 rows: the same as a fit on them with no split.
    plain = fast(SparseCEMLPClassifier).partial_fit(X, y, classes=[0, 1, 2])
    assert clf.history_["loss"] == pytest.approx(plain.history_["loss"], rel=1e-12)
