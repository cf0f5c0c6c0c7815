"""Scikit-learn classifiers for Keras 3 networks trained on integer labels."""

from skce._classifier import SparseCEClassifier
from skce._cnn import SparseCECNNClassifier
from skce._config import (
    config_context,
    data_budget,
    get_config,
    set_config,
    set_data_budget,
)
from skce._mlp import SparseCEMLPClassifier
from skce._rnn import SparseCERNNClassifier

__version__ = "0.3.0.dev0"

__all__ = [
    "SparseCEClassifier",
    "SparseCECNNClassifier",
    "SparseCEMLPClassifier",
    "SparseCERNNClassifier",
    "__version__",
    "config_context",
    "data_budget",
    "get_config",
    "set_config",
    "set_data_budget",
]
