"""The estimator every skce classifier shares.

Validation, label encoding, sample and class weights, the training parameters,
fit / partial_fit / predict, persistence and tags live here. A concrete
estimator adds its own parameters and ``_build_model``.
"""

import copy
import functools
import math
import pickle
import warnings
from numbers import Integral, Real

import keras
import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import (
    _check_sample_weight,
    check_consistent_length,
    check_is_fitted,
    column_or_1d,
    validate_data,
)

from skce import _engine, _inputs, _targets
from skce._layers import SampleKeyedDropout

#: Optimizers that can be named by string, by their Keras class names. Like
#: Keras, skce also takes each name in lower case ("adam" as well as "Adam").
OPTIMIZERS = {cls.__name__: cls for cls in _engine.NAMED_OPTIMIZERS}
OPTIMIZERS.update({name.lower(): cls for name, cls in list(OPTIMIZERS.items())})

_SEED_MAX = 2**31 - 1

#: epochs="auto": about this many optimizer steps, in whole epochs within
#: AUTO_EPOCHS, over which the learning rate anneals along a cosine.
AUTO_STEPS = 2400
AUTO_EPOCHS = (5, 100)

#: The float types and Keras mixed-precision policies a network trains in.
DTYPES = ("float32", "float64", "mixed_float16", "mixed_bfloat16")

# Parameters that never change the network's compiled training code: the
# learning rate and the optimizer state are inputs of it, the optimizer is
# keyed by the engine from its config, and the rest act outside it. Every
# other parameter keys the reuse of compiled epochs.
_NOT_ARCHITECTURE = frozenset(
    {
        "epochs",
        "batch_size",
        "learning_rate",
        "optimizer",
        "shuffle",
        "validation_split",
        "early_stopping",
        "n_iter_no_change",
        "tol",
        "callbacks",
        "class_weight",
        "random_state",
        "verbose",
        "warm_start",
        "distribution",
    }
)


class BaseSparseCEClassifier(ClassifierMixin, BaseEstimator):
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
        kwargs = _inputs.float_validation(X)
        out = validate_data(self, X, y, reset=reset, **kwargs)
        return _inputs.check_finite(out, kwargs, self)

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
        saved_state = dict(self.__dict__)
        saved_model = None
        try:
            continuing = hasattr(self, "model_") and (partial or self.warm_start)
            if continuing:
                saved_model = _snapshot(self.model_)
            self._fit_validated(
                X, y, sample_weight, validation_data, partial, classes, continuing
            )
        except BaseException:
            # A rejected or interrupted fit leaves the estimator as it was.
            if saved_model is not None:
                _restore(saved_state["model_"], saved_model)
            self.__dict__.clear()
            self.__dict__.update(saved_state)
            raise
        return self

    def _fit_validated(
        self, X, y, sample_weight, validation_data, partial, classes, continuing
    ):
        _check_callbacks(self.callbacks)
        if partial and self.class_weight == "balanced":
            raise ValueError(
                "class_weight='balanced' is not supported for partial_fit: one "
                "mini-batch cannot tell the class frequencies of the whole data. "
                "Compute them once with sklearn.utils.compute_class_weight("
                "'balanced', classes=classes, y=y_all) and pass the result as "
                "a dict to class_weight."
            )
        X, y = self._validate_X(X, reset=not continuing, y=y)
        y = _targets.check_targets(y, multi_output=self._accepts_2d_y())
        n_outputs = _targets.n_outputs(y)
        if continuing and n_outputs != self.n_outputs_:
            raise ValueError(
                f"y has {n_outputs} label(s) per sample, but the estimator was "
                f"fitted on {self.n_outputs_}. Pass y of the fitted shape, or "
                "refit from scratch with warm_start=False."
            )
        classes_ = self._fit_classes(y, partial, classes, continuing)
        y_index = _targets.encode(y, classes_, "y", self.ignore_label)
        dtype = _policy(self.model_) if continuing else self._compute_dtype(X)
        weights, class_weight = self._sample_weights(
            sample_weight, X, y_index, classes_, one_class_ok=partial
        )
        meta = {
            "n_features_in_": self.n_features_in_,
            "n_classes_": len(classes_),
            "classes_": classes_,
            "n_outputs_": n_outputs,
            "input_shape": self._model_input(X[:1]).shape[1:],
            "vocabulary_size_": getattr(self, "vocabulary_size_", None),
            "X_dtype_": _input_dtype(dtype),
        }
        self._check_params(meta)
        rng = check_random_state(self.random_state)
        build_seed, shuffle_seed, split_seed = rng.randint(_SEED_MAX, size=3)
        if dtype == "float64" and not continuing:
            _warn_float64_on_accelerator()

        with _engine.distributed(self.distribution), _engine.precision(dtype):
            if continuing:
                model = self.model_
            else:
                model = self._seeded_build(meta, int(build_seed), dtype)
            # A memory-mapped X stays on disk: rows are read as training needs.
            x = self._network_input(
                model, X, _input_dtype(dtype), fitting=not continuing
            )
            val = None
            if validation_data is not None:
                val = self._validation_data(
                    validation_data, classes_, n_outputs, model, dtype
                )
            # Keys exist for skce's dropout alone; other models skip the hashing.
            if _has_keyed_dropout(model):
                keys = _engine.row_keys(x)
            else:
                keys = np.zeros(len(x), dtype=np.int32)
            data = (x, y_index, weights, keys)
            # partial_fit trains on each mini-batch whole, as MLPClassifier does.
            if val is None and self.validation_split and not partial:
                data, val = _split_validation(data, self.validation_split, split_seed)
            optimizer = self._fit_optimizer(model, continuing, dtype)
            from_logits = _emits_logits(model)
            if continuing:
                arch_key = getattr(self, "_architecture_key_", None)
            else:
                arch_key = self._architecture_key(meta, dtype)
            loss = _engine.SparseCELoss(
                from_logits=from_logits,
                alpha=float(self.alpha),
                kernel_index=_kernel_index(model),
                class_weight=class_weight,
            )
            evaluate = None
            if val is not None:
                evaluate = _validation_scorer(model, from_logits, arch_key, *val)
            batch_size = self._batch_size(len(data[0]))
            epochs, anneal = self._epoch_plan(len(data[0]), batch_size, partial)
            with _engine.make_trainer(
                model, optimizer, loss, data, batch_size, arch_key
            ) as trainer:
                callbacks = self._callbacks(val is not None, partial, anneal)
                if anneal:
                    callbacks.insert(0, _engine.CosineAnnealing(epochs))
                history, n_iter = _engine.run_epochs(
                    trainer,
                    epochs=epochs,
                    shuffle=self.shuffle,
                    rng=np.random.RandomState(shuffle_seed),
                    callbacks=callbacks,
                    verbose=min(int(self.verbose), 2),
                    evaluate=evaluate,
                )
        stopping = [c for c in callbacks if isinstance(c, _engine.ConvergenceStopping)]
        # epochs="auto" ends by design when its schedule has annealed.
        if stopping and not stopping[0].converged and n_iter == self.epochs:
            warnings.warn(
                f"{type(self).__name__}: the maximum of epochs={self.epochs} was "
                "reached before the loss converged (improved by less than "
                f"tol={self.tol} for n_iter_no_change={self.n_iter_no_change} "
                "epochs). Raise epochs, or set n_iter_no_change=None to train "
                "exactly `epochs` epochs without this warning.",
                ConvergenceWarning,
                stacklevel=4,
            )
        if continuing and partial:
            for name, values in history.items():
                self.history_.setdefault(name, []).extend(values)
            self.n_iter_ += n_iter
        else:
            self.history_ = history
            self.n_iter_ = n_iter
        self.classes_ = classes_
        self.n_outputs_ = n_outputs
        self.model_ = model
        # Describes model_ (not the parameters, which may change after fit):
        # lets inference share compiled code between models of this network.
        self._architecture_key_ = arch_key

    def _fit_classes(self, y, partial, classes, continuing) -> np.ndarray:
        """The classes of this fit, checked against ``classes`` and earlier calls."""
        if partial and classes is not None:
            given = _targets.find_classes(column_or_1d(classes), self.ignore_label)
            if given.dtype.kind == "f" and np.isnan(given).any():
                raise ValueError(
                    "classes contains NaN. Pass the class labels that y uses, "
                    f"without missing values. Received: classes={classes}."
                )
            if continuing and not _same_labels(given, self.classes_):
                raise ValueError(
                    f"classes={given.tolist()} is not the same as on the first "
                    f"call to partial_fit, {self.classes_.tolist()}. Pass the "
                    "same classes (or none) on later calls, or refit from scratch."
                )
        if continuing:
            return self.classes_
        if partial:
            if classes is None:
                raise ValueError(
                    "classes must be passed on the first call to partial_fit: "
                    "pass every label that will ever appear, e.g. "
                    "classes=np.unique(y_all)."
                )
            classes_ = given
        else:
            classes_ = _targets.find_classes(y, self.ignore_label)
        if len(classes_) < 2:
            where = "classes" if partial else "y"
            if len(classes_):
                found = f"1 class ({classes_.tolist()[0]!r})"
            else:
                found = "0 classes"
            besides = "" if self.ignore_label is None else " besides ignore_label"
            raise ValueError(
                f"{where} has {found}{besides}; a classifier needs at least 2 "
                f"classes. Pass {where} with two or more distinct labels."
            )
        return classes_

    def _compute_dtype(self, X) -> str:
        if self.dtype is not None:
            return self.dtype
        return "float32" if X.dtype == np.float32 else "float64"

    def _batch_size(self, n_samples: int) -> int:
        if self.batch_size == "auto":
            return min(200, n_samples)
        return min(self.batch_size, n_samples)

    def _epoch_plan(self, n_samples: int, batch_size: int, partial: bool):
        """Epochs to train, and whether the learning rate anneals over them.

        ``epochs="auto"`` trains about ``AUTO_STEPS`` optimizer steps, in whole
        epochs (at least and at most ``AUTO_EPOCHS``), with the learning rate
        annealed along a cosine; a named schedule of the user's own stays.
        """
        if partial:
            return 1, False
        if self.epochs != "auto":
            return int(self.epochs), False
        steps = math.ceil(n_samples / batch_size)
        low, high = AUTO_EPOCHS
        epochs = min(max(math.ceil(AUTO_STEPS / steps), low), high)
        return epochs, isinstance(self._learning_rate_value(), (int, float))

    def _make_optimizer(self, dtype: str) -> keras.optimizers.Optimizer:
        if isinstance(self.optimizer, str):
            optimizer = OPTIMIZERS[self.optimizer](learning_rate=self.learning_rate)
        else:
            # A fresh copy, so no state leaks between fits or clones.
            optimizer = self.optimizer.__class__.from_config(
                self.optimizer.get_config()
            )
        if dtype == "mixed_float16" and not isinstance(
            optimizer, keras.optimizers.LossScaleOptimizer
        ):
            # float16 gradients underflow without loss scaling; Keras's own
            # compile() wraps the optimizer the same way under this policy.
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        return optimizer

    def _fit_optimizer(self, model, continuing, dtype):
        """The optimizer of this fit, compiled into ``model``.

        A continuing fit (``warm_start`` or ``partial_fit``) keeps the fitted
        optimizer and its state, with the current learning rate; a changed
        ``optimizer`` parameter, like a fresh fit, starts a new optimizer.
        """
        if continuing and _same_optimizer(model.optimizer, self.optimizer):
            optimizer = model.optimizer
            rate = self._learning_rate_value()
            if isinstance(rate, (int, float)):
                optimizer.learning_rate = rate
            return optimizer
        optimizer = self._make_optimizer(dtype)
        model.compile(
            optimizer=optimizer,
            loss=keras.losses.SparseCategoricalCrossentropy(
                from_logits=_emits_logits(model)
            ),
        )
        optimizer.build(model.trainable_variables)
        return optimizer

    def _learning_rate_value(self):
        if isinstance(self.optimizer, str):
            return self.learning_rate
        return self.optimizer.get_config().get("learning_rate")

    def _callbacks(self, has_validation, partial=False, anneal=False) -> list:
        callbacks = [_copy_callback(cb) for cb in (self.callbacks or ())]
        # An annealed schedule runs to its end unless early_stopping asks
        # otherwise: stopping on the training loss would cut the annealing short.
        stops = not anneal or self.early_stopping
        if stops and not partial and self.n_iter_no_change is not None:
            validated = self.early_stopping and has_validation
            callbacks.append(
                _engine.ConvergenceStopping(
                    monitor="val_loss" if validated else "loss",
                    tol=float(self.tol),
                    n_iter_no_change=int(self.n_iter_no_change),
                    restore_best=bool(self.early_stopping),
                )
            )
        return callbacks

    def _sample_weights(self, sample_weight, X, y_index, classes_, one_class_ok=False):
        """Per-sample weights, and the class weights the loss applies per position.

        For 1-D labels the class weights are multiplied into the sample
        weights (and None is returned for the loss); per-position labels weigh
        each position by its class inside the loss.
        """
        weights = _check_sample_weight(
            sample_weight, X, dtype=np.float64, ensure_non_negative=True, copy=True
        )
        totals = _targets.class_totals(y_index, weights, len(classes_))
        per_class = np.ones(len(classes_))
        if self.class_weight is not None:
            per_class = _targets.class_weights(self.class_weight, classes_, totals)
        _targets.check_label_weights(totals * per_class, one_class_ok)
        if y_index.ndim > 1:
            return weights, None if self.class_weight is None else tuple(per_class)
        if self.class_weight is not None:
            weights *= per_class[np.maximum(y_index, 0)]
        return weights, None

    def _validation_data(self, validation_data, classes_, n_outputs, model, dtype):
        """Check ``fit``'s ``validation_data`` and arrange it like the training data."""
        if not isinstance(validation_data, tuple) or len(validation_data) not in (2, 3):
            raise TypeError(
                "validation_data must be a tuple (X_val, y_val) or "
                "(X_val, y_val, sample_weight_val). Received: "
                f"{type(validation_data).__name__}."
            )
        Xv, yv, *wv = validation_data
        Xv = self._validate_X(Xv, reset=False)
        yv = _targets.check_targets(yv, multi_output=self._accepts_2d_y())
        check_consistent_length(Xv, yv)
        if _targets.n_outputs(yv) != n_outputs:
            raise ValueError(
                f"y_val has {_targets.n_outputs(yv)} label(s) per sample, but y "
                f"has {n_outputs}. Pass validation labels shaped like y."
            )
        yv_index = _targets.encode(yv, classes_, "y_val", self.ignore_label)
        wv = _check_sample_weight(
            wv[0] if wv else None, Xv, dtype=np.float64, ensure_non_negative=True
        )
        xv = self._network_input(model, Xv, _input_dtype(dtype), fitting=False)
        return xv, yv_index, wv

    def _architecture_key(self, meta: dict, dtype: str):
        """A hashable description of the network this estimator builds.

        Fits with equal keys build the same architecture, so compiled training
        code is reused between them. Every parameter is part of it except
        those known to act outside the network (training length, seeds,
        callbacks, weighting), so a new architecture parameter is keyed by
        default. Returns None for a user's model, which is keyed by its config.
        """
        params = self.get_params(deep=False)
        for name in _NOT_ARCHITECTURE:
            params.pop(name, None)
        try:
            key = (
                type(self).__qualname__,
                repr(sorted(params.items())),
                tuple(meta["input_shape"]),
                meta["n_classes_"],
                meta.get("n_outputs_", 1),
                meta.get("vocabulary_size_"),
                dtype,
            )
            hash(key)
        except TypeError:
            return None
        return key

    def _weights_drawn_at_build(self) -> bool:
        """Whether building draws the initial weights (not so for a given model)."""
        return True

    def _seeded_build(self, meta: dict, seed: int, dtype: str) -> keras.Model:
        model = self._build_seeded(meta, seed)
        if dtype != "float32" and self._weights_drawn_at_build():
            # Keras draws initial weights per float type; draw them in float32
            # so one random_state gives one initial network whatever X's dtype.
            with _engine.precision("float32"):
                reference = self._build_seeded(meta, seed)
            model.set_weights(
                [
                    np.asarray(value).astype(variable.dtype)
                    for value, variable in zip(
                        reference.get_weights(), model.weights, strict=True
                    )
                ]
            )
        return model

    def _build_seeded(self, meta: dict, seed: int) -> keras.Model:
        # Unseeded initializers and dropout layers draw their seeds from
        # Python's random streams: seed them for the build only.
        with _engine.python_random(seed):
            model = self._build_model(meta, seed)
        _check_output(model, meta)
        return model

    # ------------------------------------------------------------------
    # Inference

    def _forward(self, kind, X, k=None):
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        dtype = _policy(self.model_)
        x = self._network_input(self.model_, X, _input_dtype(dtype), fitting=False)
        from_logits = _emits_logits(self.model_)
        if kind == "top_k":
            fn, key = functools.partial(_top_k, k, from_logits), ("top_k", k)
        else:
            fn, key = _OUTPUTS[kind][from_logits], kind
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
        n_classes = len(self.classes_)
        if (
            isinstance(k, bool)
            or not isinstance(k, Integral)
            or not 1 <= k <= n_classes
        ):
            raise ValueError(
                f"k must be an integer from 1 to n_classes={n_classes}. "
                f"Received: k={k!r}."
            )
        out = self._forward("top_k", X, int(k))
        labels = self.classes_[out[..., k:].astype(np.int64)]
        return self._per_output(labels), self._per_output(out[..., :k])

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
        if "model_" in state:
            state = dict(state)
            model = state.pop("model_")
            # Keras pickles the model (architecture, weights, optimizer state);
            # keep its float type so loading can restore it exactly.
            state["_pickled_model"] = (_policy(model), pickle.dumps(model))
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
        tags.target_tags.multi_output = self._accepts_2d_y()
        return tags


def _argmax(out):
    return keras.ops.argmax(out, axis=-1)


def _proba(out):
    return _engine.widen(out)


def _proba_from_logits(out):
    return keras.ops.softmax(_engine.widen(out))


def _log_proba(out):
    return keras.ops.log(_engine.widen(out))


def _log_proba_from_logits(out):
    return keras.ops.log_softmax(_engine.widen(out))


def _top_k(k, from_logits, out):
    """The ``k`` largest probabilities and their class indices, side by side.

    Indices travel as floats beside the probabilities so that one array comes
    back per chunk; float32 holds every integer below 2**24 exactly, far more
    classes than a network has.
    """
    proba = _proba_from_logits(out) if from_logits else _proba(out)
    values, indices = keras.ops.top_k(proba, k)
    return keras.ops.concatenate(
        [values, keras.ops.cast(indices, values.dtype)], axis=-1
    )


# For each output kind: the function to apply to probabilities (False) or to
# logits (True) as the model emits them.
_OUTPUTS = {
    "argmax": {False: _argmax, True: _argmax},
    "proba": {False: _proba, True: _proba_from_logits},
    "log_proba": {False: _log_proba, True: _log_proba_from_logits},
}


def _distribution_object(distribution):
    """The distribution object the parameter holds, or None for a name or None."""
    return None if isinstance(distribution, (str, type(None))) else distribution


def _check_callbacks(callbacks) -> None:
    for callback in callbacks or ():
        if not isinstance(callback, keras.callbacks.Callback):
            raise TypeError(
                "callbacks must hold keras.callbacks.Callback instances (for a "
                f"class, pass an instance: History(), not History); {callback!r} "
                f"is not one. Received: callbacks={callbacks!r}."
            )


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


def _check_output(model, meta: dict) -> None:
    """Reject a model whose output is not one tensor of the labels' shape.

    That is ``(batch, n_classes)`` for one label per sample and ``(batch,
    n_outputs, n_classes)`` for per-position labels (the length may be None).
    """
    n_classes, n_outputs = meta["n_classes_"], meta["n_outputs_"]
    shapes = _output_shapes(model, meta["input_shape"])
    expected = "(batch, n_classes)" if n_outputs == 1 else "(batch, T, n_classes)"
    if len(shapes) != 1:
        raise ValueError(
            f"The Keras model has {len(shapes)} outputs, of shapes {shapes}; "
            f"skce trains a model with one output of shape {expected}. "
            "Build a model with a single output, e.g. keras.Model(inputs, "
            "outputs[0])."
        )
    shape = shapes[0]
    if n_outputs == 1:
        if shape is None or len(shape) != 2 or shape[-1] != n_classes:
            raise ValueError(
                f"The Keras model must output shape (batch, n_classes) = (None, "
                f"{n_classes}). Received: output shape {shape}. End the model "
                "with Dense(n_classes) (logits) or Dense(n_classes, "
                "activation='softmax')."
            )
    elif (
        shape is None
        or len(shape) != 3
        or shape[1] not in (None, n_outputs)
        or shape[-1] != n_classes
    ):
        raise ValueError(
            f"y holds {n_outputs} labels per sample, so the Keras model must "
            f"output shape (batch, T, n_classes) = (None, {n_outputs}, "
            f"{n_classes}). Received: output shape {shape}. End a sequence "
            "model with Dense(n_classes) on its per-timestep outputs (e.g. "
            "LSTM(..., return_sequences=True))."
        )


def _output_shapes(model, input_shape) -> list:
    """The shapes of the model's outputs, traced symbolically if need be."""
    outputs = getattr(model, "outputs", None)
    if not outputs:
        # A subclassed model has no symbolic outputs: trace one call.
        try:
            outputs = model.compute_output_spec(
                keras.KerasTensor((None, *input_shape), dtype=model.compute_dtype)
            )
        except Exception as error:
            raise ValueError(
                "skce could not work out the output shape of the Keras model by "
                f"calling it on inputs of shape (batch, *{tuple(input_shape)}): "
                f"{error}. Check that the model accepts inputs of that shape."
            ) from error
    if isinstance(outputs, dict):
        outputs = list(outputs.values())
    if not isinstance(outputs, (list, tuple)):
        outputs = [outputs]
    return [None if o is None else tuple(o.shape) for o in outputs]


def _has_keyed_dropout(model) -> bool:
    stack = list(model.layers)
    while stack:
        layer = stack.pop()
        if isinstance(layer, SampleKeyedDropout):
            return True
        stack.extend(getattr(layer, "layers", ()))
    return False


def _copy_callback(callback):
    """A per-fit copy of a user's callback, told how skce's metrics move.

    skce logs ``accuracy`` (and ``val_accuracy``) without compiling a Keras
    metric of that name, so a callback in ``mode="auto"`` could not tell that
    higher is better. Keras would know it from the compiled metric; skce says
    so on its own copy.
    """
    callback = copy.copy(callback)
    monitor = getattr(callback, "monitor", None)
    if (
        getattr(callback, "mode", None) == "auto"
        and isinstance(monitor, str)
        and monitor.removeprefix("val_") in ("accuracy", "acc")
    ):
        callback.mode = "max"
    return callback


def _policy(model) -> str:
    """The float type or mixed policy a fitted model trains in."""
    return model.dtype_policy.name


def _input_dtype(dtype: str) -> str:
    """The float type of the data fed to a network trained in ``dtype``."""
    return "float32" if dtype.startswith("mixed") else dtype


def _same_optimizer(current, param) -> bool:
    """Whether the fitted optimizer is the one the ``optimizer`` parameter makes."""
    current = getattr(current, "inner_optimizer", current)
    if isinstance(param, str):
        return type(current) is OPTIMIZERS[param]
    if type(current) is not type(param):
        return False

    def settings(optimizer):
        config = dict(optimizer.get_config())
        config.pop("name", None)
        config.pop("learning_rate", None)
        return config

    return settings(current) == settings(param)


def _same_labels(a, b) -> bool:
    return len(a) == len(b) and bool(np.all(a == b))


def _split_validation(data, validation_split, seed):
    """Hold out a ``validation_split`` of ``(x, y, w, keys)``.

    One label per sample is stratified by class; per-position labels are not
    (no one class describes a sequence).
    """
    x, y_index, weights, keys = data
    n_val = int(np.ceil(validation_split * len(x)))
    if n_val < 1 or len(x) - n_val < 1:
        raise ValueError(
            f"validation_split={validation_split} leaves no training "
            f"or no validation samples out of {len(x)}. Lower "
            "validation_split or pass more samples."
        )
    stratify = None
    if y_index.ndim == 1:
        counts = np.bincount(np.maximum(y_index, 0))
        stratify = y_index if counts[counts > 0].min() >= 2 else None
    index = np.arange(len(x))
    try:
        train, val = train_test_split(
            index, test_size=n_val, random_state=seed, stratify=stratify
        )
    except ValueError:
        train, val = train_test_split(index, test_size=n_val, random_state=seed)

    def rows(a, index):
        return a.subset(index) if isinstance(a, _engine.HostRows) else a[index]

    return tuple(rows(a, train) for a in data), tuple(rows(a, val) for a in data[:3])


def _warn_float64_on_accelerator() -> None:
    device = _engine.accelerator()
    if device is not None:
        warnings.warn(
            f"skce is training in float64 on a {device.upper()}, which runs "
            "float64 at a fraction of its float32 speed and with twice the "
            "memory. X is float64 (scikit-learn's default), and skce follows "
            "X's dtype. For float32 speed pass X.astype(np.float32) or set "
            "dtype='float32'.",
            UserWarning,
            stacklevel=4,
        )


def _snapshot(model):
    optimizer = getattr(model, "optimizer", None)
    opt_vars = [] if optimizer is None else [v.numpy() for v in optimizer.variables]
    return model.get_weights(), optimizer, opt_vars


def _restore(model, snapshot):
    weights, optimizer, opt_vars = snapshot
    with _engine.precision(_policy(model)):
        model.set_weights(weights)
        if optimizer is not None and model.optimizer is not optimizer:
            # A warm-start fit compiled a new optimizer: put the old one back.
            model.compile(optimizer=optimizer, loss=model.loss)
        if optimizer is not None:
            for variable, value in zip(optimizer.variables, opt_vars, strict=True):
                variable.assign(value)


def _validation_scorer(model, from_logits, architecture_key, x_val, y_val, w_val):
    def fn(out, y, w):
        return _engine.batch_metrics(out, y, w, from_logits)

    def evaluate():
        loss_sum, weight_sum, correct = _engine.forward(
            model,
            "metrics",
            fn,
            x_val,
            y_val,
            w_val,
            reduce="sum",
            architecture_key=architecture_key,
        )
        weight_sum = max(float(weight_sum), 1e-12)
        return {
            "val_loss": float(loss_sum) / weight_sum,
            "val_accuracy": float(correct) / weight_sum,
        }

    return evaluate


#: The numpydoc entries of the training parameters every estimator shares.
TRAINING_PARAMETERS_DOC = """\
    epochs : int or "auto", default={epochs}
        Passes over the training data, at most (see ``n_iter_no_change``).
        "auto" sizes them to the data: about 2,400 gradient steps in whole
        epochs, at least 5 and at most 100, with the learning rate annealed
        epoch by epoch along a cosine from ``learning_rate`` to near zero (an
        optimizer with a learning-rate schedule of its own keeps it).
        Reaching the last of these epochs is the end of the schedule, not a
        ``ConvergenceWarning``. ``partial_fit`` always trains one epoch.

    batch_size : int or "auto", default="auto"
        Samples per gradient step. "auto" is ``min(200, n_samples)``.

    optimizer : str or keras.optimizers.Optimizer, default="adam"
        The optimizer, by name as Keras takes it ("adam" or "Adam", "sgd" or
        "SGD", and likewise "adamw", "rmsprop", "adagrad", "adadelta",
        "adamax", "nadam", "ftrl", "lion"), or as a configured Keras
        optimizer. An instance is copied from its config at each fit, so its
        state never leaks between fits; ``learning_rate`` then does not apply.

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
        Monitor the validation loss (with ``validation_split`` or
        ``validation_data``; else the training loss) for convergence, and put
        back the weights of the best epoch when training ends.

    tol : float, default=1e-4
        Convergence tolerance, as in ``MLPClassifier``: an epoch whose
        monitored loss is not below the best so far by at least ``tol``
        counts as no improvement.

    n_iter_no_change : int or None, default=10
        Training stops after more than ``n_iter_no_change`` epochs in a row
        without improvement, as in ``MLPClassifier``; ``epochs`` is the upper
        bound (``MLPClassifier``'s ``max_iter``), and reaching it first raises
        a ``ConvergenceWarning``. None trains exactly ``epochs`` epochs, as
        Keras does. ``partial_fit`` never stops early.

    callbacks : list of keras.callbacks.Callback, default=None
        Keras callbacks, called at each epoch (and each batch, if they define
        batch hooks). They are copied before each fit.

    class_weight : dict, "balanced" or None, default=None
        Weights per class label, multiplied into ``sample_weight``. "balanced"
        uses ``n_samples / (n_classes * np.bincount(y))`` with samples counted
        by their ``sample_weight``; ``partial_fit`` rejects it, as
        ``SGDClassifier`` does (pass the weights of the whole data as a dict).

    dtype : {{"float32", "float64", "mixed_float16", "mixed_bfloat16"}} or \
None, default=None
        Float type of the network and its computation. None follows X:
        float32 input trains in float32 (the fast choice, especially on a
        GPU), anything else in float64 (exact, as scikit-learn computes).
        The mixed policies are Keras's: float16 or bfloat16 computation with
        float32 weights, loss and outputs (float16 with loss scaling); on a
        GPU with tensor cores they are the fastest.

    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, dropout, shuffling and the validation
        split. An int gives identical results on every fit on a CPU.

    verbose : int, default=0
        0 is silent, 1 shows a progress bar per epoch, 2 or more a line per
        epoch.

    warm_start : bool, default=False
        Continue from the fitted network and optimizer state on the next
        ``fit`` instead of starting again. A ``learning_rate`` changed in
        between applies to the continued training (so does a changed
        learning rate of an optimizer instance); a changed ``optimizer``
        starts a new optimizer state. ``partial_fit`` continues the same way.

    distribution : {{'data_parallel'}}, distribution object or None, default=None
        Data-parallel training over several devices. Each mini-batch is
        split over the devices and their gradients are summed, so the fit
        equals the one-device fit up to float rounding (``batch_size`` is
        the global batch). ``None`` follows what is in force where ``fit``
        runs: a ``keras.distribution.DataParallel`` set on JAX, or a
        ``tf.distribute`` strategy's ``scope()`` on TensorFlow.
        ``'data_parallel'`` uses every device of the host (on TensorFlow:
        the GPUs, or the logical CPUs if there is none). An instance
        (``keras.distribution.DataParallel`` on JAX, a
        ``tf.distribute.Strategy`` on TensorFlow) is used as given, and
        clones of the estimator share it; a pickled copy has
        ``distribution=None`` (the instance belongs to its process).
"""

#: The numpydoc entries of the fitted attributes every estimator shares.
FITTED_ATTRIBUTES_DOC = """\
    classes_ : ndarray of shape (n_classes,)
        The class labels, sorted. For per-position ``y`` of shape
        ``(n_samples, n_outputs)``, the one vocabulary every position shares
        (not a list of arrays per output, as in ``MultiOutputClassifier``).
        ``ignore_label`` is never among them.

    n_outputs_ : int
        Labels per sample: 1 for 1-D ``y``, else the number of columns of
        ``y``.

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
