"""Scikit-learn classifiers for Keras 3 networks trained on integer labels."""

from skce._classifier import SparseCEClassifier
from skce._cnn import SparseCECNNClassifier
from skce._engine import data_budget, set_data_budget
from skce._mlp import SparseCEMLPClassifier
from skce._rnn import SparseCERNNClassifier

__version__ = "0.1.0"

__all__ = [
    "SparseCEClassifier",
    "SparseCECNNClassifier",
    "SparseCEMLPClassifier",
    "SparseCERNNClassifier",
    "__version__",
    "data_budget",
    "set_data_budget",
]
