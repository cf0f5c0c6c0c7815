"""The estimator every skce classifier shares.

Validation, label encoding, sample and class weights, the training parameters,
fit / partial_fit / predict, persistence and tags live here. A concrete
estimator adds its own parameters and ``_build_model``.
"""

import copy
import pickle
import random
from numbers import Integral, Real

import keras
import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state, compute_class_weight
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import (
    _check_sample_weight,
    check_consistent_length,
    check_is_fitted,
    column_or_1d,
    validate_data,
)

from skce import _engine

#: Optimizers that can be named by string; each maps to its Keras class.
OPTIMIZERS = {
    "adam": keras.optimizers.Adam,
    "adamw": keras.optimizers.AdamW,
    "sgd": keras.optimizers.SGD,
    "rmsprop": keras.optimizers.RMSprop,
    "adagrad": keras.optimizers.Adagrad,
    "adamax": keras.optimizers.Adamax,
    "nadam": keras.optimizers.Nadam,
}

_SEED_MAX = 2**31 - 1


class BaseSparseCEClassifier(ClassifierMixin, BaseEstimator):
    """Shared machinery of the skce classifiers (not for direct use)."""

    _parameter_constraints: dict = {
        "epochs": [Interval(Integral, 1, None, closed="left")],
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
        "patience": [Interval(Integral, 0, None, closed="left")],
        "callbacks": [list, tuple, None],
        "class_weight": [dict, StrOptions({"balanced"}), None],
        "dtype": [StrOptions({"float32", "float64"}), None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
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
        patience,
        callbacks,
        class_weight,
        dtype,
        random_state,
        verbose,
        warm_start,
    ):
        self.epochs = epochs
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.alpha = alpha
        self.shuffle = shuffle
        self.validation_split = validation_split
        self.early_stopping = early_stopping
        self.patience = patience
        self.callbacks = callbacks
        self.class_weight = class_weight
        self.dtype = dtype
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start

    # ------------------------------------------------------------------
    # Hooks for the concrete estimators

    def _build_model(self, meta: dict, seed: int) -> keras.Model:
        """Return the uncompiled Keras model for data described by ``meta``."""
        raise NotImplementedError

    def _check_params(self, meta: dict) -> None:
        """Check parameters against the data, before anything is built."""

    def _validate_X(self, X, reset: bool, y="no_validation"):
        """Validate X (and y, unless told not to) the way the estimator takes them."""
        return validate_data(self, X, y, dtype=(np.float64, np.float32), reset=reset)

    def _model_input(self, X: np.ndarray) -> np.ndarray:
        """Arrange validated X the way the Keras model takes it."""
        return X

    # ------------------------------------------------------------------
    # Fitting

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None, *, validation_data=None):
        """Train the network on ``(X, y)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,)
            Class labels of any type scikit-learn accepts for classification
            (integers of any dtype, strings, objects). They are encoded to
            integer indices; nothing is one-hot encoded.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights. A weight of ``k`` counts as ``k`` copies of
            the sample; ``None`` weighs every sample 1.
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

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,)
            Class labels.
        classes : array-like of shape (n_classes,), default=None
            Every class that will ever appear. Required on the first call,
            ignored after it (the labels of later calls must be among them).
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights.

        Returns
        -------
        self : object
            The estimator.
        """
        return self._fit(X, y, sample_weight, None, partial=True, classes=classes)

    def _fit(self, X, y, sample_weight, validation_data, *, partial, classes=None):
        saved_state = dict(self.__dict__)
        saved_weights = None
        try:
            continuing = hasattr(self, "model_") and (partial or self.warm_start)
            if continuing:
                saved_weights = _snapshot(self.model_)
            self._fit_validated(
                X, y, sample_weight, validation_data, partial, classes, continuing
            )
        except BaseException:
            # A rejected or interrupted fit leaves the estimator as it was.
            if saved_weights is not None:
                _restore(saved_state["model_"], saved_weights)
            self.__dict__.clear()
            self.__dict__.update(saved_state)
            raise
        return self

    def _fit_validated(
        self, X, y, sample_weight, validation_data, partial, classes, continuing
    ):
        _check_callbacks(self.callbacks)
        X, y = self._validate_X(X, reset=not continuing, y=y)
        y = _check_targets(y)
        if continuing:
            classes_ = self.classes_
        elif partial:
            if classes is None:
                raise ValueError(
                    "classes must be passed on the first call to partial_fit: "
                    "pass every label that will ever appear, e.g. "
                    "classes=np.unique(y_all)."
                )
            classes_ = np.unique(column_or_1d(classes))
            if classes_.dtype.kind == "f" and np.isnan(classes_).any():
                raise ValueError(
                    "classes contains NaN. Pass the class labels that y uses, "
                    f"without missing values. Received: classes={classes}."
                )
        else:
            classes_ = np.unique(y)
        y_index = _encode(y, classes_, "y")
        if len(classes_) < 2:
            where = "classes" if partial and not continuing else "y"
            raise ValueError(
                f"{where} has 1 class ({classes_.tolist()[0]!r}); a classifier "
                f"needs at least 2 classes. Pass {where} with two or more "
                "distinct labels."
            )
        dtype = self.model_.compute_dtype if continuing else self._compute_dtype(X)
        weights = self._sample_weights(
            sample_weight, X, y_index, classes_, one_class_ok=partial
        )
        meta = {
            "n_features_in_": self.n_features_in_,
            "n_classes_": len(classes_),
            "classes_": classes_,
            "input_shape": self._model_input(X[:1]).shape[1:],
            "X_dtype_": dtype,
        }
        self._check_params(meta)
        rng = check_random_state(self.random_state)
        build_seed, shuffle_seed, split_seed = rng.randint(_SEED_MAX, size=3)

        x = self._model_input(X).astype(dtype, copy=False)
        split = self._split_validation(
            x, y_index, weights, validation_data, classes_, dtype, split_seed
        )
        x, y_index, weights, val = split

        with _engine.precision(dtype):
            if continuing:
                model = self.model_
                optimizer = model.optimizer
            else:
                model = self._seeded_build(meta, int(build_seed))
                optimizer = self._make_optimizer()
            from_logits = _emits_logits(model)
            if not continuing:
                model.compile(
                    optimizer=optimizer,
                    loss=keras.losses.SparseCategoricalCrossentropy(
                        from_logits=from_logits
                    ),
                )
                optimizer.build(model.trainable_variables)
            loss = _engine.SparseCELoss(
                from_logits=from_logits,
                alpha=float(self.alpha),
                kernel_index=_kernel_index(model),
            )
            batch_size = self._batch_size(len(x))
            trainer = _engine.make_trainer(
                model, optimizer, loss, x, y_index, weights, batch_size
            )
            evaluate = None
            if val is not None:
                evaluate = _validation_scorer(model, loss.from_logits, *val)
            history, n_iter = _engine.run_epochs(
                trainer,
                epochs=1 if partial else self.epochs,
                shuffle=self.shuffle,
                rng=np.random.RandomState(shuffle_seed),
                callbacks=self._callbacks(val is not None),
                verbose=self.verbose,
                evaluate=evaluate,
            )
        if continuing and partial:
            for name, values in history.items():
                self.history_.setdefault(name, []).extend(values)
            self.n_iter_ += n_iter
        else:
            self.history_ = history
            self.n_iter_ = n_iter
        self.classes_ = classes_
        self.model_ = model

    def _compute_dtype(self, X) -> str:
        if self.dtype is not None:
            return self.dtype
        return "float32" if X.dtype == np.float32 else "float64"

    def _batch_size(self, n_samples: int) -> int:
        if self.batch_size == "auto":
            return min(200, n_samples)
        return min(self.batch_size, n_samples)

    def _make_optimizer(self) -> keras.optimizers.Optimizer:
        if isinstance(self.optimizer, str):
            return OPTIMIZERS[self.optimizer](learning_rate=self.learning_rate)
        # A fresh copy, so no state leaks between fits or clones.
        return self.optimizer.__class__.from_config(self.optimizer.get_config())

    def _callbacks(self, has_validation: bool) -> list:
        callbacks = [copy.copy(cb) for cb in (self.callbacks or ())]
        if self.early_stopping:
            callbacks.append(
                keras.callbacks.EarlyStopping(
                    monitor="val_loss" if has_validation else "loss",
                    patience=self.patience,
                    restore_best_weights=True,
                )
            )
        return callbacks

    def _sample_weights(
        self, sample_weight, X, y_index, classes_, one_class_ok=False
    ) -> np.ndarray:
        weights = _check_sample_weight(
            sample_weight, X, dtype=np.float64, ensure_non_negative=True, copy=True
        )
        if self.class_weight is not None:
            weights *= self._class_weights(y_index, classes_)[y_index]
        total = weights.sum()
        if not total > 0:
            raise ValueError(
                "sample_weight (times class_weight) sums to zero: at least one "
                "sample needs a positive weight."
            )
        # A partial_fit mini-batch may hold one class: `classes` names the rest.
        if not one_class_ok and len(np.unique(y_index[weights > 0])) < 2:
            raise ValueError(
                "Only one class has a positive sample weight; a classifier needs "
                "samples of at least 2 classes with positive weight."
            )
        return weights

    def _class_weights(self, y_index, classes_) -> np.ndarray:
        present = np.unique(y_index)
        per_class = np.ones(len(classes_))
        if self.class_weight == "balanced":
            per_class[present] = compute_class_weight(
                "balanced", classes=present, y=y_index
            )
            return per_class
        unknown = [k for k in self.class_weight if k not in set(classes_.tolist())]
        if unknown:
            raise ValueError(
                f"class_weight names labels that are not classes of y: {unknown}. "
                f"The classes are {classes_.tolist()}."
            )
        for label, value in self.class_weight.items():
            per_class[np.searchsorted(classes_, label)] = value
        if np.any(per_class < 0) or not np.all(np.isfinite(per_class)):
            raise ValueError(
                "class_weight values must be finite and non-negative. "
                f"Received: class_weight={self.class_weight}."
            )
        return per_class

    def _split_validation(
        self, x, y_index, weights, validation_data, classes_, dtype, seed
    ):
        if validation_data is not None:
            if not isinstance(validation_data, tuple) or len(validation_data) not in (
                2,
                3,
            ):
                raise TypeError(
                    "validation_data must be a tuple (X_val, y_val) or "
                    "(X_val, y_val, sample_weight_val). Received: "
                    f"{type(validation_data).__name__}."
                )
            Xv, yv, *wv = validation_data
            Xv = self._validate_X(Xv, reset=False)
            yv = column_or_1d(yv)
            check_consistent_length(Xv, yv)
            yv_index = _encode(_check_targets(yv), classes_, "y_val")
            wv = _check_sample_weight(
                wv[0] if wv else None, Xv, dtype=np.float64, ensure_non_negative=True
            )
            val = (self._model_input(Xv).astype(dtype, copy=False), yv_index, wv)
            return x, y_index, weights, val
        if not self.validation_split:
            return x, y_index, weights, None
        n_val = int(np.ceil(self.validation_split * len(x)))
        if n_val < 1 or len(x) - n_val < 1:
            raise ValueError(
                f"validation_split={self.validation_split} leaves no training "
                f"or no validation samples out of {len(x)}. Lower "
                "validation_split or pass more samples."
            )
        counts = np.bincount(y_index)
        stratify = y_index if counts[counts > 0].min() >= 2 else None
        try:
            parts = train_test_split(
                x,
                y_index,
                weights,
                test_size=n_val,
                random_state=seed,
                stratify=stratify,
            )
        except ValueError:
            parts = train_test_split(
                x, y_index, weights, test_size=n_val, random_state=seed
            )
        x_tr, x_val, y_tr, y_val, w_tr, w_val = parts
        return x_tr, y_tr, w_tr, (x_val, y_val, w_val)

    def _seeded_build(self, meta: dict, seed: int) -> keras.Model:
        # Keras draws unseeded initializer and dropout seeds from Python's
        # `random`; seed it for the build only, then give the caller back theirs.
        state = random.getstate()
        random.seed(seed)
        try:
            model = self._build_model(meta, seed)
        finally:
            random.setstate(state)
        _check_output(model, meta["n_classes_"])
        return model

    # ------------------------------------------------------------------
    # Inference

    def _forward(self, kind, X):
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        dtype = self.model_.compute_dtype
        x = self._model_input(X).astype(dtype, copy=False)
        fn = _OUTPUTS[kind][_emits_logits(self.model_)]
        with _engine.precision(dtype, build=False):
            return _engine.forward(self.model_, kind, fn, x)

    def predict(self, X):
        """Predict class labels, taking the argmax chunk by chunk.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        y : ndarray of shape (n_samples,)
            Labels, of the same kind as the ``y`` seen in ``fit``.
        """
        index = self._forward("argmax", X)
        return self.classes_[index]

    def predict_proba(self, X):
        """Class probabilities, columns in the order of ``classes_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Probabilities that sum to one along each row.
        """
        return self._forward("proba", X)

    def predict_log_proba(self, X):
        """Logarithm of the class probabilities, computed stably from logits.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            Log-probabilities, columns in the order of ``classes_``.
        """
        return self._forward("log_proba", X)

    # ------------------------------------------------------------------
    # Persistence

    def __getstate__(self):
        state = super().__getstate__()
        if "model_" in state:
            state = dict(state)
            model = state.pop("model_")
            # Keras pickles the model (architecture, weights, optimizer state);
            # keep its float type so loading can restore it exactly.
            state["_pickled_model"] = (model.compute_dtype, pickle.dumps(model))
        return state

    def __setstate__(self, state):
        state = dict(state)
        packed = state.pop("_pickled_model", None)
        super().__setstate__(state)
        if packed is not None:
            dtype, blob = packed
            with _engine.precision(dtype):
                self.model_ = pickle.loads(blob)

    # ------------------------------------------------------------------
    # Tags

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.input_tags.sparse = False
        tags.classifier_tags.multi_label = False
        return tags


def _argmax(out):
    return keras.ops.argmax(out, axis=-1)


def _identity(out):
    return out


# For each output kind: the function to apply to probabilities (False) or to
# logits (True) as the model emits them.
_OUTPUTS = {
    "argmax": {False: _argmax, True: _argmax},
    "proba": {False: _identity, True: keras.ops.softmax},
    "log_proba": {False: keras.ops.log, True: keras.ops.log_softmax},
}


def _check_callbacks(callbacks) -> None:
    for callback in callbacks or ():
        if not isinstance(callback, keras.callbacks.Callback):
            raise TypeError(
                "callbacks must hold keras.callbacks.Callback instances (for a "
                f"class, pass an instance: History(), not History); {callback!r} "
                f"is not one. Received: callbacks={callbacks!r}."
            )


def _check_targets(y):
    y = column_or_1d(y, warn=True)
    check_classification_targets(y)
    target = type_of_target(y, input_name="y")
    if target not in ("binary", "multiclass"):
        raise ValueError(
            f"y is {target}; skce classifiers take one label per sample "
            "(binary or multiclass)."
        )
    return y


def _encode(y, classes_, name):
    """Map labels to int32 indices into ``classes_``; reject unknown labels."""
    index = np.searchsorted(classes_, y)
    index = np.clip(index, 0, len(classes_) - 1)
    unknown = classes_[index] != y
    if np.any(unknown):
        raise ValueError(
            f"{name} has labels that are not among the classes "
            f"{classes_.tolist()}: {np.unique(np.asarray(y)[unknown]).tolist()}. "
            "Pass every label to partial_fit's `classes` on the first call, or "
            "refit from scratch with warm_start=False."
        )
    return index.astype(np.int32)


def _emits_logits(model) -> bool:
    """Whether the model's last layer emits logits rather than softmax output."""
    last = model.layers[-1] if model.layers else None
    if isinstance(last, keras.layers.Softmax):
        return False
    activation = getattr(last, "activation", None)
    return getattr(activation, "__name__", None) != "softmax"


def _kernel_index(model) -> tuple:
    return tuple(
        i for i, v in enumerate(model.trainable_variables) if v.name == "kernel"
    )


def _check_output(model, n_classes: int) -> None:
    shape = tuple(model.outputs[0].shape) if getattr(model, "outputs", None) else None
    if shape is None or len(shape) != 2 or shape[-1] != n_classes:
        raise ValueError(
            f"The Keras model must output shape (batch, n_classes) = (None, "
            f"{n_classes}). Received: output shape {shape}. End the model with "
            "Dense(n_classes) (logits) or Dense(n_classes, activation='softmax')."
        )


def _snapshot(model):
    optimizer = getattr(model, "optimizer", None)
    opt_vars = [] if optimizer is None else [v.numpy() for v in optimizer.variables]
    return model.get_weights(), opt_vars


def _restore(model, snapshot):
    weights, opt_vars = snapshot
    with _engine.precision(model.compute_dtype):
        model.set_weights(weights)
        if model.optimizer is not None:
            for variable, value in zip(
                model.optimizer.variables, opt_vars, strict=True
            ):
                variable.assign(value)


def _validation_scorer(model, from_logits, x_val, y_val, w_val):
    def fn(out, y, w):
        return _engine.batch_metrics(out, y, w, from_logits)

    def evaluate():
        loss_sum, weight_sum, correct = _engine.forward(
            model, "metrics", fn, x_val, y_val, w_val, reduce="sum"
        )
        weight_sum = max(float(weight_sum), 1e-12)
        return {
            "val_loss": float(loss_sum) / weight_sum,
            "val_accuracy": float(correct) / weight_sum,
        }

    return evaluate


#: The numpydoc entries of the training parameters every estimator shares.
TRAINING_PARAMETERS_DOC = """\
    epochs : int, default={epochs}
        Passes over the training data.

    batch_size : int or "auto", default="auto"
        Samples per gradient step. "auto" is ``min(200, n_samples)``.

    optimizer : {{"adam", "adamw", "sgd", "rmsprop", "adagrad", "adamax", \
"nadam"}} or keras.optimizers.Optimizer, default="adam"
        The optimizer, by name or as a configured Keras optimizer. An
        instance is copied from its config at each fit, so its state never
        leaks between fits; ``learning_rate`` then does not apply.

    learning_rate : float, default={learning_rate}
        Step size of a named optimizer.

    alpha : float, default={alpha}
        Strength of the L2 penalty ``0.5 * alpha * ||W||^2`` on the kernels,
        divided by the batch's total sample weight as in scikit-learn's
        ``MLPClassifier``.

    shuffle : bool, default=True
        Whether to reshuffle the training data before each epoch.

    validation_split : float in [0, 1), default=0.0
        Fraction of the training data held out (stratified by class) and
        scored after each epoch as ``val_loss`` and ``val_accuracy``.

    early_stopping : bool, default=False
        Stop when the monitored loss (``val_loss`` when there is validation
        data, else ``loss``) has not improved for ``patience`` epochs, and
        restore the best weights.

    patience : int, default=10
        Epochs without improvement before early stopping.

    callbacks : list of keras.callbacks.Callback, default=None
        Keras callbacks, called at each epoch (and each batch, if they define
        batch hooks). They are copied before each fit.

    class_weight : dict, "balanced" or None, default=None
        Weights per class label, multiplied into ``sample_weight``. "balanced"
        uses ``n_samples / (n_classes * np.bincount(y))``.

    dtype : {{"float32", "float64"}} or None, default=None
        Float type of the network and its computation. None follows X:
        float32 input trains in float32 (the fast choice, especially on a
        GPU), anything else in float64 (exact, as scikit-learn computes).

    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, dropout, shuffling and the validation
        split. An int gives identical results on every fit on a CPU.

    verbose : int, default=0
        0 is silent, 1 shows a progress bar per epoch, 2 a line per epoch.

    warm_start : bool, default=False
        Continue from the fitted network and optimizer state on the next
        ``fit`` instead of starting again.
"""

#: The numpydoc entries of the fitted attributes every estimator shares.
FITTED_ATTRIBUTES_DOC = """\
    classes_ : ndarray of shape (n_classes,)
        The class labels, sorted.

    n_features_in_ : int
        Number of features seen during fit.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Feature names seen during fit, when X had string column names.

    model_ : keras.Model
        The trained Keras model, compiled with its optimizer.

    history_ : dict of str to list of float
        Per-epoch ``loss`` and ``accuracy`` (and ``val_loss``,
        ``val_accuracy`` with validation data).

    n_iter_ : int
        Epochs run by the last ``fit`` (added up over ``partial_fit`` calls).
"""
