"""The training objective, written once in ``keras.ops`` for every backend."""

from dataclasses import dataclass

import keras
from keras import ops

from skce._engine._backend import active


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
    fused : bool, default=True
        Whether the data term of logits may be the backend's fused kernel
        (``Backend.fused_crossentropy``); a trainer turns it off where the
        backend's ``crossentropy_of_logits`` is faster.
    """

    from_logits: bool
    alpha: float
    kernel_index: tuple
    class_weight: tuple | None = None
    fused: bool = True

    def __call__(
        self, y, out, w, trainable, extra_losses=(), *, weight_total=None, replicas=1
    ):
        """Return ``(loss, weight_sum, weighted_correct)`` for one batch.

        Data-parallel training calls this on each replica's share of a
        mini-batch with the whole batch's ``weight_total`` (see
        ``weight_total``) and the number of ``replicas``: the data term is then
        the share's part of the batch's weighted mean, and the penalty and
        the model's own losses count ``1 / replicas`` each, so the replicas'
        losses (and gradients) sum to those of the whole batch on one device.
        """
        out = widen(out)
        weights, per_label, hits = _label_terms(
            y, out, w, self.from_logits, self.class_weight, self.fused
        )
        weight_sum = ops.sum(weights)
        if weight_total is None:
            weight_total = weight_sum
        # Guard an all-zero batch: its loss and gradient are then zero.
        denominator = ops.maximum(ops.cast(weight_total, out.dtype), 1e-12)
        loss = ops.sum(weights * per_label) / denominator
        share = 1.0 / replicas
        if self.alpha and self.kernel_index:
            squares = sum(ops.sum(ops.square(trainable[i])) for i in self.kernel_index)
            penalty = ops.cast(0.5 * self.alpha * share, out.dtype) * squares
            loss = loss + penalty / denominator
        for extra in extra_losses:
            extra = ops.cast(extra, out.dtype)
            loss = loss + (extra if replicas == 1 else extra * share)
        return loss, weight_sum, ops.sum(weights * hits)

    def weight_total(self, y, w, dtype):
        """The summed label weights of a whole mini-batch, in ``dtype``."""
        return ops.sum(_label_weights(y, w, dtype, self.class_weight)[1])

    def totals(self, loss, weight_sum, correct):
        """Stack one batch's results so epoch totals are a running sum."""
        return ops.stack([loss * weight_sum, weight_sum, correct])


def batch_metrics(out, y, w, from_logits):
    """Weighted loss sum, weight sum and weighted hits of a validation chunk."""
    out = widen(out)
    weights, per_label, hits = _label_terms(y, out, w, from_logits, None)
    return ops.stack(
        [ops.sum(weights * per_label), ops.sum(weights), ops.sum(weights * hits)]
    )


def _label_terms(y, out, w, from_logits, class_weight, fused=True):
    """Weight, crossentropy and hit (0 or 1) of each label, shaped like ``y``.

    A label of -1 marks a position to ignore: its weight is zero and a valid
    index stands in for it, so nothing out of range reaches a gather.
    """
    y, weights = _label_weights(y, w, out.dtype, class_weight)
    per_label = sparse_crossentropy(y, out, from_logits, fused)
    hits = ops.cast(ops.equal(_first_max(out), y), out.dtype)
    return weights, per_label, hits


def _first_max(out):
    """The index of each row's largest output, the first on a tie (argmax).

    Read off ``top_k`` with ``k=1``: one pass over the outputs, where Keras's
    argmax of floats first rewrites negative zeros in a copy of them (three
    more passes, a quarter of a step's time with 20,000 classes). The one
    difference: on JAX a largest output of -0.0 loses its tie with 0.0.
    """
    return ops.cast(ops.top_k(out, 1)[1][..., 0], "int32")


def _label_weights(y, w, dtype, class_weight):
    """Labels with -1 replaced by 0, and each label's weight (0 for -1)."""
    y = ops.cast(y, "int32")
    labelled = ops.greater_equal(y, 0)
    y = ops.where(labelled, y, 0)
    weights = ops.cast(w, dtype)
    if len(y.shape) > 1:
        weights = ops.reshape(weights, (-1,) + (1,) * (len(y.shape) - 1))
    weights = weights * ops.cast(labelled, dtype)
    if class_weight is not None:
        table = ops.convert_to_tensor(class_weight, dtype=dtype)
        weights = weights * ops.take(table, y)
    return y, weights


def sparse_crossentropy(y, out, from_logits, fused=True):
    """Crossentropy read off at each label's own entry: no one-hot, any rank.

    With logits it is ``logsumexp(out) - out[y]``; with probabilities, Keras's
    form: normalise, clip to ``[eps, 1 - eps]``, take ``-log out[y]``. (Keras's
    own sparse crossentropy one-hot encodes each batch's labels on some
    backends, and per-position labels multiply that by T.) On TensorFlow,
    Keras's op for logits is TensorFlow's fused kernel, which reads each
    label's entry itself and computes the gradient in the same pass: a third
    fewer operations per training step than the formula above, where a
    mini-batch has few logits; ``fused=False`` asks for the backend's own
    ``crossentropy_of_logits`` instead.
    """
    backend = active()
    if from_logits and backend.fused_crossentropy:
        if fused:
            return ops.sparse_categorical_crossentropy(y, out, from_logits=True)
        return backend.crossentropy_of_logits(y, out)
    return crossentropy_at_labels(y, out, from_logits)


def crossentropy_at_labels(y, out, from_logits):
    """``sparse_crossentropy`` from each label's entry, in plain ``keras.ops``."""
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
