"""The epoch loop: callbacks, history, validation and stopping."""

import keras
import pytest
from numpy.testing import assert_array_equal

from skce import SparseCEMLPClassifier
from skce._engine import ConvergenceStopping
from skce._layers import SampleKeyedDropout


def test_epoch_callbacks_and_history(blobs):
    """History has one entry per epoch; val_* appear with validation data."""
    X, y = blobs
    clf = SparseCEMLPClassifier(epochs=6, validation_split=0.2, random_state=0)
    clf.fit(X, y)
    assert set(clf.history_) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(v) == 6 for v in clf.history_.values())
    assert clf.history_["loss"][-1] < clf.history_["loss"][0]


def test_validation_data_is_scored(blobs):
    """validation_data gives val_accuracy equal to score on that data."""
    X, y = blobs
    clf = SparseCEMLPClassifier(epochs=5, random_state=0)
    clf.fit(X[:60], y[:60], validation_data=(X[60:], y[60:]))
    assert clf.history_["val_accuracy"][-1] == pytest.approx(clf.score(X[60:], y[60:]))


def test_early_stopping_stops(blobs):
    """early_stopping ends training once the loss stops improving."""
    X, y = blobs
    clf = SparseCEMLPClassifier(
        epochs=500,
        early_stopping=True,
        n_iter_no_change=2,
        validation_split=0.2,
        learning_rate=0.1,
        random_state=0,
    ).fit(X, y)
    assert clf.n_iter_ < 500


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


def test_restoring_best_weights_keeps_the_dropout_step(blobs):
    """After early stopping restores the best weights, every dropout layer's
    step still equals the optimizer steps taken, so a warm start draws new
    masks instead of replaying earlier ones."""
    X, y = blobs
    clf = SparseCEMLPClassifier(
        (16,),
        dropout=0.3,
        early_stopping=True,
        n_iter_no_change=2,
        tol=0.5,  # stops, and restores an earlier epoch, within a few epochs
        batch_size=20,
        epochs=50,
        random_state=0,
    ).fit(X, y)
    assert clf.n_iter_ < 50
    steps = int(keras.ops.convert_to_numpy(clf.model_.optimizer.iterations))
    layers = [
        layer for layer in clf.model_.layers if isinstance(layer, SampleKeyedDropout)
    ]
    assert layers
    for layer in layers:
        assert int(keras.ops.convert_to_numpy(layer.step)) == steps


def test_epochs_run_together_train_as_epochs_run_apart(blobs):
    """A trainer that runs several epochs per call (TensorFlow's, when nothing
    watches each epoch) trains the network epoch-by-epoch training gives: the
    same shuffles and weights, the same history, the same stopping epoch. A
    callback of the user's makes every epoch a call of its own."""
    X, y = blobs
    n_iters = []
    for params in (
        # Stops at epoch 38, inside TensorFlow's second call of 32 epochs.
        dict(epochs=300, n_iter_no_change=15, dropout=0.2),
        dict(epochs=40, n_iter_no_change=None),
    ):
        together, apart = (
            SparseCEMLPClassifier(
                (16,), batch_size=16, random_state=0, callbacks=callbacks, **params
            ).fit(X, y)
            for callbacks in (None, [keras.callbacks.Callback()])
        )
        assert together.n_iter_ == apart.n_iter_
        assert together.history_ == apart.history_
        for a, b in zip(
            together.model_.get_weights(), apart.model_.get_weights(), strict=True
        ):
            assert_array_equal(a, b)
        n_iters.append(together.n_iter_)
    assert 32 < n_iters[0] < 64 and n_iters[1] == 40
