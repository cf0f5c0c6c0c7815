"""The weighted sparse crossentropy and the hits it counts."""

import keras
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from skce import SparseCEMLPClassifier


def test_loss_is_weighted_mean(blobs):
    """The reported loss is sum(w * ce) / sum(w), with no penalty (alpha=0)."""
    X, y = blobs
    w = np.linspace(0.5, 2.0, len(y))
    clf = SparseCEMLPClassifier(
        epochs=1,
        batch_size=len(X),
        alpha=0.0,
        shuffle=False,
        random_state=0,
        learning_rate=1e-12,
    ).fit(X, y, sample_weight=w)
    proba = clf.predict_proba(X)
    expected = np.sum(w * -np.log(proba[np.arange(len(y)), y])) / w.sum()
    assert clf.history_["loss"][0] == pytest.approx(expected, rel=1e-6)


def test_hits_take_the_first_largest_output_as_argmax_does():
    """The training accuracy's prediction is argmax's, ties included."""
    from skce._engine._loss import _first_max

    out = np.array(
        [[0.0, 0.0, 0.0], [1.0, 3.0, 3.0], [-1.0, 0.5, 0.5], [2.0, -1.0, 2.0]],
        dtype="float32",
    )
    sequences = np.stack([out, out[::-1]], axis=1)  # (4, 2, 3): per position
    for values in (out, sequences):
        got = _first_max(keras.ops.convert_to_tensor(values))
        assert_array_equal(keras.ops.convert_to_numpy(got), values.argmax(-1))


@pytest.mark.parametrize("from_logits", [True, False])
@pytest.mark.parametrize("shape", [(4, 6), (4, 7, 6)], ids=["1-D", "per-position"])
def test_sparse_crossentropy_matches_keras(from_logits, shape):
    """skce's crossentropy equals Keras's sparse crossentropy, without a one-hot.

    Both of its forms: the formula at each label's entry, and what the active
    backend runs (TensorFlow's fused kernel, for logits on TensorFlow).
    """
    from skce._engine._loss import crossentropy_at_labels, sparse_crossentropy

    rng = np.random.RandomState(0)
    out = rng.randn(*shape).astype("float32")
    if not from_logits:
        out = np.exp(out) / np.exp(out).sum(-1, keepdims=True)
    y = rng.randint(0, 6, shape[:-1]).astype("int32")
    theirs = keras.losses.sparse_categorical_crossentropy(
        y, out, from_logits=from_logits
    )
    for form in (sparse_crossentropy, crossentropy_at_labels):
        ours = form(
            keras.ops.convert_to_tensor(y),
            keras.ops.convert_to_tensor(out),
            from_logits,
        )
        assert_allclose(
            keras.ops.convert_to_numpy(ours),
            keras.ops.convert_to_numpy(theirs),
            rtol=1e-5,
        )
