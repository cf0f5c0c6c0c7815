"""SparseCEClassifier: any Keras model, trained on integer labels."""

import keras
import scipy.sparse as sp

from skce._base import BaseSparseCEClassifier
from skce._docstrings import (
    FITTED_ATTRIBUTES_DOC,
    IGNORE_LABEL_DOC,
    TRAINING_PARAMETERS_DOC,
)
from skce._inputs import is_integer, network_input, validate_sequences
from skce._keras_model import (
    build_on,
    call_builder,
    copy_model,
    declares_per_position,
)
from skce._networks import logits_layer


class SparseCEClassifier(BaseSparseCEClassifier):
    __doc__ = f"""Train any Keras model on integer labels with sparse crossentropy.

    You build the network; skce validates the data, encodes the labels to
    integer indices (never one-hot), trains it with a weighted sparse
    categorical crossentropy and gives it the scikit-learn interface.

    X may have any rank the model takes: rows of features, images
    ``(n_samples, height, width, channels)`` or sequences. Integer X reaches
    a model that takes integers (an integer ``keras.Input``, or an
    ``Embedding`` first) as int32 token ids, checked against the embedding's
    ``input_dim``; any other model gets X as floats. ``y`` is one label per
    sample, or one label per position, shape ``(n_samples, T)``, from one
    shared vocabulary ``classes_``.

    Sparse X (any scipy sparse format) is never densified whole: each
    mini-batch reaches the model as a sparse tensor on TensorFlow and JAX,
    which a model whose ``keras.Input`` is ``sparse=True`` (as the default
    model's is) takes as it is and any other model receives densified, one
    mini-batch at a time; on PyTorch, mini-batches are densified. See the
    user guide's "Sparse and text input".

    Parameters
    ----------
    model : keras.Model, callable or None, default=None
        The network, whose output has shape ``(batch, n_classes)``: logits
        (no activation, preferred for numerical stability) or a softmax.
        For per-position labels ``y`` of shape ``(n_samples, T)``, the output
        is ``(batch, T, n_classes)`` (e.g. a ``Dense(n_classes)`` on an
        ``LSTM(..., return_sequences=True)``). The estimator's
        ``multi_output`` tag is set where the model declares per-position
        output: None, an instance with a ``(batch, T, n_classes)`` output, or
        a builder that names ``n_outputs_`` in its signature.
        Either a ``keras.Model`` instance (functional, Sequential or
        subclassed), which each fresh fit copies and trains from the
        instance's current weights (so a pretrained model is fine-tuned and
        the instance itself never changes; it trains in its own float type),
        or a function that returns an uncompiled ``keras.Model``, called at
        each fresh fit with
        whichever of these its signature names: ``meta`` (a dict of all of
        them), ``n_features_in_``, ``n_classes_``, ``classes_``,
        ``n_outputs_`` (labels per sample), ``input_shape`` (of one sample),
        ``vocabulary_size_`` (for integer X, its largest value plus one),
        ``X_dtype_``, ``X_sparse_`` (whether X arrives as sparse tensors:
        build ``keras.Input(..., sparse=X_sparse_)``) and ``seed``. Bind your
        own arguments with
        ``functools.partial``. None builds multinomial logistic regression: one
        Dense layer from the flattened sample to ``n_classes`` logits (per
        output, for 2-D ``y``). The default ``learning_rate`` of 0.01 suits
        that convex model; lower it for deep networks.

{TRAINING_PARAMETERS_DOC.format(epochs=200, alpha=0.0, learning_rate=0.01)}
{IGNORE_LABEL_DOC}
    Attributes
    ----------
{FITTED_ATTRIBUTES_DOC}
    vocabulary_size_ : int or None
        Token ids the model takes (its embedding's ``input_dim``) when it
        reads integer ids; None when it reads floats.

    See Also
    --------
    SparseCEMLPClassifier : A ready-made dense network.
    SparseCECNNClassifier : A ready-made convolutional network.
    SparseCERNNClassifier : A ready-made recurrent network for sequences.

    Examples
    --------
    >>> import keras
    >>> from sklearn.datasets import load_wine
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skce import SparseCEClassifier
    >>> def build(n_features_in_, n_classes_):
    ...     inputs = keras.Input((n_features_in_,))
    ...     hidden = keras.layers.Dense(16, activation="relu")(inputs)
    ...     return keras.Model(inputs, keras.layers.Dense(n_classes_)(hidden))
    >>> X, y = load_wine(return_X_y=True)
    >>> clf = make_pipeline(
    ...     StandardScaler(), SparseCEClassifier(build, epochs=50, random_state=0)
    ... )
    >>> clf.fit(X, y).score(X, y) > 0.95
    True
    """

    _parameter_constraints: dict = {
        **BaseSparseCEClassifier._parameter_constraints,
        "model": [callable, None],
    }

    def __init__(
        self,
        model=None,
        *,
        epochs=200,
        batch_size="auto",
        optimizer="adam",
        learning_rate=0.01,
        alpha=0.0,
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
        self.model = model
        self.ignore_label = ignore_label

    def _compute_dtype(self, X):
        if not isinstance(self.model, keras.Model):
            return super()._compute_dtype(X)
        own = self.model.compute_dtype
        if self.dtype is not None and self.dtype != own:
            raise ValueError(
                f"dtype={self.dtype!r} differs from the float type of the given "
                f"Keras model, {own!r}. A model instance trains in its own float "
                "type: leave dtype=None, or pass a builder function instead of "
                "an instance to choose the type."
            )
        return own

    def _architecture_key(self, meta, dtype):
        # A user's model or builder: only its config tells its architecture.
        if self.model is not None:
            return None
        return super()._architecture_key(meta, dtype)

    def _validate_X(self, X, reset, y="no_validation"):
        out = validate_sequences(self, X, y, reset=reset, accept_sparse=True)
        if reset:
            X = out[0] if isinstance(out, tuple) else out
            # What a builder gets as vocabulary_size_; fit settles it once the
            # model shows whether it reads ids.
            self.vocabulary_size_ = None
            if not sp.issparse(X) and is_integer(X) and X.size and X.min() >= 0:
                self.vocabulary_size_ = int(X.max()) + 1
        return out

    def _network_input(self, model, X, dtype, fitting):
        return network_input(self, model, X, dtype, fitting)

    def _accepts_2d_y(self):
        # A given model instance whose output is known to be (batch, n_classes)
        # cannot take per-position labels; any other model may.
        outputs = getattr(self.model, "outputs", None) or []
        return not (
            isinstance(self.model, keras.Model)
            and len(outputs) == 1
            and len(outputs[0].shape) == 2
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.input_tags.three_d_array = True
        tags.target_tags.multi_output = declares_per_position(self.model)
        return tags

    def _weights_drawn_at_build(self):
        return not isinstance(self.model, keras.Model)

    def _build_model(self, meta, seed):
        if self.model is None:
            return _logistic_regression(meta, seed)
        if isinstance(self.model, keras.Model):
            return copy_model(self.model, meta["input_shape"])
        model = call_builder(self.model, meta, seed)
        if not isinstance(model, keras.Model):
            raise TypeError(
                "The model-building function must return a keras.Model. "
                f"Received: {type(model).__name__}."
            )
        build_on(model, meta["input_shape"])
        return model


def _logistic_regression(meta: dict, seed: int) -> keras.Model:
    """One Dense layer from the flattened sample to logits for every output."""
    n_classes, n_outputs = meta["n_classes_"], meta["n_outputs_"]
    inputs = keras.Input(shape=meta["input_shape"], sparse=meta["X_sparse_"])
    x = inputs
    if len(meta["input_shape"]) > 1:
        x = keras.layers.Flatten()(x)
    if n_outputs == 1:
        return keras.Model(inputs, logits_layer(x, n_classes, seed))
    logits = logits_layer(x, n_outputs * n_classes, seed)
    return keras.Model(inputs, keras.layers.Reshape((n_outputs, n_classes))(logits))
