"""The estimator every skce classifier shares: its contract with scikit-learn.

The training parameters, ``fit`` and ``partial_fit`` as a sequence of short
steps over one ``FitPlan``, inference, persistence and tags live here; the
steps' substance lives in the modules they call. A concrete estimator adds
its own parameters and ``_build_model``.
"""

import copy
from numbers import Integral, Real

import keras
import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import (
    check_consistent_length,
    check_is_fitted,
)

from skce import _engine, _export, _inputs, _persistence, _targets
from skce._callbacks import check_callbacks, fit_callbacks, warn_if_not_converged
from skce._fit_plan import FitPlan
from skce._keras_model import (
    architecture_key,
    build_seeded,
    emits_logits,
    input_dtype,
    kernel_index,
    policy,
    restore,
    snapshot,
)
from skce._optimizers import OPTIMIZERS, fit_optimizer, learning_rate_value
from skce._outputs import output_function
from skce._predict import PredictMixin
from skce._training_data import (
    dropout_keys,
    sample_weights,
    split_validation,
    unpack_validation_data,
    validation_scorer,
    validation_weights,
    warn_float64_on_accelerator,
)

#: The float types and Keras mixed-precision policies a network trains in.
DTYPES = ("float32", "float64", "mixed_float16", "mixed_bfloat16")


class BaseSparseCEClassifier(PredictMixin, ClassifierMixin, BaseEstimator):
    """Shared machinery of the skce classifiers (not for direct use)."""

    _parameter_constraints: dict = {
        "epochs": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "batch_size": [
            Interval(Integral, 1, None, closed="left"),
            StrOptions({"auto"}),
        ],
        "optimizer": [StrOptions(set(OPTIMIZERS)), keras.optimizers.Optimizer],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "shuffle": ["boolean"],
        "validation_split": [Interval(Real, 0, 1, closed="left")],
        "early_stopping": ["boolean"],
        "tol": [Interval(Real, 0, None, closed="left")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left"), None],
        "callbacks": [list, tuple, None],
        "class_weight": [dict, StrOptions({"balanced"}), None],
        "dtype": [StrOptions(set(DTYPES)), None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "ignore_label": [Integral, str, None],
        "distribution": [StrOptions({"data_parallel"}), HasMethods(["scope"]), None],
    }

    def __init__(
        self,
        *,
        epochs,
        batch_size,
        optimizer,
        learning_rate,
        alpha,
        shuffle,
        validation_split,
        early_stopping,
        tol,
        n_iter_no_change,
        callbacks,
        class_weight,
        dtype,
        random_state,
        verbose,
        warm_start,
        distribution,
    ):
        self.epochs = epochs
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.alpha = alpha
        self.shuffle = shuffle
        self.validation_split = validation_split
        self.early_stopping = early_stopping
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.callbacks = callbacks
        self.class_weight = class_weight
        self.dtype = dtype
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start
        self.distribution = distribution

    # ------------------------------------------------------------------
    # Hooks for the concrete estimators

    def _build_model(self, meta: dict, seed: int) -> keras.Model:
        """Return the uncompiled Keras model for data described by ``meta``."""
        raise NotImplementedError

    def _check_params(self, meta: dict) -> None:
        """Check parameters against the data, before anything is built."""

    def _validate_X(self, X, reset: bool, y="no_validation"):
        """Validate X (and y, unless told not to) the way the estimator takes them."""
        return _inputs.validate_rows(self, X, y, reset=reset)

    def _model_input(self, X: np.ndarray) -> np.ndarray:
        """Arrange validated X the way the Keras model takes it."""
        return X

    def _network_input(self, model, X, dtype: str, fitting: bool):
        """Validated X as ``model`` computes on it (``fitting``: in a fresh fit).

        ``dtype`` is the float type of the network's input. A memory-mapped X
        comes back as rows still on disk (``_engine.HostRows``).
        """
        return _engine.host_rows(self._model_input(X), dtype)

    def _accepts_2d_y(self) -> bool:
        """Whether ``fit`` takes per-position labels ``(n_samples, n_outputs)``."""
        return False

    # ------------------------------------------------------------------
    # Fitting

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None, *, validation_data=None):
        """Train the network on ``(X, y)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Class labels of any type scikit-learn accepts for classification
            (integers of any dtype, strings, objects). They are encoded to
            integer indices; nothing is one-hot encoded. Estimators whose
            ``multi_output`` tag is set also take one label per position,
            all positions sharing one set of classes.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights. A weight of ``k`` counts as ``k`` copies of
            the sample in the same mini-batch; ``None`` weighs every sample 1.
        validation_data : tuple (X_val, y_val) or (X_val, y_val, w_val), default=None
            Data to score after each epoch instead of a ``validation_split``.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        return self._fit(X, y, sample_weight, validation_data, partial=False)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """Train for one epoch on ``(X, y)``, continuing from the current state.

        As in ``MLPClassifier``, nothing of ``X`` is held out
        (``validation_split`` does not apply) and no early stopping happens:
        each call trains one epoch on the whole mini-batch.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Class labels, shaped as on the first call.
        classes : array-like of shape (n_classes,), default=None
            Every class that will ever appear. Required on the first call;
            later calls may omit it, and must pass the same classes if they
            give it.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights.

        Returns
        -------
        self : object
            The estimator.
        """
        return self._fit(X, y, sample_weight, None, partial=True, classes=classes)

    def _fit(self, X, y, sample_weight, validation_data, *, partial, classes=None):
        plan = FitPlan.decide(self, partial)
        saved_state = dict(self.__dict__)
        saved_model = snapshot(self.model_) if plan.continues else None
        try:
            self._fit_planned(plan, X, y, sample_weight, validation_data, classes)
        except BaseException:
            # A rejected or interrupted fit leaves the estimator as it was.
            if saved_model is not None:
                restore(saved_state["model_"], saved_model)
            self.__dict__.clear()
            self.__dict__.update(saved_state)
            raise
        return self

    def _fit_planned(self, plan, X, y, sample_weight, validation_data, classes):
        """Check everything, then build or reuse the network and train it."""
        X, y_index, classes_, weights, class_weight = self._fit_targets(
            plan, X, y, sample_weight, classes
        )
        dtype = policy(self.model_) if plan.continues else self._compute_dtype(X)
        meta = {
            "n_features_in_": self.n_features_in_,
            "n_classes_": len(classes_),
            "classes_": classes_,
            "n_outputs_": _targets.n_outputs(y_index),
            "input_shape": self._model_input(X[:1]).shape[1:],
            "vocabulary_size_": getattr(self, "vocabulary_size_", None),
            "X_dtype_": input_dtype(dtype),
            "X_sparse_": _inputs.sparse_input(X),
        }
        self._check_params(meta)
        plan = plan.settled(dtype, self.random_state)
        if dtype == "float64" and plan.builds:
            warn_float64_on_accelerator()
        with _engine.distributed(self.distribution), _engine.precision(dtype):
            if plan.continues:
                model = self.model_
                arch_key = getattr(self, "_architecture_key_", None)
            else:
                model = self._seeded_build(meta, plan.seeds.build, dtype)
                arch_key = self._architecture_key(meta, dtype)
            data, val = self._arrange_data(
                plan, model, X, (y_index, weights), validation_data, classes_
            )
            history, n_iter = self._train(
                plan, model, arch_key, data, val, class_weight
            )
        self._store_fit(plan, model, arch_key, classes_, meta, history, n_iter)

    def _fit_targets(self, plan, X, y, sample_weight, classes):
        """Validated X, encoded labels, the classes and the sample weights."""
        check_callbacks(self.callbacks)
        if plan.partial and self.class_weight == "balanced":
            raise ValueError(
                "class_weight='balanced' is not supported for partial_fit: one "
                "mini-batch cannot tell the class frequencies of the whole data. "
                "Compute them once with sklearn.utils.compute_class_weight("
                "'balanced', classes=classes, y=y_all) and pass the result as "
                "a dict to class_weight."
            )
        X, y = self._validate_X(X, reset=plan.builds, y=y)
        y = _targets.check_targets(y, multi_output=self._accepts_2d_y())
        n_outputs = _targets.n_outputs(y)
        if plan.continues and n_outputs != self.n_outputs_:
            raise ValueError(
                f"y has {n_outputs} label(s) per sample, but the estimator was "
                f"fitted on {self.n_outputs_}. Pass y of the fitted shape, or "
                "refit from scratch with warm_start=False."
            )
        classes_ = _targets.fit_classes(
            y, classes, plan, getattr(self, "classes_", None), self.ignore_label
        )
        y_index = _targets.encode(y, classes_, "y", self.ignore_label)
        weights, class_weight = sample_weights(
            sample_weight, X, y_index, classes_, self.class_weight, plan.partial
        )
        return X, y_index, classes_, weights, class_weight

    def _arrange_data(self, plan, model, X, labels, validation_data, classes_):
        """``(x, y, w, keys)`` to train on and ``(x, y, w)`` to validate on."""
        # A memory-mapped X stays on disk: rows are read as training needs.
        x = self._network_input(model, X, plan.input_dtype, fitting=plan.builds)
        val = None
        if validation_data is not None:
            val = self._validation_data(
                validation_data, classes_, labels[0], model, plan.input_dtype
            )
        data = (x, *labels, dropout_keys(model, x))
        # partial_fit trains on each mini-batch whole, as MLPClassifier does.
        if val is None and self.validation_split and not plan.partial:
            data, val = split_validation(data, self.validation_split, plan.seeds.split)
        return data, val

    def _train(self, plan, model, arch_key, data, val, class_weight):
        """Run the epochs of this fit; return ``(history, n_iter)``."""
        optimizer = fit_optimizer(
            model, self.optimizer, self.learning_rate, plan.dtype, plan.continues
        )
        from_logits = emits_logits(model)
        loss = _engine.SparseCELoss(
            from_logits=from_logits,
            alpha=float(self.alpha),
            kernel_index=kernel_index(model),
            class_weight=class_weight,
        )
        evaluate = None
        if val is not None:
            evaluate = validation_scorer(model, from_logits, arch_key, *val)
        schedule = plan.schedule(
            self.epochs,
            self.batch_size,
            len(data[0]),
            learning_rate_value(self.optimizer, self.learning_rate),
        )
        callbacks = fit_callbacks(self, plan, schedule, val is not None)
        with _engine.make_trainer(
            model, optimizer, loss, data, schedule.batch_size, arch_key
        ) as trainer:
            history, n_iter = _engine.run_epochs(
                trainer,
                epochs=schedule.epochs,
                shuffle=self.shuffle,
                rng=np.random.RandomState(plan.seeds.shuffle),
                callbacks=callbacks,
                verbose=min(int(self.verbose), 2),
                evaluate=evaluate,
            )
        warn_if_not_converged(self, callbacks, n_iter)
        return history, n_iter

    def _store_fit(self, plan, model, arch_key, classes_, meta, history, n_iter):
        if plan.extends_history:
            for name, values in history.items():
                self.history_.setdefault(name, []).extend(values)
            self.n_iter_ += n_iter
        else:
            self.history_ = history
            self.n_iter_ = n_iter
        self.classes_ = classes_
        self.n_outputs_ = meta["n_outputs_"]
        self.model_ = model
        # Describes model_ (not the parameters, which may change after fit):
        # lets inference share compiled code between models of this network.
        self._architecture_key_ = arch_key

    def _compute_dtype(self, X) -> str:
        if self.dtype is not None:
            return self.dtype
        return "float32" if X.dtype == np.float32 else "float64"

    def _validation_data(self, validation_data, classes_, y_index, model, dtype):
        """Check ``fit``'s ``validation_data`` and arrange it like the training data."""
        Xv, yv, wv = unpack_validation_data(validation_data)
        Xv = self._validate_X(Xv, reset=False)
        yv = _targets.check_targets(yv, multi_output=self._accepts_2d_y())
        check_consistent_length(Xv, yv)
        n_outputs = _targets.n_outputs(y_index)
        if _targets.n_outputs(yv) != n_outputs:
            raise ValueError(
                f"y_val has {_targets.n_outputs(yv)} label(s) per sample, but y "
                f"has {n_outputs}. Pass validation labels shaped like y."
            )
        yv_index = _targets.encode(yv, classes_, "y_val", self.ignore_label)
        wv = validation_weights(wv, Xv)
        xv = self._network_input(model, Xv, dtype, fitting=False)
        return xv, yv_index, wv

    def _architecture_key(self, meta: dict, dtype: str):
        """A hashable description of the network, or None (see ``architecture_key``)."""
        return architecture_key(self, meta, dtype)

    def _weights_drawn_at_build(self) -> bool:
        """Whether building draws the initial weights (not so for a given model)."""
        return True

    def _seeded_build(self, meta: dict, seed: int, dtype: str) -> keras.Model:
        return build_seeded(
            self._build_model, meta, seed, dtype, self._weights_drawn_at_build()
        )

    # ------------------------------------------------------------------
    # Persistence

    def __sklearn_clone__(self):
        # A distribution object is shared, not deep-copied as clone copies
        # other parameters: it stands for the devices, and TensorFlow's
        # collective ops clash between two strategies over the same devices.
        distribution = _distribution_object(self.distribution)
        if distribution is None:
            return super().__sklearn_clone__()
        shallow = copy.copy(self)
        shallow.distribution = None
        cloned = super(BaseSparseCEClassifier, shallow).__sklearn_clone__()
        cloned.distribution = distribution
        return cloned

    def __getstate__(self):
        state = super().__getstate__()
        if _distribution_object(self.distribution) is not None:
            # A distribution object stands for this process's devices and
            # cannot be pickled; the copy follows what is in force where it
            # is loaded.
            state = {**state, "distribution": None}
        # Keras's own archives and configs: no pickle, no code (_persistence).
        return _persistence.pack_state(state)

    def __setstate__(self, state):
        super().__setstate__(_persistence.unpack_state(state))

    def export(self, path, format="tf_saved_model"):
        """Write the fitted classifier for serving without Python or skce.

        The SavedModel at ``path`` loads with TensorFlow alone
        (``tf.saved_model.load(path)``). Its ``serve`` endpoint (also the
        ``serving_default`` signature) takes a float batch shaped like ``X``
        and returns a dict: ``"labels"``, the ``classes_`` values ``predict``
        returns (strings as ``tf.string``, integers as ``int64``), and
        ``"probabilities"``, those of ``predict_proba`` in ``classes_`` order.
        With per-position labels both follow ``predict``: ``(n, n_outputs)``
        and ``(n, n_outputs, n_classes)``. Works on the TensorFlow and JAX
        backends (JAX through jax2tf; both need TensorFlow installed).

        Only the estimator is exported: the steps of a Pipeline before it are
        not, so the serving side must feed the array the estimator sees.

        Parameters
        ----------
        path : str or path-like
            Directory to write the SavedModel in.
        format : {'tf_saved_model', 'onnx'}, default='tf_saved_model'
            ``'onnx'`` raises a ValueError that says why it is unavailable.
        """
        _export.check_format(format)
        check_is_fitted(self)
        dtype = policy(self.model_)
        with _engine.precision(dtype, build=False):
            _export.export_saved_model(
                self.model_,
                path,
                sample_shape=getattr(self, "_sample_shape", (self.n_features_in_,)),
                classes=self.classes_,
                token_ids=getattr(self, "vocabulary_size_", None) is not None,
                proba_fn=output_function("proba", emits_logits(self.model_))[0],
                dtype=input_dtype(dtype),
            )

    # ------------------------------------------------------------------
    # Tags

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.input_tags.sparse = False
        tags.classifier_tags.multi_label = False
        tags.target_tags.multi_output = self._accepts_2d_y()
        return tags


def _distribution_object(distribution):
    """The distribution object the parameter holds, or None for a name or None."""
    return None if isinstance(distribution, (str, type(None))) else distribution
