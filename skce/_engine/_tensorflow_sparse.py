"""TensorFlow and sparse X: CSR arrays on the device, batches as SparseTensors."""

import keras
import numpy as np
import tensorflow as tf

from skce._engine._cache import blank_layer
from skce._engine._sparse import SparseRows
from skce._engine._trainer import NAMED_OPTIMIZERS


def spec(a):
    """The TensorSpec of a training array on the device (a tuple for sparse X)."""
    if isinstance(a, SparseRows):
        return (
            tf.TensorSpec((None,), tf.int32),
            tf.TensorSpec((None,), tf.int32),
            tf.TensorSpec((None,), a.dtype),
            tf.TensorSpec((), tf.int64),
        )
    return tf.TensorSpec((None, *a.shape[1:]), a.dtype)


def to_device(a):
    """A training array as tensors: sparse X as its CSR arrays and width."""
    if not isinstance(a, SparseRows):
        return tf.convert_to_tensor(a)
    arrays = tuple(tf.convert_to_tensor(v) for v in a.arrays())
    return (*arrays, tf.constant(a.shape[1], tf.int64))


def take(a, idx):
    """Rows ``idx`` of a device array; of sparse X, as a ``tf.SparseTensor``.

    The CSR rows are gathered as a ragged range of positions, so the batch
    holds exactly its stored values, whatever their number. Each value's row
    comes from the range's splits by ``RaggedTensorToSparse``, one operation
    where ``RaggedTensor.value_rowids`` traces 72: a quarter fewer operations
    in a sparse step, which TensorFlow traces and instantiates faster on a
    fit's first call (about 30 ms less for the 200-row batches of
    ``benchmarks/bench_sparse.py`` on a 2-core CPU).
    """
    if not isinstance(a, tuple):
        return tf.gather(a, idx)
    indptr, indices, data, n_cols = a
    splits, flat = tf.raw_ops.RaggedRange(
        starts=tf.gather(indptr, idx),
        limits=tf.gather(indptr, idx + 1),
        deltas=1,
        Tsplits=tf.int64,
    )
    places = tf.raw_ops.RaggedTensorToSparse(
        rt_nested_splits=[splits], rt_dense_values=flat
    ).sparse_indices
    cols = tf.cast(tf.gather(indices, flat), tf.int64)
    shape = tf.stack([tf.cast(tf.shape(idx)[0], tf.int64), n_cols])
    return tf.SparseTensor(
        tf.stack([places[:, 0], cols], 1), tf.gather(data, flat), shape
    )


#: Where a sparse mini-batch's first layer takes its kernel's gradient as one
#: dense product (``product_gradient``): kernels of at most this many rows
#: per stored value of an average mini-batch.
PRODUCT_GRADIENT_ROWS = 4


def product_gradient(x, batch_size: int, on_cpu: bool) -> bool:
    """Whether a fit on ``x`` traces its Dense layers' kernel gradient on a
    sparse batch as one dense product, ``X_batch.T @ upstream``.

    Keras multiplies a sparse batch by gathering the kernel's rows, so the
    kernel's gradient is a ``tf.IndexedSlices``: the ids made unique, a
    segment sum per unique id, then (as every optimizer needs it dense) a
    scatter into the kernel's shape. ``tf.sparse.sparse_dense_matmul`` with
    ``adjoint_a`` gives the dense gradient in one pass over the batch's
    values, plus one zeroing of the kernel's shape. For a 128-unit MLP on
    8,859 TF-IDF terms (about 4,300 stored values per mini-batch of 200, a
    2-core CPU) later fits took 0.88 times as long
    (``benchmarks/results/sparse.md``); by hand, the two broke even at four
    times as many terms, where zeroing the wider kernel costs what the ids
    save, so a kernel of 2**20 hashed terms keeps Keras's gradient. On the
    CPU only, where TensorFlow's kernel adds the batch's values one after
    another, so a fit repeats bit for bit (tested); elsewhere Keras's
    gradient is kept.
    """
    if not isinstance(x, SparseRows) or not on_cpu or len(x) == 0:
        return False
    per_batch = x.csr.nnz / len(x) * min(batch_size, len(x))
    return x.shape[1] <= PRODUCT_GRADIENT_ROWS * per_batch


def product_gradient_layer(layer):
    """``clone_model``'s ``clone_function`` for a fit that takes
    ``product_gradient``: a ``keras.layers.Dense`` becomes a
    ``_ProductGradientDense`` of the same config, any other layer a copy,
    each with zeros for initializers (``blank_layer``)."""
    dense = type(layer) is keras.layers.Dense
    return blank_layer(layer, _ProductGradientDense if dense else None)


class _ProductGradientDense(keras.layers.Dense):
    """A Dense layer whose kernel's gradient on a sparse batch is one dense
    product (``product_gradient``); on dense input, a Dense layer.

    Only in the private copy of a network that skce traces its training
    on: the forward pass equals Keras's product (the same terms summed in
    the same order), so the network computes what the user's does, and
    only the gradient's summation order differs.
    """

    def call(self, inputs, training=None):
        if not isinstance(inputs, tf.SparseTensor) or inputs.shape.rank != 2:
            return super().call(inputs, training=training)
        kernel = tf.convert_to_tensor(self.kernel)
        if inputs.dtype != kernel.dtype:
            return super().call(inputs, training=training)
        x = _sparse_product(inputs.indices, inputs.values, inputs.dense_shape, kernel)
        x.set_shape((inputs.shape[0], kernel.shape[1]))
        if self.bias is not None:
            x = keras.ops.add(x, self.bias)
        if self.activation is not None:
            x = self.activation(x)
        return x


@tf.custom_gradient
def _sparse_product(indices, values, dense_shape, kernel):
    """``X @ kernel`` for the sparse X of these parts (its entries in row
    order, as ``take`` makes them), with the kernel's gradient as
    ``X.T @ upstream`` (dense) and none for X.

    The product equals Keras's (tested): each row sums the same terms in
    the same order. Keras first gives every empty row an entry of weight
    zero and gathers each distinct kernel row once; gathering a row per
    entry and padding the empty rows at the end instead takes 10 fewer
    operations and about 25 µs less a step for the 200-row batches of
    ``benchmarks/bench_sparse.py``.
    """
    x = tf.SparseTensor(indices, values, dense_shape)

    def gradient(upstream):
        kernel_gradient = tf.sparse.sparse_dense_matmul(x, upstream, adjoint_a=True)
        return None, None, None, kernel_gradient

    terms = tf.gather(kernel, indices[:, 1]) * tf.expand_dims(values, 1)
    sums = tf.math.segment_sum(terms, indices[:, 0])
    missing = dense_shape[0] - tf.shape(sums, out_type=dense_shape.dtype)[0]
    return tf.pad(sums, [[0, missing], [0, 0]]), gradient


def _plus(gradient, penalty_gradient):
    """A kernel's gradient with the penalty's added.

    The first layer's gradient on sparse X is dense where it is one product
    (``product_gradient``), else a ``tf.IndexedSlices`` (Keras multiplies a
    sparse batch by gathering kernel rows): its rows are then added into the
    penalty's gradient in place, one pass over the kernel where densifying
    them and adding would take three. A kernel the data term does not reach
    still has the penalty's gradient, as the taped penalty gives it.
    """
    if gradient is None:
        return penalty_gradient
    if isinstance(gradient, tf.IndexedSlices):
        rows = tf.expand_dims(gradient.indices, 1)
        return tf.tensor_scatter_nd_add(penalty_gradient, rows, gradient.values)
    return gradient + penalty_gradient


def sparse_tensor(x):
    """Inference rows as a tensor: ``SparseRows`` as a ``tf.SparseTensor``."""
    if not isinstance(x, SparseRows):
        return tf.convert_to_tensor(x)
    rows, cols, values = x.coo()
    return tf.SparseTensor(np.stack([rows, cols], 1), values, x.shape)


def compiles_update(optimizer, x, on_cpu: bool) -> bool:
    """Whether a fit's optimizer update runs in one pass over each weight.

    For sparse X on the CPU, with an optimizer of one of the classes skce
    names (by name or as an instance) that scales no loss: the first layer's
    kernel (features times units) is then large and its gradient dense, and
    the optimizer's elementwise operations, each its own pass over the
    kernel in a TensorFlow graph, become the bulk of a step. TensorFlow's
    fused training op for Adam and SGD (``fused_update``), else XLA, runs
    them as one (XLA took about a quarter off a step of a 128-unit MLP on
    9,350 TF-IDF terms on a 2-core CPU; its update's shapes are the
    weights', so it compiles once). The L2 penalty's gradient is then added
    to the gradients by hand, which holds only where they are those of the
    loss itself (no ``loss_scale_factor``).
    """
    return (
        isinstance(x, SparseRows)
        and on_cpu
        and type(optimizer) in NAMED_OPTIMIZERS
        and getattr(optimizer, "loss_scale_factor", None) is None
    )


def fused_update(optimizer, variables):
    """``update(grads)``: ``optimizer``'s step on ``variables`` as TensorFlow's
    fused training ops, or None where they do not apply.

    For Adam and SGD with nothing beyond their step (no clipping, weight
    decay, moving average, gradient accumulation, loss scaling or AMSGrad;
    no weight constraint; float32 or float64 weights),
    ``ResourceApplyAdam``, ``ResourceApplyKerasMomentum`` and
    ``ResourceApplyGradientDescent`` update a weight and its moments in place,
    in one pass, with the formulas of Keras's ``update_step``. They differ in
    rounding only: TensorFlow computes ``1 - beta_1`` and ``1 - beta_2`` in
    the weight's type (0.00099998713 in float32 for 0.999), Keras in
    Python's floats (0.001), so fits agree with Keras's update to about 1e-5,
    not bit for bit. On sparse X this took a fifth off a fit of a 128-unit
    MLP on 8,859 TF-IDF terms (2-core CPU), against the XLA-compiled update,
    and there is nothing to compile. The moments are found as Keras's own
    step finds them (``_get_variable_index``, ``_momentums``, ``_velocities``
    and SGD's ``momentums``: private, guarded by
    ``tests/engine/test_tensorflow.py``).
    """
    kind = type(optimizer)
    plain = (
        optimizer.clipnorm is None
        and optimizer.clipvalue is None
        and optimizer.global_clipnorm is None
        and not optimizer.weight_decay
        and not optimizer.use_ema
        and not getattr(optimizer, "gradient_accumulation_steps", None)
        and getattr(optimizer, "loss_scale_factor", None) is None
        and all(_plain_weight(v) for v in variables)
    )
    if not plain or kind not in (keras.optimizers.Adam, keras.optimizers.SGD):
        return None
    if kind is keras.optimizers.Adam and optimizer.amsgrad:
        return None

    def update(grads):
        step = optimizer.iterations + 1
        # The step's scalars, once per weight type rather than per weight.
        scalars = {}
        for grad, variable in zip(grads, variables, strict=True):
            if grad is None:
                continue  # As Keras's optimizers skip a weight with no gradient.
            dtype = variable.dtype
            if dtype not in scalars:
                scalars[dtype] = _scalars(optimizer, kind, dtype, step)
            index = optimizer._get_variable_index(variable)
            _apply(optimizer, kind, index, variable, grad, scalars[dtype])
        optimizer.iterations.assign_add(1)

    return update


def _plain_weight(variable) -> bool:
    """Whether a weight is updated by its optimizer's step alone, in float32
    or float64: no constraint (Keras applies it after the step), not
    overwritten by its gradient (float8 scales), and of a type in which the
    fused op's own ``1 - beta`` rounds as Keras's does, to about 1e-5 (in
    float16 it would be 2 % off)."""
    return (
        getattr(variable, "constraint", None) is None
        and not getattr(variable, "overwrite_with_gradient", False)
        and str(variable.dtype) in ("float32", "float64")
    )


def _scalars(optimizer, kind, dtype, step) -> dict:
    """The scalar inputs of one step's fused op for weights of ``dtype``."""
    scalars = {"lr": tf.cast(optimizer.learning_rate, dtype)}
    if kind is keras.optimizers.Adam:
        local_step = tf.cast(step, dtype)
        beta_1, beta_2 = (
            tf.constant(b, dtype) for b in (optimizer.beta_1, optimizer.beta_2)
        )
        scalars.update(
            beta1_power=tf.pow(beta_1, local_step),
            beta2_power=tf.pow(beta_2, local_step),
            beta1=beta_1,
            beta2=beta_2,
            epsilon=tf.constant(optimizer.epsilon, dtype),
        )
    elif optimizer.momentum:
        scalars["momentum"] = tf.constant(optimizer.momentum, dtype)
    return scalars


def _apply(optimizer, kind, index, variable, grad, scalars):
    """One weight's fused step (see ``fused_update``)."""
    if kind is keras.optimizers.Adam:
        tf.raw_ops.ResourceApplyAdam(
            var=variable.handle,
            m=optimizer._momentums[index].handle,
            v=optimizer._velocities[index].handle,
            grad=grad,
            **scalars,
        )
    elif optimizer.momentum:
        tf.raw_ops.ResourceApplyKerasMomentum(
            var=variable.handle,
            accum=optimizer.momentums[index].handle,
            grad=grad,
            use_nesterov=bool(optimizer.nesterov),
            **scalars,
        )
    else:
        tf.raw_ops.ResourceApplyGradientDescent(
            var=variable.handle, alpha=scalars["lr"], delta=grad
        )
