"""The training objective, written once in ``keras.ops`` for every backend."""

from dataclasses import dataclass

from keras import config, ops


@dataclass(frozen=True)
class SparseCELoss:
    """Weighted sparse categorical crossentropy plus an L2 penalty.

    The data term is the weighted mean ``sum(w * ce) / sum(w)`` over the
    batch's labels, so a sample of weight ``k`` counts exactly like ``k``
    repeated samples and a sample of weight zero like an absent one. With
    per-position labels ``y`` of shape ``(batch, T)`` against outputs
    ``(batch, T, n_classes)``, every labelled position is a term: its sample's
    weight times its class's ``class_weight``; positions labelled -1 (padding)
    weigh nothing. The penalty is ``0.5 * alpha * sum(kernel ** 2) / sum(w)``,
    scaled per batch as in scikit-learn's multilayer perceptron.

    Parameters
    ----------
    from_logits : bool
        Whether the model emits logits (True) or probabilities (False).
    alpha : float
        Strength of the L2 penalty on the kernels listed in ``kernel_index``.
    kernel_index : tuple of int
        Positions, in the model's trainable variables, of the weights to penalise.
    class_weight : tuple of float or None, default=None
        Weight of each class, for per-position labels (1-D labels carry their
        class weight in their sample weight).
    """

    from_logits: bool
    alpha: float
    kernel_index: tuple
    class_weight: tuple | None = None

    def __call__(self, y, out, w, trainable, extra_losses=()):
        """Return ``(loss, weight_sum, weighted_correct)`` for one batch."""
        weights, per_label, hits = _label_terms(
            y, out, w, self.from_logits, self.class_weight
        )
        weight_sum = ops.sum(weights)
        # Guard an all-zero batch: its loss and gradient are then zero.
        denominator = ops.maximum(weight_sum, 1e-12)
        loss = ops.sum(weights * per_label) / denominator
        if self.alpha and self.kernel_index:
            squares = sum(ops.sum(ops.square(trainable[i])) for i in self.kernel_index)
            loss = loss + ops.cast(0.5 * self.alpha, out.dtype) * squares / denominator
        for extra in extra_losses:
            loss = loss + ops.cast(extra, out.dtype)
        return loss, weight_sum, ops.sum(weights * hits)

    def totals(self, loss, weight_sum, correct):
        """Stack one batch's results so epoch totals are a running sum."""
        return ops.stack([loss * weight_sum, weight_sum, correct])


def batch_metrics(out, y, w, from_logits):
    """Weighted loss sum, weight sum and weighted hits of a validation chunk."""
    weights, per_label, hits = _label_terms(y, out, w, from_logits, None)
    return ops.stack(
        [ops.sum(weights * per_label), ops.sum(weights), ops.sum(weights * hits)]
    )


def _label_terms(y, out, w, from_logits, class_weight):
    """Weight, crossentropy and hit (0 or 1) of each label, shaped like ``y``.

    A label of -1 marks a position to ignore: its weight is zero and a valid
    index stands in for it, so nothing out of range reaches a gather.
    """
    y = ops.cast(y, "int32")
    labelled = ops.greater_equal(y, 0)
    y = ops.where(labelled, y, 0)
    weights = ops.cast(w, out.dtype)
    if len(y.shape) > 1:
        weights = ops.reshape(weights, (-1,) + (1,) * (len(y.shape) - 1))
        per_label = _gathered_crossentropy(y, out, from_logits)
    else:
        per_label = ops.cast(
            ops.sparse_categorical_crossentropy(y, out, from_logits=from_logits),
            out.dtype,
        )
    weights = weights * ops.cast(labelled, out.dtype)
    if class_weight is not None:
        table = ops.convert_to_tensor(class_weight, dtype=out.dtype)
        weights = weights * ops.take(table, y)
    hits = ops.cast(ops.equal(ops.argmax(out, axis=-1), y), out.dtype)
    return weights, per_label, hits


def _gathered_crossentropy(y, out, from_logits):
    """``-log p[y]`` by gathering each label's log-probability: no one-hot.

    Keras's own sparse crossentropy builds a one-hot of the batch's labels on
    some backends; per-position labels multiply that by T, so skce gathers.
    Probabilities are normalised and clipped as Keras does.
    """
    if from_logits:
        log_p = ops.log_softmax(out, axis=-1)
    else:
        p = out / ops.sum(out, axis=-1, keepdims=True)
        epsilon = config.epsilon()
        log_p = ops.log(ops.clip(p, epsilon, 1.0 - epsilon))
    picked = ops.take_along_axis(log_p, ops.expand_dims(y, -1), axis=-1)
    return -ops.squeeze(picked, axis=-1)
