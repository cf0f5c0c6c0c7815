"""TensorFlow inference: the shared traced forward, bound once per input type."""

import tensorflow as tf

from skce._engine._sparse import SparseRows
from skce._engine._trainer import SharedForward, weights


class BoundForward(SharedForward):
    """A ``SharedForward`` that calls its trace's concrete function directly.

    Calling a ``tf.function`` matches the arguments against its traces on
    every call: about 0.2 ms, a third of a one-row prediction on a 2-core
    CPU. The concrete
    function of each input type (any number of rows) is looked up once and
    called from then on; it still checks that the weights it is given have
    the types it was traced for.
    """

    def __init__(self, fn, compile, to_tensor):
        super().__init__(fn, compile, to_tensor)
        self._concrete = {}

    def __call__(self, model, x, *extra):
        trainable, non_trainable = weights(model)
        if any(isinstance(w, tf.distribute.DistributedValues) for w in trainable):
            # A strategy's mirrored weights are not the plain variables a
            # concrete function was traced for: tf.function matches them.
            return super().__call__(model, x, *extra)
        key = (
            len(trainable),
            len(non_trainable),
            _signature(x),
            *(_signature(e) for e in extra),
        )
        x = self._to_tensor(x)
        extra = [tf.convert_to_tensor(e) for e in extra]
        concrete = self._concrete.get(key)
        if concrete is None:
            with self.tracing(model):
                concrete = self._compiled.get_concrete_function(
                    trainable, non_trainable, *(_any_rows(t) for t in (x, *extra))
                )
            self._concrete[key] = concrete
        return concrete(trainable, non_trainable, x, *extra)


def _signature(rows) -> tuple:
    """What a concrete function is traced for: the type of rows, not their number."""
    return (isinstance(rows, SparseRows), str(rows.dtype), tuple(rows.shape[1:]))


def _any_rows(tensor):
    """The spec of ``tensor`` with any number of rows."""
    shape = (None, *tensor.shape[1:])
    if isinstance(tensor, tf.SparseTensor):
        return tf.SparseTensorSpec(shape, tensor.dtype)
    return tf.TensorSpec(shape, tensor.dtype)


def host_reader(variables):
    """A function that reads Keras variables' values as NumPy arrays.

    Each read is one raw ``ReadVariableOp`` on the variable's handle, found
    once: ``tf.Variable.numpy()`` and Keras's ``Variable.value`` go through
    Python layers that cost more than the read itself, and a one-row
    prediction reads every weight of the network.
    """
    if any(isinstance(v.value, tf.distribute.DistributedValues) for v in variables):
        # A strategy's mirrored weights have no one handle to read from
        # outside a replica: they keep the compiled path.
        return None
    read = tf.raw_ops.ReadVariableOp
    handles = [(v.value.handle, v.value.dtype) for v in variables]
    return lambda: [read(resource=h, dtype=d).numpy() for h, d in handles]
