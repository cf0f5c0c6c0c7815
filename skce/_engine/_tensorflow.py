"""TensorFlow trainer: a whole epoch is one ``tf.function`` call."""

import os
import types

import tensorflow as tf
from keras.src.optimizers.base_optimizer import BaseOptimizer

from skce._engine._keys import sample_keys
from skce._engine._trainer import Trainer


def _honour_thread_limit():
    # joblib's workers (GridSearchCV(n_jobs=k)) set OMP_NUM_THREADS to
    # cores // k so that k processes don't oversubscribe the machine. TensorFlow
    # does not read it, so size its pools from it while they can still be set.
    threads = os.environ.get("OMP_NUM_THREADS", "")
    if not threads.isdigit() or int(threads) < 1:
        return
    try:
        tf.config.threading.set_intra_op_parallelism_threads(int(threads))
        tf.config.threading.set_inter_op_parallelism_threads(int(threads))
    except RuntimeError:
        pass  # TensorFlow already started its pools; nothing to do safely.


_honour_thread_limit()


class TensorFlowTrainer(Trainer):
    """Run epochs as a single graph; weights live in the model's variables."""

    def __init__(self, model, optimizer, loss, data, batch_size):
        super().__init__(model, optimizer, loss, data, batch_size)
        self._x, self._y, self._w, self._k = (tf.convert_to_tensor(a) for a in data)
        self._unpatch = _update_without_merge_call(optimizer)
        self._batch_fn = _per_model(
            tf.function(self._step, reduce_retracing=True, autograph=False)
        )
        self._epoch_fn = _per_model(tf.function(self._epoch, autograph=False))

    def _step(self, idx):
        model = self.model
        variables = model.trainable_variables
        with tf.GradientTape() as tape, sample_keys(tf.gather(self._k, idx)):
            out = model(tf.gather(self._x, idx), training=True)
            loss, weight_sum, correct = self.loss(
                tf.gather(self._y, idx),
                out,
                tf.gather(self._w, idx),
                variables,
                model.losses,
            )
        grads = [_summed(g) for g in tape.gradient(loss, variables)]
        self.optimizer.apply(grads, variables)
        return self.loss.totals(loss, weight_sum, correct)

    def _epoch(self, perm):
        n_full, rest = divmod(self.n_samples, self.batch_size)
        bs = self.batch_size
        dtype = self._w.dtype

        def body(i, totals):
            row = self._step(perm[i * bs : (i + 1) * bs])
            return i + 1, totals + tf.cast(row, dtype)

        _, totals = tf.while_loop(
            lambda i, _: i < n_full, body, (tf.constant(0), tf.zeros((3,), dtype))
        )
        if rest:
            totals += tf.cast(self._step(perm[n_full * bs :]), dtype)
        return totals

    def close(self):
        self._unpatch()

    def run_epoch(self, perm):
        return self._epoch_fn(tf.constant(perm, dtype=tf.int32)).numpy()

    def run_batch(self, idx):
        return self._batch_fn(tf.constant(idx, dtype=tf.int32)).numpy()


def _update_without_merge_call(optimizer):
    """Route skce's own optimizer around tf.distribute's merge call for one fit.

    Keras's TensorFlow optimizer sends each update through tf.distribute's
    merge call, which keeps every graph it ran in alive: about 4 MiB per fit,
    without bound over a hyperparameter search. With no distribution strategy
    in force the backend-neutral per-variable update of Keras's base optimizer
    is the same arithmetic. Keras has no public switch for this, so the
    private method is replaced on the optimizer skce built for this fit only,
    and put back when the fit ends (tests/test_engine.py fails loudly if Keras
    renames either method). Returns the function that undoes it.
    """
    if tf.distribute.has_strategy() or not hasattr(
        type(optimizer), "_backend_update_step"
    ):
        return lambda: None
    optimizer._backend_update_step = types.MethodType(
        BaseOptimizer._backend_update_step, optimizer
    )

    def undo():
        optimizer.__dict__.pop("_backend_update_step", None)

    return undo


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


def _per_model(function):
    # Each fitted model gets its own graph by design (its variables are baked
    # in), so TensorFlow's "frequent retracing" warning would only be noise.
    function._omit_frequent_tracing_warning = True
    return function


def accelerator():
    return "gpu" if tf.config.list_logical_devices("GPU") else None


def compile_forward(model, fn):
    """Compile ``fn(model(x), *extra)`` for inference."""
    return _per_model(
        tf.function(
            lambda x, *extra: fn(model(x, training=False), *extra),
            reduce_retracing=True,
            autograph=False,
        )
    )


def call_forward(model, compiled, x, *extra):
    return compiled(tf.convert_to_tensor(x), *extra).numpy()
