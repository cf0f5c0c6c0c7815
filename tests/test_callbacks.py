"""The callbacks of a fit: the user's, convergence stopping, the warning."""

import warnings

import keras
import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.exceptions import ConvergenceWarning

from skce import (
    SparseCEMLPClassifier,
)
from tests._helpers import fast


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


def test_verbose_above_two_prints_a_line_per_epoch(blobs, capsys):
    """verbose=10 is accepted and prints progress, one line per epoch."""
    X, y = blobs
    fast(SparseCEMLPClassifier, epochs=3, verbose=10).fit(X, y)
    out = capsys.readouterr().out
    assert out.count("Epoch ") == 3
    assert "loss" in out


@pytest.mark.parametrize(
    "callback",
    [
        lambda tmp: keras.callbacks.EarlyStopping(monitor="val_accuracy", patience=1),
        lambda tmp: keras.callbacks.ReduceLROnPlateau(monitor="accuracy", patience=1),
        lambda tmp: keras.callbacks.ModelCheckpoint(
            str(tmp / "best.keras"), monitor="val_accuracy", save_best_only=True
        ),
    ],
    ids=["EarlyStopping", "ReduceLROnPlateau", "ModelCheckpoint"],
)
def test_callbacks_monitoring_accuracy(blobs, tmp_path, callback):
    """Callbacks that monitor accuracy work as in Keras (higher is better)."""
    X, y = blobs
    user_callback = callback(tmp_path)
    before = dict(vars(user_callback))
    clf = fast(
        SparseCEMLPClassifier,
        epochs=4,
        validation_split=0.2,
        callbacks=[user_callback],
    )
    clf.fit(X, y)
    assert clf.n_iter_ >= 1
    assert vars(user_callback) == before  # the user's instance is unchanged


def test_early_stopping_on_accuracy_keeps_best_epoch(blobs):
    """EarlyStopping(monitor='accuracy') treats higher accuracy as better."""
    X, y = blobs
    stop = keras.callbacks.EarlyStopping(
        monitor="accuracy", patience=0, restore_best_weights=True
    )
    clf = fast(SparseCEMLPClassifier, epochs=40, learning_rate=0.01, callbacks=[stop])
    clf.fit(X, y)
    accuracy = clf.history_["accuracy"]
    # It stops at the first epoch whose accuracy is not higher than the best.
    assert all(b > a for a, b in zip(accuracy[:-2], accuracy[1:-1], strict=True))
    assert accuracy[-1] <= max(accuracy[:-1])
