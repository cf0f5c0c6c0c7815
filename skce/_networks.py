"""Building blocks the built-in networks share: dense stack, logits, recurrent stack."""

import keras

from skce._layers import MLPUniform, SampleKeyedDropout

ACTIVATIONS = ("relu", "tanh", "sigmoid", "elu", "selu", "gelu", "silu", "linear")

#: The recurrent layers ``SparseCERNNClassifier`` builds, by their ``cell`` name.
CELLS = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU}


class MLPDraws:
    """Initializers that draw a network's weights as ``MLPClassifier`` does.

    scikit-learn draws each layer's kernel and then its biases from one
    ``RandomState(seed)``, layer after layer, uniform within
    ``±sqrt(factor / (fan_in + fan_out))``: factor 6 (Glorot's), or 2 when
    the hidden activation is the logistic sigmoid. Asked for the layers in
    order, this hands out ``MLPUniform`` initializers at the matching places
    of that stream, so one integer ``random_state`` starts skce's MLP and
    ``MLPClassifier`` from the same weights. (Keras would start the biases at
    zero, which trains measurably worse on small data sets in few epochs;
    see benchmarks/bench_parity.py.)
    """

    def __init__(self, activation: str, seed: int):
        self.factor = 2.0 if activation == "sigmoid" else 6.0
        self.seed = seed
        self.offset = 0

    def layer(self, fan_in: int, fan_out: int):
        """Kernel and bias initializers of the next Dense layer."""
        limit = (self.factor / (fan_in + fan_out)) ** 0.5
        kernel = MLPUniform(limit, self.seed, self.offset)
        bias = MLPUniform(limit, self.seed, self.offset + fan_in * fan_out)
        self.offset += (fan_in + 1) * fan_out
        return kernel, bias


def dense_stack(x, units, activation, dropout, seed, draws=None):
    """Apply Dense layers of ``units`` (with dropout after each) to ``x``.

    ``draws``: an ``MLPDraws`` to initialise the layers from, instead of
    Glorot kernels and zero biases.
    """
    for i, n in enumerate(units):
        kernel, bias = keras.initializers.GlorotUniform(seed=seed + i), "zeros"
        if draws is not None:
            kernel, bias = draws.layer(x.shape[-1], n)
        x = keras.layers.Dense(
            n, activation=activation, kernel_initializer=kernel, bias_initializer=bias
        )(x)
        if dropout:
            x = SampleKeyedDropout(dropout, seed=seed + 1000 + i)(x)
    return x


def logits_layer(x, n_classes, seed, draws=None):
    """The output layer: one logit per class.

    ``draws``: an ``MLPDraws`` to initialise it from, instead of a Glorot
    kernel and zero biases.
    """
    kernel, bias = keras.initializers.GlorotUniform(seed=seed + 2000), "zeros"
    if draws is not None:
        kernel, bias = draws.layer(x.shape[-1], n_classes)
    return keras.layers.Dense(
        n_classes, kernel_initializer=kernel, bias_initializer=bias, name="logits"
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
