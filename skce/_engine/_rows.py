"""Whether a network's training step treats every row of its batch on its own."""

import keras

# Keras layers whose training-mode output for a row depends on that row alone
# and that draw nothing at random by batch shape. Matched by exact class: a
# subclass may override ``call``. BatchNormalization (batch statistics) and
# Keras's own Dropout and noise layers (masks drawn by batch shape) are left
# out, and so are Lambda and other wrappers of user code.
_KERAS_ROW_WISE = (
    keras.layers.InputLayer,
    keras.layers.Dense,
    keras.layers.EinsumDense,
    keras.layers.Activation,
    keras.layers.ReLU,
    keras.layers.LeakyReLU,
    keras.layers.ELU,
    keras.layers.PReLU,
    keras.layers.Softmax,
    keras.layers.Identity,
    keras.layers.Flatten,
    keras.layers.Reshape,
    keras.layers.Permute,
    keras.layers.RepeatVector,
    keras.layers.Embedding,
    keras.layers.Masking,
    keras.layers.LayerNormalization,
    keras.layers.UnitNormalization,
    keras.layers.Conv1D,
    keras.layers.Conv2D,
    keras.layers.Conv3D,
    keras.layers.MaxPooling1D,
    keras.layers.MaxPooling2D,
    keras.layers.MaxPooling3D,
    keras.layers.AveragePooling1D,
    keras.layers.AveragePooling2D,
    keras.layers.AveragePooling3D,
    keras.layers.GlobalMaxPooling1D,
    keras.layers.GlobalMaxPooling2D,
    keras.layers.GlobalAveragePooling1D,
    keras.layers.GlobalAveragePooling2D,
    keras.layers.SimpleRNN,
    keras.layers.LSTM,
    keras.layers.GRU,
    keras.layers.Bidirectional,
    keras.layers.Concatenate,
    keras.layers.Add,
    keras.layers.Subtract,
    keras.layers.Multiply,
    keras.layers.Average,
    keras.layers.Maximum,
    keras.layers.Minimum,
)


def _row_wise(layer) -> bool:
    """Whether ``layer`` is listed above, or its class declares itself row-wise.

    A layer class of skce's own says so with a class attribute
    ``rows_independent = True`` (read from the class itself, so a subclass
    that may override ``call`` does not inherit it).
    """
    cls = type(layer)
    return cls in _KERAS_ROW_WISE or vars(cls).get("rows_independent", False)


def rows_independent(model) -> bool:
    """Whether ``model``'s training step computes each row from that row alone.

    Then padding a short mini-batch with rows of weight zero changes nothing
    for its real rows (see ``JaxTrainer``). True only for a Sequential or
    functional model built from row-wise layers (see ``_row_wise``), none with an
    activity regularizer (its loss sums over the batch's rows).
    """
    if type(model) not in (keras.Sequential, keras.Model) and not _functional(model):
        return False
    stack = list(model.layers)
    while stack:
        layer = stack.pop()
        if not _row_wise(layer) or layer.activity_regularizer is not None:
            return False
        stack.extend(
            inner
            for name in ("forward_layer", "backward_layer")
            if (inner := getattr(layer, name, None)) is not None
        )
    return True


def _functional(model) -> bool:
    # keras.Model(inputs, outputs) makes an instance of the functional class,
    # which Keras exports under no public name.
    return type(model).__name__ == "Functional" and type(model).__module__.startswith(
        "keras."
    )
