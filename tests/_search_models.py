"""Searches for the search tests: a Pipeline, a grid and data per estimator.

Worker processes unpickle a builder function or a preprocessing function by
its module and name, and a Keras model through the layer classes registered
with Keras, so these live in a module a worker can import, not in a test.
"""

import keras
import numpy as np
from sklearn.datasets import load_digits, load_iris
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.model_selection import HalvingGridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from skce import (
    SparseCEClassifier,
    SparseCECNNClassifier,
    SparseCEMLPClassifier,
    SparseCERNNClassifier,
)

# Few epochs, each of them trained: what is compared is the arithmetic, not
# the accuracy.
FIT = {"epochs": 4, "n_iter_no_change": None, "random_state": 0}


@keras.saving.register_keras_serializable(package="skce_tests")
class FeatureScale(keras.layers.Layer):
    """A learned scale per feature: a custom layer that must travel by name."""

    def __init__(self, initial=1.0, **kwargs):
        super().__init__(**kwargs)
        self.initial = initial

    def build(self, input_shape):
        self.scale = self.add_weight(
            shape=(input_shape[-1],),
            initializer=keras.initializers.Constant(self.initial),
            name="scale",
        )

    def call(self, inputs):
        return inputs * keras.ops.cast(self.scale, inputs.dtype)

    def get_config(self):
        return {**super().get_config(), "initial": self.initial}


def scaled_mlp(n_features_in_: int, n_classes_: int, seed: int) -> keras.Model:
    """A builder for SparseCEClassifier: FeatureScale, Dense(8), logits.

    Its initializers are unseeded: Keras draws their seeds from the stream
    skce seeds from ``random_state`` during the build, which a dask worker's
    own threads must not shift.
    """
    inputs = keras.Input((n_features_in_,))
    hidden = FeatureScale(initial=0.5)(inputs)
    hidden = keras.layers.Dense(8, "relu")(hidden)
    return keras.Model(inputs, keras.layers.Dense(n_classes_)(hidden))


def pixels_to_unit(X):
    """Digits' pixels, 0 to 16, scaled to [0, 1] (a preprocessing step by name)."""
    return X / 16


def token_sequences(n_samples: int = 120, length: int = 6, seed: int = 0):
    """Integer sequences labelled by whether token 1 or token 2 occurs more often."""
    rng = np.random.RandomState(seed)
    X = rng.randint(1, 6, size=(n_samples, length))
    y = np.where((X == 1).sum(axis=1) >= (X == 2).sum(axis=1), "ones", "twos")
    return X, y


def _iris():
    X, y = load_iris(return_X_y=True)
    return X.astype(np.float32), y


def _digits():
    X, y = load_digits(return_X_y=True)
    return X[:240].astype(np.float32), y[:240]


def _mlp():
    step = SparseCEMLPClassifier((4,), **FIT)
    return StandardScaler(), step, {"hidden_layer_sizes": [(4,), (16,)]}, _iris()


def _cnn():
    # Batches of 32: several steps per epoch, so that the optimizer's state
    # carried from step to step is part of what is compared.
    step = SparseCECNNClassifier(
        (8, 8, 1), filters=(4,), dense_units=(8,), batch_size=32, **FIT
    )
    grid = {"filters": [(4,), (8,)]}
    return FunctionTransformer(pixels_to_unit), step, grid, _digits()


def _builder():
    step = SparseCEClassifier(scaled_mlp, **FIT)
    return StandardScaler(), step, {"learning_rate": [0.01, 0.05]}, _iris()


def _rnn():
    step = SparseCERNNClassifier(embedding_dim=4, units=(4,), **FIT)
    return FunctionTransformer(), step, {"units": [(4,), (8,)]}, token_sequences()


CASES = {"mlp": _mlp, "cnn": _cnn, "builder": _builder, "rnn": _rnn}


def search_case(name: str):
    """A Pipeline of preprocessing and an skce estimator, a grid of 2, and data.

    The estimator is the step named ``clf``; returns ``(pipe, grid, (X, y))``.
    """
    prep, step, grid, data = CASES[name]()
    pipe = Pipeline([("prep", prep), ("clf", step)])
    return pipe, {f"clf__{key}": values for key, values in grid.items()}, data


def halving_search(pipe, grid, **params) -> HalvingGridSearchCV:
    """Successive halving over the ``clf`` step's epochs: 2, then 4."""
    return HalvingGridSearchCV(
        pipe,
        grid,
        resource="clf__epochs",
        min_resources=2,
        max_resources=4,
        factor=2,
        cv=2,
        scoring="neg_log_loss",
        error_score="raise",
        **params,
    )
