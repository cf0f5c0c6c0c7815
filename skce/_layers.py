"""Keras layers that skce's built-in networks use."""

import math

import keras
import numpy as np
from keras import ops


@keras.saving.register_keras_serializable(package="skce")
class SampleKeyedDropout(keras.layers.Layer):
    """Dropout whose mask is drawn from each sample's own values.

    Ordinary dropout draws masks by row position, so a sample of weight 2 and
    two copies of that sample get different masks and the two fits differ.
    Here each unit's keep-or-drop draw is a hash of the sample's activations,
    the training step and the unit: identical rows get identical masks, so
    ``sample_weight=k`` trains exactly like ``k`` repeated rows, while distinct
    samples and successive steps still get independent-looking masks. Like
    ``keras.layers.Dropout``, kept units are scaled by ``1 / (1 - rate)`` in
    training and the layer is the identity at inference.

    Parameters
    ----------
    rate : float in [0, 1)
        Fraction of units to drop.
    seed : int, default=0
        Seed of the per-unit hash constants.
    """

    def __init__(self, rate, seed=0, **kwargs):
        super().__init__(**kwargs)
        self.rate = float(rate)
        self.seed = int(seed)
        self.supports_masking = True

    def build(self, input_shape):
        units = math.prod(input_shape[1:])
        rng = np.random.RandomState(self.seed)
        # Constants of the hash: a projection that turns a sample into a key,
        # and per-unit frequencies and phases.
        for name, values in (
            ("projection", rng.uniform(-1, 1, units)),
            ("frequency", rng.uniform(1, 2, units)),
            ("step_frequency", rng.uniform(0.5, 1.5, units)),
            ("phase", rng.uniform(0, 2 * np.pi, units)),
        ):
            var = self.add_weight(
                shape=(units,),
                initializer=keras.initializers.Constant(values),
                trainable=False,
                name=name,
            )
            setattr(self, name, var)
        self.step = self.add_weight(
            shape=(), initializer="zeros", trainable=False, name="step"
        )

    def call(self, inputs, training=False):
        if not training or self.rate == 0:
            return inputs
        flat = ops.reshape(inputs, (ops.shape(inputs)[0], -1))
        key = ops.sum(flat * self.projection, axis=1, keepdims=True)
        angle = key * self.frequency + self.step * self.step_frequency + self.phase
        noise = ops.sin(angle) * 43758.5453
        uniform = noise - ops.floor(noise)
        keep = ops.cast(uniform >= self.rate, inputs.dtype)
        self.step.assign(self.step + 1)
        scaled = flat * keep / (1.0 - self.rate)
        return ops.reshape(scaled, ops.shape(inputs))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}
