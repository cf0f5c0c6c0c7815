"""Inference every skce classifier shares: labels, probabilities, top k, score.

Each method validates X the way the estimator was fitted on it, then runs
the network chunk by chunk through the engine's compiled inference.
"""

import numpy as np
from sklearn.utils.validation import check_is_fitted

from skce import _engine, _targets
from skce._keras_model import emits_logits, input_dtype, policy
from skce._outputs import check_k, output_function


class PredictMixin:
    """``predict``, ``predict_proba``, ``predict_log_proba``, ``score``, top k.

    For a fitted skce estimator: it reads ``model_``, ``classes_``,
    ``n_outputs_`` and the estimator's ``_validate_X`` and ``_network_input``.
    """

    def _forward(self, kind, X, k=None):
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        dtype = policy(self.model_)
        x = self._network_input(self.model_, X, input_dtype(dtype), fitting=False)
        # A few rows through a plain dense network: NumPy beats any compiled
        # call's fixed cost (see _engine/_host.py).
        small = _engine.host_forward(self.model_, kind, x)
        if small is not None:
            return small
        fn, key = output_function(kind, emits_logits(self.model_), k)
        rows = _engine.PREDICT_CHUNK
        if self.n_outputs_ > 1:
            rows = _engine.chunk_rows(self.n_outputs_ * len(self.classes_))
        with _engine.precision(dtype, build=False):
            return _engine.forward(
                self.model_,
                key,
                fn,
                x,
                rows=rows,
                architecture_key=getattr(self, "_architecture_key_", None),
            )

    def _per_output(self, values):
        """Per-position outputs as scikit-learn's list of one array per output."""
        if self.n_outputs_ == 1:
            return values
        return [values[:, i] for i in range(self.n_outputs_)]

    def predict(self, X):
        """Predict class labels, taking the argmax chunk by chunk.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples, in the form the estimator was fitted on (rows of
            features, images or sequences).

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            Labels, of the same kind as the ``y`` seen in ``fit``: one per
            sample, or one per position when ``y`` had ``n_outputs`` columns.
        """
        index = self._forward("argmax", X)
        return self.classes_[index]

    def predict_proba(self, X):
        """Class probabilities, columns in the order of ``classes_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples, in the form the estimator was fitted on.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes), or list of them
            Probabilities that sum to one along each row. When ``y`` had
            ``n_outputs`` columns, a list of ``n_outputs`` such arrays, one
            per position, as scikit-learn's multioutput classifiers return;
            they are views of one ``(n_samples, n_outputs, n_classes)`` array
            (``proba[0].base``), computed chunk by chunk.
        """
        return self._per_output(self._forward("proba", X))

    def predict_log_proba(self, X):
        """Logarithm of the class probabilities, computed stably from logits.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples, in the form the estimator was fitted on.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes), or list of them
            Log-probabilities, columns in the order of ``classes_``; a list
            of one array per position as in ``predict_proba``.
        """
        return self._per_output(self._forward("log_proba", X))

    def score(self, X, y, sample_weight=None):
        """Mean accuracy of ``predict(X)`` against ``y``.

        For 1-D ``y`` this is scikit-learn's ``accuracy_score``. For ``y`` of
        shape ``(n_samples, n_outputs)`` it is the accuracy over every
        position (the per-character accuracy of a language model; scikit-learn's
        ``accuracy_score`` rejects this target type), each sample's weight
        weighing all its positions. Positions labelled ``ignore_label`` are
        left out.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples, in the form the estimator was fitted on.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            True labels.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples.

        Returns
        -------
        score : float
            Fraction of labelled positions predicted correctly.
        """
        return _targets.accuracy(y, self.predict(X), sample_weight, self.ignore_label)

    def predict_top_k(self, X, k=5):
        """The ``k`` most likely labels of each sample, with their probabilities.

        Computed chunk by chunk: no ``(n_samples, n_classes)`` array is ever
        held, so it suits vocabularies of thousands of classes.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.
        k : int, default=5
            How many labels per sample, at most ``n_classes``.

        Returns
        -------
        labels : ndarray of shape (n_samples, k)
            Labels, most likely first, of the same kind as ``classes_``.
        proba : ndarray of shape (n_samples, k)
            Their probabilities, in decreasing order.
        """
        check_is_fitted(self)
        k = check_k(k, len(self.classes_))
        out = self._forward("top_k", X, k)
        labels = self.classes_[out[..., k:].astype(np.int64)]
        return self._per_output(labels), self._per_output(out[..., :k])
