"""TensorFlow trainer: a whole epoch is one call of a traced ``tf.function``."""

import contextlib
import functools
import os
from dataclasses import replace

import numpy as np
import tensorflow as tf

from skce._engine._backend import Backend
from skce._engine._cache import LRUCache, blank_layer, fit_key
from skce._engine._fixes import clone_model, update_without_merge_call
from skce._engine._keys import sample_keys
from skce._engine._loop import StopRule
from skce._engine._sparse import SparseRows, check_dense
from skce._engine._tensorflow_epochs import (
    _RULE_SPECS,
    _function,
    _over_batches,
    _Replicated,
    _stops,
    _summed,
    crossentropy_for,
    crossentropy_of_logits,
)
from skce._engine._tensorflow_forward import BoundForward, host_reader
from skce._engine._tensorflow_sparse import (
    _plus,
    compiles_update,
    fused_update,
    product_gradient,
    product_gradient_layer,
    sparse_tensor,
    spec,
    take,
    to_device,
)
from skce._engine._trainer import (
    NAMED_OPTIMIZERS,
    Trainer,
    scale_loss,
)
from skce._engine._trainer import check_distribution as _check


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


# Traced training code, shared by every fit of an architecture.
_EPOCH_CACHE = LRUCache()

# TensorFlow's single-threaded executor runs a graph's operations one after
# another on the calling thread. For a small network (trainable weights times
# batch rows up to this, on 2-D float input) that is faster than handing each
# of a step's few hundred small operations to the thread pools: about 40 %
# less time per epoch for seed 002's 50-unit MLP on a 2-core CPU, while a
# 256-unit layer on 64 features (4e6) is already faster on the default one.
SMALL_STEP = 2_000_000
# Networks whose weights and optimizer state take more bytes than this are
# traced on themselves for their own fit, not on a cached private copy.
SHARED_TRACE_BYTES = 256 << 20
SINGLE_THREADED = "SINGLE_THREADED_EXECUTOR"


class _Traced:
    """Epoch and step functions traced on one model and optimizer.

    The functions take the variables of the fit being trained as arguments:
    each call copies them into the traced model, runs the steps and copies
    the results back, inside the graph. With a private copy of a model as the
    traced one, every later fit of the same architecture reuses the trace
    (TensorFlow does not retrace for other variables of the same shapes) and
    no fitted model is kept alive. A model that cannot be copied is traced
    itself, for its own fit only.
    """

    def __init__(
        self, model, optimizer, loss, shared, compiled_update=False, product=False
    ):
        if shared:
            # The copy's weights start at zeros (``blank_layer``): each call
            # overwrites them. ``product``: its Dense layers take a sparse
            # batch's kernel gradient as one dense product (``product_gradient``).
            model = _copy_model(
                model, product_gradient_layer if product else blank_layer
            )
            optimizer = optimizer.__class__.from_config(optimizer.get_config())
            optimizer.build(model.trainable_variables)
        self.model, self.optimizer, self.loss = model, optimizer, loss
        self.shared = shared
        self.variables = [v.value for v in _variables(model, optimizer)]
        self.update, self.fused = None, False
        if compiled_update:
            # One pass over each weight: TensorFlow's fused training op where
            # one applies, else the update XLA-compiled, which fuses the
            # optimizer's elementwise passes (``compiles_update``).
            self.update = fused_update(optimizer, model.trainable_variables)
            self.fused = self.update is not None
            if not self.fused:
                self.update = _function(self._update, autograph=False, jit_compile=True)
        # Each fit asks for the epoch at explicit specs (any number of rows),
        # so nothing is left for tf.function to generalise.
        self.epochs = _function(self._epochs, autograph=False)
        self.epoch = _function(self._epoch, autograph=False)
        self.batch = _function(self._batch, autograph=False, reduce_retracing=True)

    def _copy(self, sources, targets):
        if self.shared:
            for source, target in zip(sources, targets, strict=True):
                target.assign(source)

    def _step(self, data, idx):
        x, y, w, k = (take(a, idx) for a in data)
        model = self.model
        variables = model.trainable_variables
        # With a compiled update the L2 penalty is added by hand (``_penalised``).
        taped = self.loss if self.update is None else replace(self.loss, alpha=0.0)
        with tf.GradientTape() as tape, sample_keys(k):
            out = model(x, training=True)
            loss, weight_sum, correct = taped(y, out, w, variables, model.losses)
            scaled = scale_loss(self.optimizer, loss)
        grads = tape.gradient(scaled, variables)
        if self.update is None:
            self.optimizer.apply([_summed(g) for g in grads], variables)
        else:
            penalty, grads = self._penalised(grads, weight_sum)
            self.update(grads)
            loss = loss + penalty
        return tf.cast(self.loss.totals(loss, weight_sum, correct), w.dtype)

    def _penalised(self, grads, weight_sum):
        """The L2 penalty and ``grads`` with its gradient added.

        The penalty ``0.5 * alpha * sum(kernel ** 2) / weight_sum`` (as in
        ``SparseCELoss``) has the gradient ``alpha * kernel / weight_sum``.
        Taped, that gradient takes four passes over each kernel (broadcast,
        two products, a sum with the data term), half of a sparse step's
        time with a wide first layer; here, two. (Inside the XLA-compiled
        update it made a step slower.)
        """
        variables = self.model.trainable_variables
        alpha, index = self.loss.alpha, self.loss.kernel_index
        penalty = tf.zeros((), weight_sum.dtype)
        if alpha and index:
            scale = tf.cast(alpha, weight_sum.dtype) / tf.maximum(weight_sum, 1e-12)
            kernels = [tf.convert_to_tensor(variables[i]) for i in index]
            penalty = scale * tf.add_n([tf.nn.l2_loss(v) for v in kernels])
            grads = list(grads)
            for i, kernel in zip(index, kernels, strict=True):
                grads[i] = _plus(grads[i], scale * kernel)
        return penalty, [_summed(g) for g in grads]

    def _update(self, grads):
        self.optimizer.apply(grads, self.model.trainable_variables)

    def _epochs(self, variables, data, perms, batch_size, rule):
        """Train an epoch per row of ``perms`` until ``rule`` stops training;
        return the totals of each epoch run."""
        self._copy(variables, self.variables)
        dtype = data[2].dtype
        n_epochs = tf.shape(perms)[0]

        def body(e, stop, best, count, rows):
            totals = _over_batches(self._step, data, perms[e], batch_size, dtype)
            stop, best, count = _stops(totals, best, count, rule)
            rows = tf.tensor_scatter_nd_update(rows, [[e]], [totals])
            return e + 1, stop, best, count, rows

        state = (
            0,
            tf.constant(False),
            rule[0],
            rule[1],
            tf.zeros((n_epochs, 3), dtype),
        )
        ran, *_, rows = tf.while_loop(
            lambda e, stop, *_: tf.logical_and(e < n_epochs, tf.logical_not(stop)),
            body,
            state,
        )
        self._copy(self.variables, variables)
        return rows[:ran]

    def _epoch(self, variables, data, perm, batch_size):
        """Train one epoch over ``perm``; return its totals. (``_epochs``
        for a fit that runs one epoch a call, without the loop over epochs
        and the stopping rule: fewer operations to trace and instantiate.)"""
        self._copy(variables, self.variables)
        totals = _over_batches(self._step, data, perm, batch_size, data[2].dtype)
        self._copy(self.variables, variables)
        return totals

    def _batch(self, variables, data, idx):
        self._copy(variables, self.variables)
        totals = self._step(data, idx)
        self._copy(self.variables, variables)
        return totals


#: What one call of several epochs may take on: at most this many epochs,
#: shuffled rows, and rows times trainable weights (about a tenth of a second
#: of training on a CPU core, a few milliseconds on a GPU). An epoch over
#: either bound runs alone, so a call returns to Python, where Ctrl-C is seen,
#: about as often as an epoch does; an epoch that large gains nothing from
#: sharing a call anyway.
EPOCHS_PER_CALL = 32
ROWS_PER_CALL = 1 << 16
WORK_PER_CALL = 1 << 26


class TensorFlowTrainer(Trainer):
    """Run each epoch as one call of a traced graph, shared per architecture."""

    def __init__(self, model, optimizer, loss, data, batch_size, architecture_key):
        batch = min(batch_size, len(data[0]))
        on_cpu = accelerator() is None
        loss = crossentropy_for(loss, model, batch, on_cpu)
        self._batch_size = tf.constant(batch, tf.int32)
        self._unpatch = lambda: None
        self._replicated = self._epochs_fn = self._epoch_fn = None
        if tf.distribute.has_strategy():
            check_dense(data[0])
            # Data parallelism: the strategy's own variables and update path.
            strategy = tf.distribute.get_strategy()
            self._replicated = _Replicated(
                model, optimizer, loss, strategy, data[2].dtype
            )
            super().__init__(model, optimizer, loss, data, batch_size, architecture_key)
            return
        self._variables = [v.value for v in _variables(model, optimizer)]
        self._executor = _executor_for(
            model, optimizer, data[0], batch, own_network=architecture_key is not None
        )
        super().__init__(model, optimizer, loss, data, batch_size, architecture_key)
        traced = self._traced = self._find_traced(
            model, optimizer, loss, data, batch, architecture_key, on_cpu
        )
        # Bind the traced epoch once per fit: calling the concrete function
        # skips tf.function's per-call signature matching (about 1 ms/epoch).
        # A fit that runs one epoch a call binds the function of one epoch.
        # Traced under the executor it runs on: the single-threaded one needs
        # the epoch's loop kept as a functional While, which tracing decides.
        specs = tuple(spec(a) for a in data)
        with self._executing():
            if self.epochs_per_call() == 1:
                self._epoch_fn = traced.epoch.get_concrete_function(
                    self._variables,
                    specs,
                    tf.TensorSpec((None,), tf.int32),
                    self._batch_size,
                )
            else:
                self._epochs_fn = traced.epochs.get_concrete_function(
                    self._variables,
                    specs,
                    tf.TensorSpec((None, None), tf.int32),
                    self._batch_size,
                    _RULE_SPECS,
                )

    def _find_traced(
        self, model, optimizer, loss, data, batch, architecture_key, on_cpu
    ):
        """The ``_Traced`` for this fit: cached for its architecture, or
        traced now (and cached where it is traced on a private copy)."""
        key = fit_key(model, optimizer, loss, data, architecture_key)
        if key is not None and _state_bytes(model, optimizer) > SHARED_TRACE_BYTES:
            # A private copy to trace on, kept in the cache, would double the
            # memory of a network this large: it is traced itself instead.
            key = None
        product = product_gradient(data[0], batch, on_cpu)
        if key is not None:
            key = (*key, product, self._executor)
        traced = _EPOCH_CACHE.lookup(key)
        if traced is not None and _same_shapes(traced.variables, self._variables):
            return traced
        compiled = compiles_update(optimizer, data[0], on_cpu)
        try:
            traced = _Traced(model, optimizer, loss, key is not None, compiled, product)
        except (TypeError, ValueError):
            # A model that cannot be copied is traced itself, for this fit.
            traced = _Traced(model, optimizer, loss, False, compiled)
        if traced.shared:
            update_without_merge_call(traced.optimizer)
            _EPOCH_CACHE.store(key, traced)
        else:
            self._unpatch = update_without_merge_call(optimizer)
        return traced

    def _executing(self):
        """Run what follows on this fit's TensorFlow executor."""
        if not self._executor:
            return contextlib.nullcontext()
        return tf.experimental.function_executor_type(self._executor)

    def close(self):
        self._unpatch()

    def device_budget(self):
        gpus = tf.config.list_physical_devices("GPU")
        if not gpus:
            return None
        details = tf.config.experimental.get_device_details(gpus[0])
        memory = details.get("device_memory_size") or details.get("memory_limit")
        return int(memory * 0.25) if memory else None

    def to_device(self, arrays):
        if self._replicated is not None:
            # A copy of the data on each replica's device.
            strategy = self._replicated.strategy
            return strategy.experimental_distribute_values_from_function(
                lambda _: tuple(tf.convert_to_tensor(a) for a in arrays)
            )
        return tuple(to_device(a) for a in arrays)

    def epochs_per_call(self) -> int:
        if self._replicated is not None or self.streaming:
            return 1
        rows = max(self.n_samples, 1)
        weights = sum(int(np.prod(v.shape)) for v in self.model.trainable_variables)
        work = rows * max(weights, 1)
        return max(
            1, min(EPOCHS_PER_CALL, ROWS_PER_CALL // rows, WORK_PER_CALL // work)
        )

    def train_epochs(self, perms, rule):
        return self._epochs_on(self._device_data, perms, rule)

    def _epochs_on(self, data, perms, rule):
        rule = (
            tf.constant(rule.best, tf.float64),
            tf.constant(rule.count, tf.int32),
            tf.constant(rule.tol, tf.float64),
            tf.constant(min(rule.limit, 2**31 - 1), tf.int32),
        )
        perms = tf.constant(perms, dtype=tf.int32)
        with self._executing():
            rows = self._epochs_fn(self._variables, data, perms, self._batch_size, rule)
        return rows.numpy()

    def epoch_on(self, data, perm):
        if self._epochs_fn is not None:
            return self._epochs_on(data, np.asarray(perm)[None], StopRule())[0]
        perm = tf.constant(perm, dtype=tf.int32)
        if self._replicated is not None:
            return self._replicated.epoch(data, perm, self._batch_size).numpy()
        with self._executing():
            totals = self._epoch_fn(self._variables, data, perm, self._batch_size)
        return totals.numpy()

    def batch_on(self, data, idx):
        idx = tf.constant(idx, dtype=tf.int32)
        if self._replicated is not None:
            return self._replicated.batch(data, idx).numpy()
        with self._executing():
            totals = self._traced.batch(self._variables, data, idx)
        return totals.numpy()


def _executor_for(model, optimizer, x, batch_size, own_network) -> str:
    """The executor a fit's epochs run on: "" is TensorFlow's default.

    The single-threaded one for a small network of skce's own on 2-D float
    input on the CPU (see ``SMALL_STEP``), trained by one of the optimizers
    skce names: the operations those run are known to suit it (it runs only
    on CPU devices, and a loss-scaling optimizer's step never returns on it).
    """
    if (
        accelerator() is not None
        or not own_network
        or type(optimizer) not in NAMED_OPTIMIZERS
    ):
        return ""
    if len(x.shape) != 2 or not np.issubdtype(np.dtype(x.dtype), np.floating):
        return ""
    if isinstance(x, SparseRows):
        # The sparse matmul's kernel gradient scatters into the whole kernel.
        return ""
    weights = sum(int(np.prod(v.shape)) for v in model.trainable_variables)
    return SINGLE_THREADED if weights * batch_size <= SMALL_STEP else ""


def _state_bytes(model, optimizer) -> int:
    """Bytes of the weights and optimizer state a fit trains."""
    return sum(
        int(np.prod(v.shape)) * np.dtype(v.dtype).itemsize
        for v in _variables(model, optimizer)
    )


def _variables(model, optimizer) -> list:
    """Everything a training step reads and writes, in a fixed order."""
    return [
        *model.trainable_variables,
        *model.non_trainable_variables,
        *optimizer.variables,
    ]


def _same_shapes(ours, theirs) -> bool:
    return len(ours) == len(theirs) and all(
        a.shape == b.shape and a.dtype == b.dtype
        for a, b in zip(ours, theirs, strict=True)
    )


def _copy_model(model, clone_function=None):
    """A private structural copy of a model, for tracing training code on
    (its layers made by ``clone_function`` where ``clone_model`` takes one)."""
    copied = clone_model(model, clone_function)
    if not copied.built or len(copied.weights) != len(model.weights):
        raise ValueError("the copy of the model is not built like the model")
    if _sparse_inputs(copied) != _sparse_inputs(model):
        # Traced on a copy with dense inputs, training would densify sparse X.
        raise ValueError("the copy of the model does not take sparse input")
    return copied


def _sparse_inputs(model) -> list:
    """Which of a model's inputs are sparse (none known for a subclassed one)."""
    return [t.sparse for t in getattr(model, "inputs", None) or ()]


def check_distribution(distribution) -> None:
    """Raise unless skce can train under ``distribution``."""
    _check(distribution, tf.distribute.Strategy, "tf.distribute.Strategy")


@functools.cache
def data_parallel():
    """A MirroredStrategy over the GPUs, or over the logical CPUs if none."""
    devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices(
        "CPU"
    )
    return tf.distribute.MirroredStrategy([d.name for d in devices])


def accelerator():
    return "gpu" if tf.config.list_logical_devices("GPU") else None


def compile_forward(model, fn):
    """Compile ``fn(model(x), *extra)`` for inference.

    ``model=None`` asks for a function any model of one architecture runs
    (weights as arguments); else it is traced on ``model`` itself.
    """
    if model is None:
        # Not XLA: jit_compile=True takes another 0.1 ms off a one-row call,
        # but compiles once per number of rows (about 90 ms each) and gives
        # a row answers that differ from the batched ones in the last bits.
        return BoundForward(
            fn, lambda forward: _function(forward, autograph=False), sparse_tensor
        )
    return _function(
        lambda x, *extra: fn(model(x, training=False), *extra),
        reduce_retracing=True,
        autograph=False,
    )


def call_forward(model, compiled, x, *extra):
    if isinstance(compiled, BoundForward):
        return compiled(model, x, *extra).numpy()
    return compiled(sparse_tensor(x), *extra).numpy()


class TensorFlowBackend(Backend):
    """TensorFlow: traced epochs, shared inference, tf.distribute strategies."""

    name = "tensorflow"
    # Inference for skce's own networks is traced once per architecture.
    shares_forward = True
    trains_data_parallel = True
    fused_crossentropy = True
    crossentropy_of_logits = staticmethod(crossentropy_of_logits)
    # Keras networks on TensorFlow take tf.SparseTensor input.
    sparse_tensors = True
    host_inference = True
    trainer = TensorFlowTrainer
    configure = staticmethod(_honour_thread_limit)
    accelerator = staticmethod(accelerator)
    compile_forward = staticmethod(compile_forward)
    call_forward = staticmethod(call_forward)
    host_reader = staticmethod(host_reader)
    data_parallel = staticmethod(data_parallel)
    check_distribution = staticmethod(check_distribution)
