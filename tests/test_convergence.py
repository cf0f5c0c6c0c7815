"""Convergence stopping with MLPClassifier's tol and n_iter_no_change."""

import warnings

import keras
import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.datasets import make_blobs
from sklearn.exceptions import ConvergenceWarning

from skce import SparseCEMLPClassifier
from skce._engine import ConvergenceStopping


def _stop_epoch(losses, tol, n_iter_no_change):
    """Feed a loss curve to the stopping rule; return the epochs it ran."""
    rule = ConvergenceStopping("loss", tol, n_iter_no_change, restore_best=False)
    rule.set_model(keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)]))
    rule.model.stop_training = False
    for epoch, loss in enumerate(losses):
        rule.on_epoch_end(epoch, {"loss": loss})
        if rule.model.stop_training:
            return epoch + 1
    return len(losses)


def test_rule_matches_mlpclassifier():
    """Stops after more than n_iter_no_change epochs short of best - tol."""
    # Improves by 1.0, then by 1e-5 per epoch (less than tol=1e-4).
    curve = [10.0, 9.0] + [9.0 - 1e-5 * i for i in range(1, 30)]
    # Epochs 3.. are no improvement; the 4th of them exceeds n_iter_no_change=3.
    assert _stop_epoch(curve, tol=1e-4, n_iter_no_change=3) == 6
    # With tol=0 every decrease counts as improvement: no stop.
    assert _stop_epoch(curve, tol=0.0, n_iter_no_change=3) == len(curve)
    # An improvement resets the count.
    bumpy = [5.0, 5.0, 5.0, 4.0, 4.0, 4.0, 4.0, 4.0]
    assert _stop_epoch(bumpy, tol=1e-4, n_iter_no_change=2) == 7


def test_fit_stops_when_the_loss_plateaus(blobs):
    """A converged fit stops before the bound, silently."""
    X, y = blobs
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf = SparseCEMLPClassifier(
            epochs=1000, learning_rate=0.05, tol=1e-3, random_state=0
        ).fit(X, y)
    assert 10 < clf.n_iter_ < 1000
    assert len(clf.history_["loss"]) == clf.n_iter_


def test_bound_reached_warns(blobs):
    """Reaching epochs before converging raises a ConvergenceWarning."""
    X, y = blobs
    with pytest.warns(ConvergenceWarning, match="epochs=3 was reached"):
        SparseCEMLPClassifier(epochs=3, random_state=0).fit(X, y)


def test_none_trains_every_epoch_silently(blobs):
    """n_iter_no_change=None trains exactly `epochs` epochs, without warning."""
    X, y = blobs
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf = SparseCEMLPClassifier(
            epochs=60, learning_rate=0.05, n_iter_no_change=None, random_state=0
        ).fit(X, y)
    assert clf.n_iter_ == 60


def test_partial_fit_never_stops_nor_warns(blobs):
    """partial_fit trains its one epoch with no convergence bookkeeping."""
    X, y = blobs
    clf = SparseCEMLPClassifier(epochs=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        for _ in range(3):
            clf.partial_fit(X, y, classes=[0, 1, 2])
    assert clf.n_iter_ == 3


def test_early_stopping_restores_the_best_weights(blobs):
    """With early_stopping the model ends at its lowest validation loss."""
    X, y = blobs
    clf = SparseCEMLPClassifier(
        epochs=300,
        learning_rate=0.3,  # high enough for the validation loss to wander
        early_stopping=True,
        validation_split=0.3,
        n_iter_no_change=5,
        random_state=0,
    ).fit(X, y)
    best = int(np.argmin(clf.history_["val_loss"]))
    assert best < clf.n_iter_ - 1
    # Scoring the held-out rows again gives the best epoch's loss.
    again = SparseCEMLPClassifier(
        epochs=best + 1,
        learning_rate=0.3,
        validation_split=0.3,
        n_iter_no_change=None,
        random_state=0,
    ).fit(X, y)
    assert_allclose(clf.predict_proba(X), again.predict_proba(X), rtol=1e-6)


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
