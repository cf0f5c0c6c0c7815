"""Building blocks the built-in networks share: dense stack and logits."""

import keras

from skce._layers import SampleKeyedDropout

ACTIVATIONS = ("relu", "tanh", "sigmoid", "elu", "selu", "gelu", "silu", "linear")


def dense_stack(x, units, activation, dropout, seed):
    """Apply Dense layers of ``units`` (with dropout after each) to ``x``."""
    for i, n in enumerate(units):
        x = keras.layers.Dense(
            n,
            activation=activation,
            kernel_initializer=keras.initializers.GlorotUniform(seed=seed + i),
        )(x)
        if dropout:
            x = SampleKeyedDropout(dropout, seed=seed + 1000 + i)(x)
    return x


def logits_layer(x, n_classes, seed):
    """The output layer: one logit per class."""
    return keras.layers.Dense(
        n_classes,
        kernel_initializer=keras.initializers.GlorotUniform(seed=seed + 2000),
        name="logits",
    )(x)
