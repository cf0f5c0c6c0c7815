"""TensorFlow and sparse X: CSR arrays on the device, batches as SparseTensors."""

import numpy as np
import tensorflow as tf

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
    holds exactly its stored values, whatever their number.
    """
    if not isinstance(a, tuple):
        return tf.gather(a, idx)
    indptr, indices, data, n_cols = a
    starts = tf.gather(indptr, idx)
    positions = tf.ragged.range(starts, tf.gather(indptr, idx + 1))
    rows = positions.value_rowids()
    flat = positions.flat_values
    cols = tf.cast(tf.gather(indices, flat), tf.int64)
    shape = tf.stack([tf.cast(tf.shape(idx)[0], tf.int64), n_cols])
    return tf.SparseTensor(tf.stack([rows, cols], 1), tf.gather(data, flat), shape)


def sparse_tensor(x):
    """Inference rows as a tensor: ``SparseRows`` as a ``tf.SparseTensor``."""
    if not isinstance(x, SparseRows):
        return tf.convert_to_tensor(x)
    rows, cols, values = x.coo()
    return tf.SparseTensor(np.stack([rows, cols], 1), values, x.shape)


def compiles_update(optimizer, x, on_cpu: bool) -> bool:
    """Whether a fit's optimizer update runs XLA-compiled inside its epoch.

    For sparse X on the CPU, with an optimizer of one of the classes skce
    names (by name or as an instance) that scales no loss: the first layer's
    kernel (features times units) is then large and its gradient dense, and
    the optimizer's elementwise operations, each its own pass over the
    kernel in a TensorFlow graph, become the bulk of a step. XLA fuses them
    (about a quarter off a step of a 128-unit MLP on 9,350 TF-IDF terms on a
    2-core CPU). The update's shapes are the weights', so it compiles once.
    The L2 penalty's gradient is then added to the gradients by hand, which
    holds only where they are those of the loss itself (no
    ``loss_scale_factor``).
    """
    return (
        isinstance(x, SparseRows)
        and on_cpu
        and type(optimizer) in NAMED_OPTIMIZERS
        and getattr(optimizer, "loss_scale_factor", None) is None
    )
