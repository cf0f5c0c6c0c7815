"""SparseCECNNClassifier (in progress)."""

from skce._mlp import SparseCEMLPClassifier as SparseCECNNClassifier  # noqa: F401
