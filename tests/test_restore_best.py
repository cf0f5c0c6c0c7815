"""Restoring the best epoch's weights does not rewind the dropout step."""

import keras

from skce import SparseCEMLPClassifier
from skce._layers import SampleKeyedDropout


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
