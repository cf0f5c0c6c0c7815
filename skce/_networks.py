"""Building blocks the built-in networks share: dense stack, logits, recurrent stack."""

import keras

from skce._layers import SampleKeyedDropout

ACTIVATIONS = ("relu", "tanh", "sigmoid", "elu", "selu", "gelu", "silu", "linear")

#: The recurrent layers ``SparseCERNNClassifier`` builds, by their ``cell`` name.
CELLS = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU}


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


def recurrent_stack(
    x,
    units: tuple,
    cell: str,
    bidirectional: bool,
    dropout: float,
    seed: int,
    return_sequences: bool,
    activation="tanh",
):
    """Apply recurrent layers of ``units`` (with dropout after each) to ``x``.

    Every layer but the last returns the whole sequence; the last returns it
    when ``return_sequences`` is true (one output per timestep) and only its
    final state otherwise. Dropout is skce's sample-keyed dropout between the
    layers, never inside the recurrence, so it stays exact under sample
    weights. A bidirectional layer's backward half gets seeds of its own.
    """
    for i, n in enumerate(units):
        sequences = return_sequences or i < len(units) - 1

        def make(offset, go_backwards=False, n=n, sequences=sequences, i=i):
            return CELLS[cell](
                n,
                activation=activation,
                return_sequences=sequences,
                go_backwards=go_backwards,
                kernel_initializer=keras.initializers.GlorotUniform(
                    seed=seed + offset + i
                ),
                recurrent_initializer=keras.initializers.Orthogonal(
                    seed=seed + offset + 500 + i
                ),
            )

        if bidirectional:
            layer = keras.layers.Bidirectional(
                make(0), backward_layer=make(3000, go_backwards=True)
            )
        else:
            layer = make(0)
        x = layer(x)
        if dropout:
            x = SampleKeyedDropout(dropout, seed=seed + 1000 + i)(x)
    return x
