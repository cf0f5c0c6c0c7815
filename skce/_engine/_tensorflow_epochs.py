"""TensorFlow's epoch loop pieces: the mini-batch loop, the stopping rule
applied between epochs inside a call, and data-parallel epochs."""

import functools
import math
from dataclasses import replace

import tensorflow as tf

from skce._engine._keys import sample_keys
from skce._engine._trainer import scale_loss

#: On the CPU, mini-batches with more logits than this (rows times outputs
#: per row) take ``crossentropy_of_logits`` rather than TensorFlow's fused
#: kernel. Forward and backward through a 64-unit output layer on a 2-core
#: CPU, the fused kernel was faster up to about 5,000 logits (500 rows of 10
#: classes: 88 against 99 µs a step) and slower from 8,000 (200 rows of 40:
#: 90 against 77 µs; 200 rows of 245: 216 against 118 µs).
FUSED_CROSSENTROPY_LOGITS = 8192


def crossentropy_for(loss, model, batch_size: int, on_cpu: bool):
    """``loss``, with TensorFlow's fused crossentropy kernel turned off on
    the CPU for mini-batches of more than ``FUSED_CROSSENTROPY_LOGITS``
    logits (``crossentropy_of_logits`` then computes it). Elsewhere, and
    where the model's outputs per row are not known from its output shape,
    the loss is kept."""
    outputs = getattr(model, "outputs", None) or ()
    if not on_cpu or len(outputs) != 1:
        return loss
    shape = tuple(outputs[0].shape[1:])
    if not shape or any(d is None for d in shape):
        return loss
    logits = batch_size * math.prod(shape)
    return replace(loss, fused=loss.fused and logits <= FUSED_CROSSENTROPY_LOGITS)


def crossentropy_of_logits(y, out):
    """The crossentropy of logits ``out`` at integer labels ``y``, shaped
    like ``y``, with its own gradient.

    The exponentials of the shifted logits are taken once, in vectorised
    operations, and kept for the gradient, ``softmax - one_hot(y)``, which
    is made by subtracting 1 at each label's entry (no one-hot is built).
    TensorFlow's fused kernel reads its labels through element-by-element
    generators instead; at 200 rows of 245 classes on a 2-core CPU it took
    216 against 118 µs a step, forward and backward through the output
    layer. The loss and gradient are the fused kernel's to rounding (tested).
    """
    labels = tf.cast(y, tf.int32)
    if out.shape.rank == 2:
        return _crossentropy(out, labels)
    logits = tf.reshape(out, tf.stack([-1, tf.shape(out)[-1]]))
    return tf.reshape(_crossentropy(logits, tf.reshape(labels, [-1])), tf.shape(y))


@tf.custom_gradient
def _crossentropy(logits, labels):
    top = tf.reduce_max(logits, axis=1, keepdims=True)
    exps = tf.exp(logits - top)
    sums = tf.reduce_sum(exps, axis=1, keepdims=True)
    at = tf.stack([tf.range(tf.shape(labels)[0]), labels], axis=1)
    loss = tf.math.log(sums[:, 0]) + top[:, 0] - tf.gather_nd(logits, at)

    def gradient(upstream):
        probs = tf.tensor_scatter_nd_sub(exps / sums, at, tf.ones_like(upstream))
        return tf.expand_dims(upstream, 1) * probs, None

    return loss, gradient


def _over_batches(step, data, perm, batch_size, dtype):
    """Run ``step(data, idx)`` over the mini-batches of ``perm``; sum its rows.

    The last batch may be short; one loop body serves it too, so the step is
    traced once.
    """
    n = tf.shape(perm)[0]

    def body(i, totals):
        start = i * batch_size
        row = step(data, perm[start : tf.minimum(start + batch_size, n)])
        return i + 1, totals + row

    n_steps = (n + batch_size - 1) // batch_size
    zeros = tf.zeros((3,), dtype)
    _, totals = tf.while_loop(lambda i, _: i < n_steps, body, (0, zeros))
    return totals


def _stops(totals, best, count, rule):
    """``ConvergenceStopping`` after an epoch of ``totals``, in the graph:
    ``(stop, best, count)``, in the float64 arithmetic of the host's logs
    (``logs_from_totals``), so that both decide alike."""
    loss_sum, weight_sum = (tf.cast(t, tf.float64) for t in (totals[0], totals[1]))
    # As the host's ``weight_sum <= 0`` test: a NaN weight sum gives a NaN loss.
    none = weight_sum <= 0
    zero, one = tf.constant(0.0, tf.float64), tf.constant(1.0, tf.float64)
    loss = tf.where(none, zero, loss_sum / tf.where(none, one, weight_sum))
    _, _, tol, limit = rule
    count = tf.where(loss > best - tol, count + 1, 0)
    best = tf.where(loss < best, loss, best)
    stop = tf.logical_or(count > limit, tf.logical_not(tf.math.is_finite(loss)))
    return stop, best, count


#: The specs of a ``StopRule`` as the traced epochs take it.
_RULE_SPECS = (
    tf.TensorSpec((), tf.float64),
    tf.TensorSpec((), tf.int32),
    tf.TensorSpec((), tf.float64),
    tf.TensorSpec((), tf.int32),
)


class _Replicated:
    """Epoch and step functions for a fit inside a ``tf.distribute`` strategy.

    Each mini-batch is split over the strategy's replicas (every replica
    holds a copy of the training data and gathers its share of the batch's
    rows). A replica's loss is its share of the whole batch's weighted mean,
    and Keras's optimizer sums the replicas' gradients, so a step computes
    what it computes on one device. Traced on the fit's own (mirrored)
    model, for that fit only.
    """

    def __init__(self, model, optimizer, loss, strategy, weight_dtype):
        self.model, self.optimizer, self.loss = model, optimizer, loss
        self.strategy = strategy
        self.weight_dtype = weight_dtype
        self.epoch = _function(self._epoch, autograph=False, reduce_retracing=True)
        self.batch = _function(self._step, autograph=False, reduce_retracing=True)

    def _replica_step(self, data, idx):
        context = tf.distribute.get_replica_context()
        replicas = context.num_replicas_in_sync
        dtype = self.model.trainable_variables[0].dtype
        total = self.loss.weight_total(
            tf.gather(data[1], idx), tf.gather(data[2], idx), dtype
        )
        share = idx[context.replica_id_in_sync_group :: replicas]
        x, y, w, k = (tf.gather(a, share) for a in data)
        model = self.model
        variables = model.trainable_variables
        with tf.GradientTape() as tape, sample_keys(k):
            out = model(x, training=True)
            loss, weight_sum, correct = self.loss(
                y,
                out,
                w,
                variables,
                model.losses,
                weight_total=total,
                replicas=replicas,
            )
            scaled = scale_loss(self.optimizer, loss)
        grads = [_summed(g) for g in tape.gradient(scaled, variables)]
        self.optimizer.apply(grads, variables)
        total = tf.cast(total, loss.dtype)
        return tf.cast(tf.stack([loss * total, weight_sum, correct]), w.dtype)

    def _step(self, data, idx):
        rows = self.strategy.run(self._replica_step, args=(data, idx))
        return self.strategy.reduce(tf.distribute.ReduceOp.SUM, rows, axis=None)

    def _epoch(self, data, perm, batch_size):
        return _over_batches(self._step, data, perm, batch_size, self.weight_dtype)


def _summed(gradient):
    """A gradient as a dense tensor, slices of repeated rows summed.

    An Embedding's gradient arrives as tf.IndexedSlices with one slice per
    occurrence of a token. Keras's optimizers square such slices one by one
    (Adam's second moment would get the sum of squares, not the square of the
    sum), so a sample of weight k would not train like k copies. Summing the
    slices first gives every optimizer the true gradient.
    """
    if isinstance(gradient, tf.IndexedSlices):
        return tf.convert_to_tensor(gradient)
    return gradient


def _function(fn, **kwargs):
    """``tf.function(fn, **kwargs)``, counted apart from other such functions.

    TensorFlow's "frequent retracing" warning counts traces per Python code
    object, so the functions skce builds from one method or closure (one per
    architecture or per fitted model, each traced once by design) would add
    up to a warning after five architectures. A partial has no code object
    of its own: TensorFlow then counts each function by itself, and one that
    does retrace too often still warns.
    """
    return tf.function(functools.partial(fn), **kwargs)
