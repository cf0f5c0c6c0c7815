"""Keras's own test builder for its scikit-learn wrapper, in skce's terms.

``dynamic_model`` in ``keras/src/wrappers/sklearn_test.py`` builds a small MLP
from ``X`` and the one-hot ``y`` its wrapper makes; skce hands a builder the
same facts by name (``n_features_in_``, ``n_classes_``) and keeps labels as
integers, so the output layer has one unit per class.
"""

import functools

import keras


def dynamic_model(n_features_in_, n_classes_, out_activation_function, layers=(10,)):
    """A single-output MLP: ReLU hidden layers, then softmax or linear output."""
    inputs = keras.Input(shape=(n_features_in_,))
    hidden = inputs
    for size in layers:
        hidden = keras.layers.Dense(size, activation="relu")(hidden)
    out = keras.layers.Dense(n_classes_, activation=out_activation_function)(hidden)
    return keras.Model(inputs, out)


# Keras runs scikit-learn's checks on its wrapper with three hidden layers of 20.
softmax_model = functools.partial(
    dynamic_model, out_activation_function="softmax", layers=(20, 20, 20)
)
linear_model = functools.partial(
    dynamic_model, out_activation_function="linear", layers=(20, 20, 20)
)
