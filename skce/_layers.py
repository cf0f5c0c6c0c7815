"""Keras layers that skce's built-in networks use."""

import math
import threading

import keras
import numpy as np
from keras import ops

from skce._engine import current_sample_keys

# Constants of the murmur3 32-bit finaliser and the golden-ratio increment,
# written as the int32 values with the same bits.
_MIX1 = np.int32(0x85EBCA6B - 2**32)
_MIX2 = np.int32(0xC2B2AE35 - 2**32)
_GOLDEN = np.int32(0x9E3779B9 - 2**32)
_STEP_SALT = 0x632BE5AB
# The mask compares 24 random bits with the rate scaled to 2**24.
_BITS = 24


def _shift_right(h, bits: int):
    """Logical right shift of int32 values (the sign bit is not spread)."""
    return ops.bitwise_and(ops.right_shift(h, bits), (1 << (32 - bits)) - 1)


def _mix(h):
    """murmur3's finaliser: every input bit flips each output bit with p≈1/2."""
    h = ops.bitwise_xor(h, _shift_right(h, 16))
    h = ops.multiply(h, _MIX1)
    h = ops.bitwise_xor(h, _shift_right(h, 13))
    h = ops.multiply(h, _MIX2)
    return ops.bitwise_xor(h, _shift_right(h, 16))


def _mix_int(value: int) -> int:
    """``_mix`` of a Python int, for constants fixed when the layer is made."""
    h = value & 0xFFFFFFFF
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & 0xFFFFFFFF
    h ^= h >> 16
    return h - 2**32 if h >= 2**31 else h


@keras.saving.register_keras_serializable(package="skce")
class SampleKeyedDropout(keras.layers.Layer):
    """Dropout whose masks are drawn by integer hashing of a per-sample key.

    Ordinary dropout draws masks by row position, so a sample of weight 2 and
    two copies of that sample get different masks and the two fits differ.
    Here the keep-or-drop draw of each unit is a counter-based hash of three
    integers, under the layer's ``seed``: the sample's key, the training step
    and the unit's index. skce computes each sample's key once, exactly, from
    the bytes of its input, so identical rows get identical masks and
    ``sample_weight=k`` trains like ``k`` copies in the same mini-batch.
    Nothing depends on floating-point rounding: the same seed gives the same
    masks on any thread count, code path, backend or device.

    Outside skce's training loop (for example in Keras's own ``model.fit``)
    there are no sample keys, and each row's position in its batch serves as
    its key. Like ``keras.layers.Dropout``, kept units are scaled by
    ``1 / (1 - rate)`` in training and the layer is the identity at inference.

    Parameters
    ----------
    rate : float in [0, 1)
        Fraction of units to drop.
    seed : int, default=0
        Seed of the hash.
    """

    # Each row's mask comes from its own key: padding a batch with other rows
    # changes nothing for it (read by the engine, see _engine/_rows.py).
    rows_independent = True

    #: Inference passes the input through (``_engine._host`` reads this).
    inference_identity = True

    def __init__(self, rate, seed=0, **kwargs):
        super().__init__(**kwargs)
        self.rate = float(rate)
        self.seed = int(seed)
        self.supports_masking = True
        self._threshold = np.int32(round(self.rate * 2**_BITS))

    def build(self, input_shape):
        self.units = math.prod(input_shape[1:])
        self.step = self.add_weight(
            shape=(), initializer="zeros", dtype="int32", trainable=False, name="step"
        )
        # The seed enters as state, not as a constant of the traced code, so
        # compiled training code is shared by models that differ only in seed.
        self.salts = self.add_weight(
            shape=(2,),
            initializer=keras.initializers.Constant(
                [_mix_int(self.seed), _mix_int(self.seed ^ _STEP_SALT)]
            ),
            dtype="int32",
            trainable=False,
            name="salts",
        )

    def keep_mask(self, keys, step):
        """Return the boolean keep mask of shape ``(len(keys), units)``.

        Parameters
        ----------
        keys : int32 tensor of shape (batch,)
            The samples' keys.
        step : int32 scalar
            The training step.
        """
        units = ops.arange(self.units, dtype="int32")
        salts = ops.convert_to_tensor(self.salts, "int32")
        unit_hash = _mix(ops.add(ops.multiply(units, _GOLDEN), salts[0]))
        step_hash = _mix(ops.add(ops.multiply(step, _GOLDEN), salts[1]))
        sample_hash = _mix(ops.bitwise_xor(ops.cast(keys, "int32"), step_hash))
        bits = _mix(
            ops.bitwise_xor(
                ops.expand_dims(sample_hash, 1), ops.expand_dims(unit_hash, 0)
            )
        )
        return ops.greater_equal(_shift_right(bits, 32 - _BITS), self._threshold)

    def call(self, inputs, training=False):
        if not training or self.rate == 0:
            return inputs
        batch = ops.shape(inputs)[0]
        keys = current_sample_keys()
        if keys is None:
            keys = ops.arange(batch, dtype="int32")
        keep = self.keep_mask(keys, ops.convert_to_tensor(self.step, "int32"))
        self.step.assign(self.step + 1)
        flat = ops.reshape(inputs, (batch, -1))
        scaled = ops.where(keep, flat / (1.0 - self.rate), ops.zeros_like(flat))
        return ops.reshape(scaled, ops.shape(inputs))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


@keras.saving.register_keras_serializable(package="skce")
def float64_tanh(x):
    """``tanh(x)`` as ``2 * sigmoid(2 * x) - 1``, in the precision of ``x``.

    Keras's JAX backend computes ``ops.tanh`` of float64 input in float32 (its
    type promotion maps float64 to float32 there), so a float64 recurrent
    network would not be float64: rounding would then make ``sample_weight=k``
    differ from ``k`` copies. ``ops.sigmoid`` keeps float64 on every backend.
    The built-in recurrent network uses this activation in float64 only; in
    float32 it keeps Keras's "tanh", which fast fused kernels recognise.
    """
    return 2.0 * ops.sigmoid(2.0 * x) - 1.0


# Values drawn or skipped at a time: bounds the float64 scratch of a draw.
_DRAW_CHUNK = 1 << 20
# Where recent draws left their stream, by (seed, values drawn): a network's
# initializers draw one stream in order, so each can start where the one
# before it stopped instead of skipping every earlier value again (three
# skips of over a million values for an MLP on 8,859 TF-IDF terms).
_STREAM_STATES = {}
_KEPT_STATES = 16
_STATES_LOCK = threading.Lock()


def _stream(seed: int, offset: int):
    """``RandomState(seed)`` with its first ``offset`` values drawn."""
    rng = np.random.RandomState(seed)
    with _STATES_LOCK:
        state = _STREAM_STATES.get((seed, offset))
    if state is not None:
        rng.set_state(state)
        return rng
    for start in range(0, offset, _DRAW_CHUNK):
        rng.random_sample(min(_DRAW_CHUNK, offset - start))
    return rng


def _keep(seed: int, offset: int, rng) -> None:
    """Remember that ``rng`` is ``RandomState(seed)`` after ``offset`` values."""
    state = rng.get_state()
    with _STATES_LOCK:
        if len(_STREAM_STATES) >= _KEPT_STATES:
            del _STREAM_STATES[next(iter(_STREAM_STATES))]  # The oldest.
        _STREAM_STATES[(seed, offset)] = state


@keras.saving.register_keras_serializable(package="skce")
class MLPUniform(keras.initializers.Initializer):
    """Uniform ``±limit`` values from ``numpy.random.RandomState(seed)``.

    ``MLPClassifier`` draws a network's initial weights from one
    ``RandomState``: each layer's kernel, then its biases, layer after layer.
    This initializer draws its tensor from that stream after skipping the
    ``offset`` values earlier tensors took, so a network built with offsets
    in that order starts from ``MLPClassifier``'s weights. The draw runs in
    NumPy on the host: every backend gets the same values, and no backend
    compiles random-number code to build a network.

    Parameters
    ----------
    limit : float
        Half-width of the uniform interval.
    seed : int
        Seed of the ``RandomState`` stream.
    offset : int, default=0
        Values of the stream drawn before this tensor's.
    """

    def __init__(self, limit, seed, offset=0):
        self.limit = float(limit)
        self.seed = int(seed)
        self.offset = int(offset)

    def __call__(self, shape, dtype=None):
        dtype = keras.backend.standardize_dtype(dtype or keras.backend.floatx())
        rng = _stream(self.seed, self.offset)
        # Drawn in float64 and rounded once, as MLPClassifier's astype does;
        # types NumPy lacks (bfloat16) are rounded from float32 by the backend.
        host = "float64" if dtype == "float64" else "float32"
        values = np.empty(math.prod(shape), dtype=host)
        for start in range(0, values.size, _DRAW_CHUNK):
            stop = min(start + _DRAW_CHUNK, values.size)
            values[start:stop] = rng.uniform(-self.limit, self.limit, stop - start)
        _keep(self.seed, self.offset + values.size, rng)
        return ops.convert_to_tensor(values.reshape(shape), dtype=dtype)

    def get_config(self):
        return {"limit": self.limit, "seed": self.seed, "offset": self.offset}
