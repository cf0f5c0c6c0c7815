"""JAX trainer: an epoch is one jitted ``lax.scan`` (or jitted steps, see below)."""

import contextlib

import jax
import jax.numpy as jnp
import keras
import numpy as np
from jax.experimental import sparse as jax_sparse

from skce._engine._backend import Backend
from skce._engine._cache import LRUCache, fit_key
from skce._engine._fixes import current_jax_draws
from skce._engine._keys import sample_keys
from skce._engine._rows import rows_independent
from skce._engine._sparse import SparseRows, check_dense, nnz_bound
from skce._engine._trainer import (
    NAMED_OPTIMIZERS,
    SharedForward,
    Trainer,
    scale_loss,
    training_kwargs,
)
from skce._engine._trainer import check_distribution as _check
from skce._engine._xla import jit, use_compilation_cache, version

# Compiled epochs are pure functions of (weights, data), so a model with the same
# architecture, optimizer and shapes (a GridSearchCV refit) reuses them.
_EPOCH_CACHE = LRUCache()


class _Bound:
    """The model and optimizer a cached epoch function traces with.

    Set only while a call runs, so the cache keeps no fitted model alive; any
    model of the cached architecture traces the same code.
    """

    model = None
    optimizer = None

    @contextlib.contextmanager
    def to(self, model, optimizer):
        self.model, self.optimizer = model, optimizer
        try:
            yield
        finally:
            self.model = self.optimizer = None


def _build_epoch(
    bound, loss, n_samples, batch_size, distribution=None, sparse=None, pads=False
):
    """Jitted epoch and step functions; ``sparse`` is ``(n_cols, nnz)`` for sparse X.

    A step takes the rows ``idx`` and a boolean ``valid`` per row: a row not
    valid weighs zero (and, of sparse X, holds no values). With ``pads`` (a
    network that computes each row from that row alone) the epoch's short
    last batch is filled up to ``batch_size`` with such rows and runs inside
    the scan, so the step is traced once per epoch, not twice.
    """
    step = _step_function(bound, loss, distribution, sparse)
    epoch = _epoch_function(step, n_samples, batch_size, pads)
    on_sparse = sparse is not None
    return (
        jit(epoch, donate_argnums=0, sparse=on_sparse),
        jit(step, donate_argnums=0, sparse=on_sparse),
    )


def _step_function(bound, loss, distribution, sparse):
    """One optimizer step on the rows ``idx`` of the device data."""

    def objective(tv, ntv, ov, xb, yb, wb, kb):
        with sample_keys(kb):
            out, ntv, losses = bound.model.stateless_call(
                tv,
                ntv,
                xb,
                return_losses=True,
                **training_kwargs(bound.model, True),
            )
        value, weight_sum, correct = loss(yb, out, wb, tv, losses)
        # A loss-scaling optimizer (mixed float16) differentiates the scaled
        # loss; its scale is optimizer state, read from this step's values.
        mapping = list(zip(bound.optimizer.variables, ov, strict=True))
        with keras.StatelessScope(state_mapping=mapping):
            scaled = scale_loss(bound.optimizer, value)
        return scaled, (value, ntv, weight_sum, correct)

    grad_fn = jax.grad(objective, has_aux=True)

    def step(state, data, idx, valid):
        tv, ntv, ov = state
        batch = [_take(a, idx, sparse, valid) for a in data]
        # The loss is the weighted mean sum(w * ce) / sum(w): a row of weight
        # zero adds exact zeros to it and to the gradient.
        batch[2] = jnp.where(valid, batch[2], jnp.zeros_like(batch[2]))
        if distribution is not None:
            # Data parallelism: the batch is split over the mesh's batch axis
            # and the replicated weights' gradients are summed by XLA, so the
            # step computes what it computes on one device.
            batch = [
                keras.distribution.distribute_tensor(
                    a, distribution.get_data_layout(a.shape)
                )
                for a in batch
            ]
        grads, (value, ntv, weight_sum, correct) = grad_fn(tv, ntv, ov, *batch)
        tv, ov = bound.optimizer.stateless_apply(ov, grads, tv)
        row = loss.totals(value, weight_sum, correct).astype(data[2].dtype)
        return (tv, ntv, ov), row

    return step


def _epoch_function(step, n_samples, batch_size, pads):
    """``step`` over the whole batches of a permutation, in one ``lax.scan``."""
    n_full, rest = divmod(n_samples, batch_size)
    n_padding = 0
    if pads and rest:
        n_full, rest, n_padding = n_full + 1, 0, batch_size - rest

    def epoch(state, data, perm):
        w = data[2]
        totals = jnp.zeros((3,), dtype=w.dtype)
        if n_padding:
            # Any rows serve as padding (they weigh nothing): the first ones.
            perm = jnp.concatenate([perm, perm[:n_padding]])
        valid = jnp.arange(len(perm)) < n_samples
        if n_full:
            state, rows = jax.lax.scan(
                lambda s, batch: step(s, data, *batch),
                state,
                (
                    perm[: n_full * batch_size].reshape(n_full, batch_size),
                    valid[: n_full * batch_size].reshape(n_full, batch_size),
                ),
            )
            totals = totals + rows.sum(axis=0)
        if rest:
            tail = slice(n_full * batch_size, None)
            state, row = step(state, data, perm[tail], valid[tail])
            totals = totals + row
        return state, totals

    return epoch


def _take(a, idx, sparse, valid):
    """Rows ``idx`` of a device array; of sparse X, as a ``BCOO`` batch.

    The CSR rows are laid out in ``nnz`` slots (a fixed size, as jit needs):
    their stored values first, then slots of value zero at position (0, 0).
    Rows not ``valid`` (padding) hold no stored values, so they never need
    more slots than the batch's real rows.
    """
    if not isinstance(a, tuple):
        return a[idx]
    n_cols, nnz = sparse
    indptr, indices, data = a
    starts = indptr[idx]
    counts = jnp.where(valid, indptr[idx + 1] - starts, 0)
    ends = jnp.cumsum(counts)
    rows = jnp.repeat(
        jnp.arange(idx.shape[0], dtype=jnp.int32), counts, total_repeat_length=nnz
    )
    slot = jnp.arange(nnz, dtype=jnp.int32)
    valid = slot < ends[-1]
    position = jnp.where(valid, starts[rows] + slot - (ends[rows] - counts[rows]), 0)
    values = jnp.where(valid, data[position], 0)
    coords = jnp.stack(
        [jnp.where(valid, rows, 0), jnp.where(valid, indices[position], 0)], 1
    )
    return jax_sparse.BCOO((values, coords), shape=(idx.shape[0], n_cols))


def _to_tensor(x):
    """Inference rows as jit takes them: a NumPy array as it is (jit's own
    conversion costs a fraction of what ``jnp.asarray`` adds to a one-row
    call), ``SparseRows`` as a ``BCOO`` whose stored values are padded to a
    power of two, so that jit compiles few shapes."""
    if not isinstance(x, SparseRows):
        return x
    rows, cols, values = x.coo()
    nse = 1 << max(0, len(values) - 1).bit_length()
    coords = np.zeros((nse, 2), dtype=np.int32)
    coords[: len(values), 0], coords[: len(values), 1] = rows, cols
    padded = np.zeros(nse, dtype=values.dtype)
    padded[: len(values)] = values
    return jax_sparse.BCOO(
        (jax.device_put(padded), jax.device_put(coords)), shape=x.shape
    )


_CONVOLUTIONS = (
    keras.layers.Conv1D,
    keras.layers.Conv2D,
    keras.layers.Conv3D,
    keras.layers.SeparableConv1D,
    keras.layers.SeparableConv2D,
    keras.layers.DepthwiseConv1D,
    keras.layers.DepthwiseConv2D,
    keras.layers.Conv1DTranspose,
    keras.layers.Conv2DTranspose,
    keras.layers.Conv3DTranspose,
)


def _convolves_on_cpu(model) -> bool:
    """Whether to step from Python instead of scanning the epoch.

    XLA on the CPU runs convolutions inside a ``lax.scan`` many times slower
    than the same steps as separate jitted calls (a known XLA limitation), so
    convolutional models on a CPU device run a jitted step per mini-batch.
    """
    if jax.default_backend() != "cpu":
        return False
    stack = list(model.layers)
    while stack:
        layer = stack.pop()
        if isinstance(layer, _CONVOLUTIONS):
            return True
        stack.extend(getattr(layer, "layers", ()))
    return False


class JaxTrainer(Trainer):
    """Carry weights through jitted epochs; write them back after each."""

    def __init__(self, model, optimizer, loss, data, batch_size, architecture_key):
        self._loss = loss
        self._distribution = data_parallel_in_force()
        self._n_cols = data[0].shape[1] if isinstance(data[0], SparseRows) else None
        if self._distribution is not None:
            check_dense(data[0])
        self._key = fit_key(model, optimizer, loss, data, architecture_key)
        if self._key is not None and self._distribution is not None:
            self._key = (*self._key, _mesh_key(self._distribution))
        self._by_step = _convolves_on_cpu(model)
        self._pads = rows_independent(model)
        if self._key is not None:
            self._key = (*self._key, self._pads)
        self._compiled = {}
        self._nnz = 0
        super().__init__(model, optimizer, loss, data, batch_size, architecture_key)

    def _functions(self, n_samples, sparse=None):
        """The bound model slot and the epoch and step functions for n rows
        (and, for sparse X, ``(n_cols, nnz)`` of each mini-batch)."""
        if (n_samples, sparse) not in self._compiled:
            key = self._key
            if key is not None:
                x64 = jax.config.jax_enable_x64
                key = (*key, n_samples, self.batch_size, x64, sparse)
            cached = _EPOCH_CACHE.lookup(key)
            if cached is None:
                bound = _Bound()
                epoch, batch = _build_epoch(
                    bound,
                    self._loss,
                    n_samples,
                    min(self.batch_size, n_samples),
                    self._distribution,
                    sparse,
                    self._pads,
                )
                cached = (bound, epoch, batch)
                _EPOCH_CACHE.store(key, cached)
            self._compiled[n_samples, sparse] = cached
        return self._compiled[n_samples, sparse]

    def _sparse(self, data, perm):
        """``(n_cols, nnz)`` for the mini-batches of ``perm``, or None if dense."""
        if self._n_cols is None:
            return None
        row_nnz = np.diff(np.asarray(data[0][0]))
        # The bound only grows in a fit: an epoch whose batches fit in an
        # earlier one's slots runs that epoch's compiled code.
        self._nnz = max(self._nnz, nnz_bound(row_nnz, perm, self.batch_size))
        return self._n_cols, self._nnz

    def device_budget(self):
        if accelerator() is None:
            return None
        stats = jax.devices()[0].memory_stats() or {}
        limit = stats.get("bytes_limit")
        return int(limit * 0.25) if limit else None

    def to_device(self, arrays):
        return tuple(
            tuple(jax.device_put(v) for v in a.arrays())
            if isinstance(a, SparseRows)
            else self._replicated(jax.device_put(a))
            for a in arrays
        )

    def _replicated(self, value):
        """``value`` on every device of the data-parallel mesh (if one is set).

        Training data is replicated so that any permutation's mini-batch can
        be gathered on the devices without moving rows between them.
        """
        if self._distribution is None or not value.is_fully_addressable:
            # Values laid over several processes' devices are placed already.
            return value
        layout = keras.distribution.TensorLayout(
            [None] * value.ndim, self._distribution.device_mesh
        )
        return keras.distribution.distribute_tensor(value, layout)

    def _state(self):
        # Read from the variables each time: a callback may have changed them.
        return tuple(
            [self._replicated(v.value) for v in variables]
            for variables in (
                self.model.trainable_variables,
                self.model.non_trainable_variables,
                self.optimizer.variables,
            )
        )

    def _store(self, state):
        tv, ntv, ov = state
        for variables, values in (
            (self.model.trainable_variables, tv),
            (self.model.non_trainable_variables, ntv),
            (self.optimizer.variables, ov),
        ):
            for variable, value in zip(variables, values, strict=True):
                variable.assign(value)

    def epoch_on(self, data, perm):
        sparse = self._sparse(data, perm)
        bound, epoch_fn, batch_fn = self._functions(len(perm), sparse)
        with bound.to(self.model, self.optimizer):
            if self._by_step:
                state, totals = self._state(), 0.0
                for idx in self.batches(perm):
                    state, row = batch_fn(state, data, *self._padded(idx))
                    totals = totals + row
            else:
                state, totals = epoch_fn(
                    self._state(), data, jnp.asarray(perm, jnp.int32)
                )
        self._store(state)
        return np.asarray(totals)

    def batch_on(self, data, idx):
        sparse = self._sparse(data, idx)
        bound, _, batch_fn = self._functions(self.n_samples, sparse)
        with bound.to(self.model, self.optimizer):
            state, totals = batch_fn(self._state(), data, *self._padded(idx))
        self._store(state)
        return np.asarray(totals)

    def _padded(self, idx):
        """A step's rows and their validity; a short batch filled up to
        ``batch_size`` with rows of weight zero where the network allows."""
        n_padding = self.batch_size - len(idx) if self._pads else 0
        idx = np.concatenate([idx, idx[:1].repeat(n_padding)]).astype(np.int32)
        valid = np.arange(len(idx)) < len(idx) - n_padding
        return jax.device_put(idx), jax.device_put(valid)


def data_parallel_in_force():
    """The ``keras.distribution`` in force, checked to be data-parallel, or None."""
    distribution = keras.distribution.distribution()
    if distribution is not None:
        check_distribution(distribution)
    return distribution


def check_distribution(distribution) -> None:
    """Raise unless skce can train under ``distribution``."""
    expected = keras.distribution.DataParallel
    _check(distribution, expected, "keras.distribution.DataParallel")


def data_parallel():
    """Data parallelism over every device JAX sees."""
    return keras.distribution.DataParallel()


def _mesh_key(distribution) -> tuple:
    mesh = distribution.device_mesh
    devices = tuple(str(d) for d in np.asarray(mesh.devices).flat)
    return ("data_parallel", devices, tuple(mesh.axis_names))


def enable_x64():
    """JAX's x64 mode for the calling thread, as a context manager.

    ``jax.enable_x64`` is the public name since JAX 0.5; the JAX releases
    skce still supports before it have ``jax.experimental.enable_x64``.
    """
    if hasattr(jax, "enable_x64"):
        return jax.enable_x64(True)
    from jax.experimental import enable_x64 as experimental_enable_x64

    return experimental_enable_x64(True)


def random_scope():
    return current_jax_draws(version())


class _HostZeros(keras.initializers.Initializer):
    """Zeros made in NumPy and put on the device: no program compiles.

    ``jnp.zeros`` compiles a small XLA program for each new shape, which is
    most of what building an optimizer costs in a fresh process (several
    tens of milliseconds per weight shape on a 2-core CPU).
    """

    def __call__(self, shape, dtype=None):
        dtype = jnp.dtype(keras.backend.standardize_dtype(dtype))
        return jax.device_put(np.zeros(shape, dtype))


def optimizer_scope(optimizer):
    """For an optimizer of a class skce names, slots made by ``_HostZeros``.

    Keras's optimizers name their slots' initializer ``"zeros"``, which Keras
    resolves through its custom objects first. The scope replaces any custom
    objects in force while ``build`` runs, so it is kept to Keras's own
    optimizers, whose ``build`` names no others. Under a
    ``keras.distribution`` Keras may run the initializer inside a sharded
    ``jax.jit``, where host zeros would become a constant as large as the
    slot: there Keras's own zeros are kept.
    """
    if (
        type(optimizer) not in NAMED_OPTIMIZERS
        or keras.distribution.distribution() is not None
    ):
        return contextlib.nullcontext()
    return keras.saving.custom_object_scope({"zeros": _HostZeros})


def accelerator():
    backend = jax.default_backend()
    return backend if backend in ("gpu", "tpu") else None


def compile_forward(model, fn):
    """Compile ``fn(model(x), *extra)`` for inference, weights as arguments."""
    return SharedForward(fn, jit, _to_tensor)


def call_forward(model, compiled, x, *extra):
    return np.asarray(compiled(model, x, *extra))


def _host_reader(variables):
    """A function that reads Keras variables' values as NumPy arrays: a
    jax.Array on the CPU reads as one without a copy. Each assignment makes
    a new array, so the values are looked up at every call."""
    return lambda: [np.asarray(v.value) for v in variables]


class JaxBackend(Backend):
    """JAX: jitted epochs, shared inference, ``keras.distribution``."""

    name = "jax"
    # Inference code is pure in (weights, data) too: models of one
    # architecture share it when the caller keys it by architecture.
    shares_forward = True
    trains_data_parallel = True
    pads_inference = True
    scoped_float64 = True
    # Keras networks on JAX take BCOO input.
    sparse_tensors = True
    host_inference = True
    trainer = JaxTrainer
    accelerator = staticmethod(accelerator)
    compile_forward = staticmethod(compile_forward)
    call_forward = staticmethod(call_forward)
    host_reader = staticmethod(_host_reader)
    data_parallel = staticmethod(data_parallel)
    check_distribution = staticmethod(check_distribution)
    float64_scope = staticmethod(enable_x64)
    random_scope = staticmethod(random_scope)
    optimizer_scope = staticmethod(optimizer_scope)
    configure = staticmethod(use_compilation_cache)
