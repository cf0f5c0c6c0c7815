"""SparseCEMLPClassifier: a dense network."""

from numbers import Integral, Real

import keras
from sklearn.utils._param_validation import Interval, StrOptions

from skce._base import BaseSparseCEClassifier
from skce._docstrings import (
    FITTED_ATTRIBUTES_DOC,
    IGNORE_LABEL_DOC,
    TRAINING_PARAMETERS_DOC,
)
from skce._fit_plan import mlp_weights_seed
from skce._networks import ACTIVATIONS, MLPDraws, dense_stack, logits_layer


class SparseCEMLPClassifier(BaseSparseCEClassifier):
    __doc__ = f"""Multilayer perceptron trained with sparse categorical crossentropy.

    Dense hidden layers, then a Dense output layer that emits one logit per
    class; the loss takes integer class indices, so labels are never one-hot
    encoded and their memory is one integer per sample.

    X may be scipy sparse (the output of a text vectorizer or a one-hot
    encoder), in any format: it is never densified whole, and on TensorFlow
    and JAX the first layer multiplies each sparse mini-batch directly (work
    in proportion to its stored values). On PyTorch each mini-batch is
    densified on its own. See the user guide's "Sparse and text input".

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=(100,)
        Units of each hidden layer.

    activation : {{{", ".join(repr(a) for a in ACTIVATIONS)}}}, default="relu"
        Activation of the hidden layers.

    dropout : float in [0, 1), default=0.0
        Dropout rate after each hidden layer.

{TRAINING_PARAMETERS_DOC.format(epochs=200, alpha=0.0001, learning_rate=0.001)}
{IGNORE_LABEL_DOC}
    Attributes
    ----------
{FITTED_ATTRIBUTES_DOC}
    See Also
    --------
    SparseCEClassifier : Train any Keras model you build.
    SparseCECNNClassifier : A convolutional network for images.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from skce import SparseCEMLPClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = SparseCEMLPClassifier(epochs=100, random_state=0).fit(X, y)
    >>> clf.predict(X[:3])
    array([0, 0, 0])
    >>> clf.predict_proba(X[:1]).shape
    (1, 3)
    """

    _parameter_constraints: dict = {
        **BaseSparseCEClassifier._parameter_constraints,
        "hidden_layer_sizes": [tuple, list],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "dropout": [Interval(Real, 0, 1, closed="left")],
    }

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        dropout=0.0,
        *,
        epochs=200,
        batch_size="auto",
        optimizer="adam",
        learning_rate=0.001,
        alpha=0.0001,
        shuffle=True,
        validation_split=0.0,
        early_stopping=False,
        tol=1e-4,
        n_iter_no_change=10,
        callbacks=None,
        class_weight=None,
        dtype=None,
        random_state=None,
        verbose=0,
        warm_start=False,
        distribution=None,
        ignore_label=None,
    ):
        super().__init__(
            epochs=epochs,
            batch_size=batch_size,
            optimizer=optimizer,
            learning_rate=learning_rate,
            alpha=alpha,
            shuffle=shuffle,
            validation_split=validation_split,
            early_stopping=early_stopping,
            tol=tol,
            n_iter_no_change=n_iter_no_change,
            callbacks=callbacks,
            class_weight=class_weight,
            dtype=dtype,
            random_state=random_state,
            verbose=verbose,
            warm_start=warm_start,
            distribution=distribution,
        )
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.dropout = dropout
        self.ignore_label = ignore_label

    def _check_params(self, meta):
        sizes = self.hidden_layer_sizes
        if not all(isinstance(n, Integral) and n > 0 for n in sizes):
            raise ValueError(
                "hidden_layer_sizes must hold positive integers, one per hidden "
                f"layer, e.g. (100,) or (64, 32). Received: hidden_layer_sizes={sizes}."
            )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    def _build_model(self, meta, seed):
        inputs = keras.Input(
            shape=meta["input_shape"], sparse=meta.get("X_sparse_", False)
        )
        # Initialised as MLPClassifier is: the same weights for the same seed.
        draws = MLPDraws(self.activation, mlp_weights_seed(self.random_state, seed))
        x = dense_stack(
            inputs,
            self.hidden_layer_sizes,
            self.activation,
            self.dropout,
            seed,
            draws=draws,
        )
        logits = logits_layer(x, meta["n_classes_"], seed, draws=draws)
        return keras.Model(inputs, logits)
