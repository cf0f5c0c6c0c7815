"""SparseCERNNClassifier: a recurrent network for token and feature sequences."""

from numbers import Integral, Real

import keras
from sklearn.utils._param_validation import Interval, StrOptions

from skce._base import BaseSparseCEClassifier
from skce._docstrings import (
    FITTED_ATTRIBUTES_DOC,
    IGNORE_LABEL_DOC,
    TRAINING_PARAMETERS_DOC,
)
from skce._inputs import (
    check_token_ids,
    is_integer,
    network_input,
    validate_sequences,
)
from skce._layers import float64_tanh
from skce._networks import CELLS, logits_layer, recurrent_stack


class SparseCERNNClassifier(BaseSparseCEClassifier):
    __doc__ = f"""Recurrent network for sequences, trained on integer labels.

    Token ids go through an ``Embedding``, then a stack of LSTM or GRU
    layers, then logits. What the network predicts follows ``y``:

    - 1-D ``y``, one label per sequence (text classification): logits from
      the last state;
    - ``y`` of shape ``(n_samples, T)``, one label per timestep (the next
      character of a language model): logits at every timestep, the output
      ``(batch, T, n_classes)``;
    - ``y`` of another width ``n_outputs``: ``n_outputs`` labels of the whole
      sequence, all from the last state.

    Every position shares one vocabulary of labels, ``classes_``, and the loss
    takes their integer indices: nothing is one-hot encoded, so the labels of
    ``n`` windows of ``T`` characters take ``n * T`` integers, whatever the
    number of classes.

    X is one of

    - integers ``(n_samples, T)``: token ids, fed to the embedding as
      integers. Id 0 is padding (masked while ``mask_zero=True``); ids run
      from 0 to ``vocabulary_size_ - 1``. An id never seen in ``fit`` but
      below ``vocabulary_size_`` keeps its untrained initial embedding; a
      larger id is a ``ValueError`` at ``predict``: map unknown tokens to a
      reserved id that appears in the training data;
    - floats ``(n_samples, T, n_features)``: a sequence of feature vectors
      (no embedding); with ``mask_zero=True`` all-zero timesteps are masked,
      as Keras's ``Masking`` layer does;
    - floats ``(n_samples, n_features)``: read as a sequence of
      ``n_features`` scalars, never masked (a zero in tabular data is a
      value). This is how scikit-learn's tools and checks hand over data.

    Parameters
    ----------
    embedding_dim : int, default=64
        Size of the embedding of each token id (integer X only).

    cell : {{{", ".join(repr(c) for c in CELLS)}}}, default="lstm"
        The recurrent layer.

    units : tuple of int, default=(128,)
        Units of each recurrent layer.

    bidirectional : bool, default=False
        Whether each recurrent layer also reads the sequence backwards
        (its output then has twice the units). A per-timestep model then
        sees the future of each position; keep it False for a language
        model.

    dropout : float in [0, 1), default=0.0
        Dropout rate after each recurrent layer. skce's sample-keyed dropout,
        between layers and never inside the recurrence, so that a sample of
        weight ``k`` trains exactly like ``k`` copies.

    mask_zero : bool, default=True
        Mask padding: token id 0 for integer X, all-zero timesteps for 3-D
        float X (what ``keras.utils.pad_sequences`` pads with). Masked
        timesteps leave the recurrent state unchanged. Set False when id 0
        is a real token.

    vocabulary_size : int or None, default=None
        Token ids the embedding holds (ids 0 to ``vocabulary_size - 1``).
        None takes the largest id in the first ``fit``'s X plus one; set it
        when later data (``partial_fit``, ``predict``) may hold larger ids.

{TRAINING_PARAMETERS_DOC.format(epochs=50, alpha=0.0, learning_rate=0.005)}
{IGNORE_LABEL_DOC}
    Attributes
    ----------
{FITTED_ATTRIBUTES_DOC}
    vocabulary_size_ : int or None
        Token ids the embedding takes, for integer X; None for float X.

    See Also
    --------
    SparseCEMLPClassifier : A dense network.
    SparseCECNNClassifier : A convolutional network for images.
    SparseCEClassifier : Train any Keras model you build.

    Notes
    -----
    Integer X (token ids) trains in float32 unless ``dtype`` says otherwise,
    since ids carry no float precision to keep; float X follows its own type
    as in the other estimators.

    Examples
    --------
    >>> import numpy as np
    >>> from skce import SparseCERNNClassifier
    >>> text = "abcabcabcabc" * 20
    >>> ids = np.array([ord(c) - 96 for c in text])  # 1, 2, 3; 0 is padding
    >>> X = np.stack([ids[i : i + 6] for i in range(200)])
    >>> y = np.stack([list(text[i + 1 : i + 7]) for i in range(200)])
    >>> clf = SparseCERNNClassifier(units=(16,), epochs=40, random_state=0)
    >>> clf.fit(X, y).predict(X[:1])
    array([['b', 'c', 'a', 'b', 'c', 'a']], dtype='<U1')
    >>> clf.classes_
    array(['a', 'b', 'c'], dtype='<U1')
    >>> len(clf.predict_proba(X[:1]))  # one (1, 3) array per timestep
    6
    """

    _parameter_constraints: dict = {
        **BaseSparseCEClassifier._parameter_constraints,
        "embedding_dim": [Interval(Integral, 1, None, closed="left")],
        "cell": [StrOptions(set(CELLS))],
        "units": [tuple, list],
        "bidirectional": ["boolean"],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "mask_zero": ["boolean"],
        "vocabulary_size": [Interval(Integral, 1, None, closed="left"), None],
    }

    def __init__(
        self,
        embedding_dim=64,
        cell="lstm",
        units=(128,),
        bidirectional=False,
        dropout=0.0,
        mask_zero=True,
        vocabulary_size=None,
        *,
        epochs=50,
        batch_size="auto",
        optimizer="adam",
        learning_rate=0.005,
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
        self.embedding_dim = embedding_dim
        self.cell = cell
        self.units = units
        self.bidirectional = bidirectional
        self.dropout = dropout
        self.mask_zero = mask_zero
        self.vocabulary_size = vocabulary_size
        self.ignore_label = ignore_label

    def _validate_X(self, X, reset, y="no_validation"):
        out = validate_sequences(self, X, y, reset=reset, max_ndim=3)
        if reset:
            X = out[0] if isinstance(out, tuple) else out
            self.vocabulary_size_ = None
            if is_integer(X) and X.ndim == 2:
                check_token_ids(X, self.vocabulary_size)
                self.vocabulary_size_ = self.vocabulary_size or int(X.max()) + 1
        return out

    def _compute_dtype(self, X):
        if self.dtype is None and self.vocabulary_size_ is not None:
            return "float32"
        return super()._compute_dtype(X)

    def _model_input(self, X):
        if X.ndim == 2 and self.vocabulary_size_ is None:
            return X.reshape((*X.shape, 1))
        return X

    def _network_input(self, model, X, dtype, fitting):
        return network_input(self, model, X, dtype, fitting)

    def _accepts_2d_y(self):
        return True

    def _check_params(self, meta):
        units = self.units
        if not units or not all(isinstance(n, Integral) and n > 0 for n in units):
            raise ValueError(
                "units must hold positive integers, one per recurrent layer, "
                f"e.g. (128,) or (64, 64). Received: units={units}."
            )

    def _build_model(self, meta, seed):
        shape = meta["input_shape"]
        n_classes, n_outputs = meta["n_classes_"], meta["n_outputs_"]
        vocabulary = meta["vocabulary_size_"]
        if vocabulary is not None:
            inputs = keras.Input(shape=shape, dtype="int32")
            x = keras.layers.Embedding(
                vocabulary,
                self.embedding_dim,
                mask_zero=self.mask_zero,
                embeddings_initializer=keras.initializers.RandomUniform(
                    -0.05, 0.05, seed=seed + 4000
                ),
            )(inputs)
        else:
            inputs = keras.Input(shape=shape)
            x = inputs
            if self.mask_zero and len(self._sample_shape) == 2:
                x = keras.layers.Masking(0.0)(x)
        # One label per timestep when y is as long as the sequences.
        per_timestep = n_outputs > 1 and n_outputs == shape[0]
        x = recurrent_stack(
            x,
            tuple(self.units),
            self.cell,
            self.bidirectional,
            self.dropout,
            seed,
            return_sequences=per_timestep,
            activation=float64_tanh if meta["X_dtype_"] == "float64" else "tanh",
        )
        if per_timestep or n_outputs == 1:
            return keras.Model(inputs, logits_layer(x, n_classes, seed))
        logits = logits_layer(x, n_outputs * n_classes, seed)
        return keras.Model(inputs, keras.layers.Reshape((n_outputs, n_classes))(logits))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        return tags
