"""The training objective, written once in ``keras.ops`` for every backend."""

from dataclasses import dataclass

import keras
from keras import ops


@dataclass(frozen=True)
class SparseCELoss:
    """Weighted sparse categorical crossentropy plus an L2 penalty.

    The data term is the weighted mean ``sum(w * ce) / sum(w)`` over the batch,
    so a sample of weight ``k`` counts exactly like ``k`` repeated samples and a
    sample of weight zero like an absent one. The penalty is
    ``0.5 * alpha * sum(kernel ** 2) / sum(w)``, scaled per batch as in
    scikit-learn's multilayer perceptron.

    Parameters
    ----------
    from_logits : bool
        Whether the model emits logits (True) or probabilities (False).
    alpha : float
        Strength of the L2 penalty on the kernels listed in ``kernel_index``.
    kernel_index : tuple of int
        Positions, in the model's trainable variables, of the weights to penalise.
    """

    from_logits: bool
    alpha: float
    kernel_index: tuple

    def __call__(self, y, out, w, trainable, extra_losses=()):
        """Return ``(loss, weight_sum, weighted_correct)`` for one batch."""
        out = widen(out)
        w = ops.cast(w, out.dtype)
        per_sample = sparse_crossentropy(y, out, self.from_logits)
        weight_sum = ops.sum(w)
        # Guard an all-zero batch: its loss and gradient are then zero.
        denominator = ops.maximum(weight_sum, 1e-12)
        loss = ops.sum(w * ops.cast(per_sample, out.dtype)) / denominator
        if self.alpha and self.kernel_index:
            squares = sum(ops.sum(ops.square(trainable[i])) for i in self.kernel_index)
            loss = loss + ops.cast(0.5 * self.alpha, out.dtype) * squares / denominator
        for extra in extra_losses:
            loss = loss + ops.cast(extra, out.dtype)
        hits = ops.cast(
            ops.equal(ops.argmax(out, axis=-1), ops.cast(y, "int32")), out.dtype
        )
        return loss, weight_sum, ops.sum(w * hits)

    def totals(self, loss, weight_sum, correct):
        """Stack one batch's results so epoch totals are a running sum."""
        return ops.stack([loss * weight_sum, weight_sum, correct])


def sparse_crossentropy(y, out, from_logits):
    """Per-sample crossentropy read off at each label: no one-hot of the labels.

    With logits it is ``logsumexp(out) - out[y]``; with probabilities, Keras's
    form: normalise, clip to ``[eps, 1 - eps]``, take ``-log out[y]``. (Keras's
    own sparse crossentropy one-hot encodes each batch's labels on some
    backends; this never does.)
    """
    index = ops.expand_dims(ops.cast(y, "int32"), -1)
    if from_logits:
        picked = ops.squeeze(ops.take_along_axis(out, index, axis=-1), -1)
        return ops.logsumexp(out, axis=-1) - picked
    out = out / ops.sum(out, axis=-1, keepdims=True)
    eps = keras.config.epsilon()
    picked = ops.squeeze(ops.take_along_axis(out, index, axis=-1), -1)
    return -ops.log(ops.clip(picked, eps, 1.0 - eps))


def widen(out):
    """Half-precision outputs (mixed precision) go to float32 for the loss."""
    if keras.backend.standardize_dtype(out.dtype) in ("float16", "bfloat16"):
        return ops.cast(out, "float32")
    return out


def batch_metrics(out, y, w, from_logits):
    """Weighted loss sum, weight sum and weighted hits of a validation chunk."""
    out = widen(out)
    w = ops.cast(w, out.dtype)
    per_sample = sparse_crossentropy(y, out, from_logits)
    hits = ops.cast(
        ops.equal(ops.argmax(out, axis=-1), ops.cast(y, "int32")), out.dtype
    )
    return ops.stack([ops.sum(w * per_sample), ops.sum(w), ops.sum(w * hits)])
