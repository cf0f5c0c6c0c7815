"""Behaviour shared by every estimator: labels, weights, state, reproducibility."""

import random

import keras
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning, NotFittedError

from skce import SparseCEMLPClassifier
from tests.conftest import fast


@pytest.mark.parametrize(
    "labels",
    [
        np.array([10, 20, 50]),
        np.array([0, 1, 2], dtype=np.uint8),
        np.array(["cat", "dog", "eel"]),
        np.array(["cat", "dog", "eel"], dtype=object),
        np.array([-1.0, 2.0, 7.0]),
    ],
    ids=["sparse-int", "uint8", "str", "object", "float-codes"],
)
def test_labels_come_back_as_given(Estimator, blobs, labels):
    """Any label type trains and predicts the same labels with the same dtype."""
    X, y = blobs
    y = labels[y]
    clf = fast(Estimator).fit(X, y)
    assert_array_equal(clf.classes_, np.unique(labels))
    pred = clf.predict(X)
    assert pred.dtype == y.dtype
    assert set(pred) <= set(labels)


def test_proba_matches_predict(Estimator, blobs):
    """Probabilities sum to one, their argmax is predict, and logs agree."""
    X, y = blobs
    clf = fast(Estimator).fit(X, y)
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), 3)
    assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert_array_equal(clf.classes_[proba.argmax(axis=1)], clf.predict(X))
    assert_allclose(np.exp(clf.predict_log_proba(X)), proba, rtol=1e-6)


def test_unfitted_raises(Estimator, blobs):
    """Inference before fit raises NotFittedError."""
    X, _ = blobs
    for method in ("predict", "predict_proba", "predict_log_proba"):
        with pytest.raises(NotFittedError):
            getattr(Estimator(), method)(X)


def test_same_seed_same_predictions(Estimator, blobs):
    """A fixed random_state gives identical predictions on every fit."""
    X, y = blobs
    a = fast(Estimator, random_state=3).fit(X, y).predict_proba(X)
    b = fast(Estimator, random_state=3).fit(X, y).predict_proba(X)
    assert_array_equal(a, b)


def test_fit_leaves_global_state_alone(Estimator, blobs):
    """fit neither reseeds the caller's RNGs nor changes Keras's float type."""
    X, y = blobs
    random.seed(1)
    np.random.seed(1)
    py_state, np_state = random.getstate(), np.random.get_state()
    floatx, policy = keras.config.floatx(), keras.config.dtype_policy().name
    fast(Estimator, random_state=0).fit(X, y)
    assert random.getstate() == py_state
    assert_array_equal(np.random.get_state()[1], np_state[1])
    assert keras.config.floatx() == floatx
    assert keras.config.dtype_policy().name == policy


@pytest.mark.parametrize(
    "X_dtype, param, expected",
    [
        (np.float32, None, "float32"),
        (np.float64, None, "float64"),
        (np.int64, None, "float64"),
        (np.float64, "float32", "float32"),
    ],
)
def test_compute_dtype(X_dtype, param, expected, blobs):
    """The network computes in X's float type unless dtype says otherwise."""
    X, y = blobs
    clf = fast(SparseCEMLPClassifier, dtype=param).fit(X.astype(X_dtype), y)
    assert clf.model_.compute_dtype == expected
    assert clf.predict_proba(X).dtype == np.dtype(expected)


@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_integer_weights_equal_repeated_rows(dropout, rng):
    """Weight k trains exactly like k copies, dropout included."""
    X = rng.rand(20, 6)
    y = rng.randint(0, 3, 20)
    sw = rng.randint(0, 4, 20)
    params = dict(dropout=dropout, epochs=30, random_state=0)
    weighted = SparseCEMLPClassifier(**params).fit(X, y, sample_weight=sw)
    repeated = SparseCEMLPClassifier(**params).fit(X.repeat(sw, 0), y.repeat(sw))
    assert_allclose(weighted.predict_proba(X), repeated.predict_proba(X), rtol=1e-9)


def test_class_weight_balanced_equals_sample_weights(blobs):
    """class_weight="balanced" is the same as the equivalent sample weights."""
    X, y = blobs
    X, y = X[:70], y[:70]
    counts = np.bincount(y)
    sw = len(y) / (3 * counts[y])
    a = fast(SparseCEMLPClassifier, class_weight="balanced").fit(X, y)
    b = fast(SparseCEMLPClassifier).fit(X, y, sample_weight=sw)
    assert_allclose(a.predict_proba(X), b.predict_proba(X), rtol=1e-9)


def test_class_weight_unknown_label(blobs):
    """class_weight naming a label that is not a class is rejected."""
    X, y = blobs
    with pytest.raises(ValueError, match="not classes of y: \\[7\\]"):
        fast(SparseCEMLPClassifier, class_weight={7: 2.0}).fit(X, y)


def test_partial_fit_requires_classes_then_accumulates(blobs):
    """partial_fit needs classes first, then adds one epoch per call."""
    X, y = blobs
    clf = SparseCEMLPClassifier(random_state=0)
    with pytest.raises(ValueError, match="classes must be passed"):
        clf.partial_fit(X, y)
    clf.partial_fit(X[:30], y[:30], classes=[0, 1, 2, 3])
    clf.partial_fit(X[30:], y[30:])
    assert clf.n_iter_ == 2
    assert len(clf.history_["loss"]) == 2
    assert_array_equal(clf.classes_, [0, 1, 2, 3])


def test_partial_fit_rejects_new_class(blobs):
    """A label outside the first call's classes is an error that keeps state."""
    X, y = blobs
    clf = SparseCEMLPClassifier(random_state=0).partial_fit(X, y, classes=[0, 1, 2])
    before = clf.predict_proba(X)
    with pytest.raises(ValueError, match="not among the classes"):
        clf.partial_fit(X, np.where(y == 2, 5, y))
    assert_array_equal(clf.predict_proba(X), before)
    assert clf.n_iter_ == 1


def test_warm_start_continues_exactly(blobs):
    """Two warm fits of 5 epochs equal one fit of 10 (weights and optimizer)."""
    X, y = blobs
    params = dict(shuffle=False, batch_size=len(X), random_state=0)
    once = SparseCEMLPClassifier(epochs=10, **params).fit(X, y)
    twice = SparseCEMLPClassifier(epochs=5, warm_start=True, **params)
    twice.fit(X, y).fit(X, y)
    assert_allclose(twice.predict_proba(X), once.predict_proba(X), rtol=1e-10)


def test_rejected_fit_keeps_fitted_state(Estimator, blobs):
    """A fit rejected by validation leaves the previous fit untouched."""
    X, y = blobs
    clf = fast(Estimator).fit(X, y)
    model, proba = clf.model_, clf.predict_proba(X)
    with pytest.raises(ValueError):
        clf.fit(X[:, :2], np.full(len(X), 0.5))
    assert clf.model_ is model
    assert clf.n_features_in_ == X.shape[1]
    assert_array_equal(clf.predict_proba(X), proba)


def test_diverging_fit_raises_and_stays_unfitted(blobs):
    """A non-finite loss raises a clear error and leaves no fitted model."""
    X, y = blobs
    clf = SparseCEMLPClassifier(epochs=5, optimizer="sgd", learning_rate=1e30)
    with pytest.raises(FloatingPointError, match="lower learning_rate"):
        clf.fit(X * 1e10, y)
    assert not hasattr(clf, "model_")


class _Interrupt(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 1:
            raise KeyboardInterrupt


def test_interrupted_fit_keeps_previous_state(blobs):
    """KeyboardInterrupt mid-fit restores the previous fit; fit works after."""
    X, y = blobs
    clf = fast(SparseCEMLPClassifier, warm_start=True).fit(X, y)
    proba = clf.predict_proba(X)
    clf.set_params(callbacks=[_Interrupt()])
    with pytest.raises(KeyboardInterrupt):
        clf.fit(X, y)
    assert_array_equal(clf.predict_proba(X), proba)
    clf.set_params(callbacks=None, warm_start=False).fit(X, y)
    assert clf.n_iter_ == 5


def test_custom_model_builder_conventions(blobs):
    """Builders get meta, named entries or **kwargs; softmax outputs work."""
    from skce import SparseCEClassifier

    X, y = blobs
    seen = {}

    def by_name(n_features_in_, n_classes_, seed):
        seen.update(n_features_in_=n_features_in_, n_classes_=n_classes_)
        inputs = keras.Input((n_features_in_,))
        out = keras.layers.Dense(n_classes_, activation="softmax")(inputs)
        return keras.Model(inputs, out)

    def by_meta(meta):
        return by_name(meta["n_features_in_"], meta["n_classes_"], 0)

    def by_kwargs(**kwargs):
        return by_name(kwargs["n_features_in_"], kwargs["n_classes_"], 0)

    for build in (by_name, by_meta, by_kwargs):
        clf = SparseCEClassifier(build, epochs=100, random_state=0).fit(X, y)
        assert clf.score(X, y) > 0.9
        assert_allclose(clf.predict_proba(X).sum(axis=1), 1.0)
    assert seen == {"n_features_in_": 4, "n_classes_": 3}


def test_custom_model_errors(blobs):
    """Wrong outputs, non-models and unknown arguments get clear errors."""
    from skce import SparseCEClassifier

    X, y = blobs

    def wrong_width(n_features_in_):
        inputs = keras.Input((n_features_in_,))
        return keras.Model(inputs, keras.layers.Dense(2)(inputs))

    with pytest.raises(ValueError, match="must output shape"):
        SparseCEClassifier(wrong_width).fit(X, y)
    with pytest.raises(TypeError, match="must return a keras.Model"):
        SparseCEClassifier(lambda: "model").fit(X, y)
    with pytest.raises(TypeError, match="asks for 'units'"):
        SparseCEClassifier(lambda units: None).fit(X, y)


# ----------------------------------------------------------------------
# partial_fit and warm_start, as in MLPClassifier and SGDClassifier


def test_partial_fit_other_classes_later_raises(blobs):
    """A later partial_fit with classes unlike the first call's is an error."""
    X, y = blobs
    clf = fast(SparseCEMLPClassifier).partial_fit(X, y, classes=[0, 1, 2])
    clf.partial_fit(X, y, classes=[2, 1, 0])  # the same classes, in any order
    clf.partial_fit(X, y)
    with pytest.raises(ValueError, match=r"not the same as on the first call"):
        clf.partial_fit(X, y, classes=[0, 1, 2, 3])
    assert clf.n_iter_ == 3


def test_partial_fit_holds_nothing_out_and_never_stops_early(blobs):
    """partial_fit trains on the whole mini-batch: no split, no early stop."""
    X, y = blobs
    clf = fast(
        SparseCEMLPClassifier, validation_split=0.5, early_stopping=True
    ).partial_fit(X, y, classes=[0, 1, 2])
    assert "val_loss" not in clf.history_
    # The loss is over all 90 rows: the same as a fit on them with no split.
    plain = fast(SparseCEMLPClassifier).partial_fit(X, y, classes=[0, 1, 2])
    assert clf.history_["loss"] == pytest.approx(plain.history_["loss"], rel=1e-12)


def test_class_weight_balanced_rejected_in_partial_fit(blobs):
    """class_weight='balanced' cannot be computed from one mini-batch."""
    X, y = blobs
    clf = fast(SparseCEMLPClassifier, class_weight="balanced")
    with pytest.raises(ValueError, match="compute_class_weight"):
        clf.partial_fit(X, y, classes=[0, 1, 2])
    assert not hasattr(clf, "model_")


def test_class_weight_balanced_honours_sample_weight(blobs):
    """Balanced class weights count samples by their weight, like repetitions."""
    X, y = blobs
    X, y = X[:70], y[:70]
    sw = np.where(y == 0, 3, 1)
    params = dict(batch_size=1000, shuffle=False, class_weight="balanced")
    weighted = fast(SparseCEMLPClassifier, **params).fit(X, y, sample_weight=sw)
    repeated = fast(SparseCEMLPClassifier, **params).fit(X.repeat(sw, 0), y.repeat(sw))
    assert_allclose(weighted.predict_proba(X), repeated.predict_proba(X), rtol=1e-9)


@pytest.mark.parametrize("method", ["warm_start", "partial_fit"])
def test_changed_learning_rate_applies_on_continued_fit(blobs, method):
    """A learning_rate set between continued fits is the one that trains."""
    X, y = blobs
    clf = fast(SparseCEMLPClassifier, warm_start=method == "warm_start")
    continue_fit = (
        (lambda: clf.fit(X, y))
        if method == "warm_start"
        else (lambda: clf.partial_fit(X, y, classes=[0, 1, 2]))
    )
    continue_fit()
    before = [w.copy() for w in clf.model_.get_weights()]
    clf.set_params(learning_rate=1e-12)
    continue_fit()
    assert float(clf.model_.optimizer.learning_rate) == pytest.approx(1e-12)
    for old, new in zip(before, clf.model_.get_weights(), strict=True):
        assert_allclose(new, old, atol=1e-8)
    clf.set_params(learning_rate=0.05)
    continue_fit()
    after = clf.model_.get_weights()
    assert max(np.abs(n - o).max() for o, n in zip(before, after, strict=True)) > 1e-3


def test_changed_optimizer_applies_on_warm_start(blobs):
    """A different optimizer named between warm fits replaces the fitted one."""
    X, y = blobs
    clf = fast(SparseCEMLPClassifier, warm_start=True).fit(X, y)
    assert isinstance(clf.model_.optimizer, keras.optimizers.Adam)
    clf.set_params(optimizer="SGD").fit(X, y)
    assert isinstance(clf.model_.optimizer, keras.optimizers.SGD)
    assert clf.n_iter_ == 5


@pytest.mark.parametrize(
    "name, cls",
    [("SGD", "SGD"), ("Adam", "Adam"), ("RMSprop", "RMSprop"), ("adamw", "AdamW")],
)
def test_optimizer_names_as_keras_takes_them(blobs, name, cls):
    """Optimizer names are accepted in Keras's spellings."""
    X, y = blobs
    clf = fast(SparseCEMLPClassifier, optimizer=name, epochs=1).fit(X, y)
    assert type(clf.model_.optimizer).__name__ == cls


def test_verbose_above_two_prints_a_line_per_epoch(blobs, capsys):
    """verbose=10 is accepted and prints progress, one line per epoch."""
    X, y = blobs
    fast(SparseCEMLPClassifier, epochs=3, verbose=10).fit(X, y)
    out = capsys.readouterr().out
    assert out.count("Epoch ") == 3
    assert "loss" in out


def test_same_initial_network_whatever_the_dtype(Estimator, blobs):
    """One random_state builds one initial network for float32 and float64 X."""
    X, y = blobs
    params = dict(epochs=1, learning_rate=1e-12, random_state=3)
    w32 = fast(Estimator, **params).fit(X.astype(np.float32), y).model_.get_weights()
    w64 = fast(Estimator, **params).fit(X.astype(np.float64), y).model_.get_weights()
    assert w64[0].dtype == np.float64
    for a, b in zip(w32, w64, strict=True):
        assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_float64_on_an_accelerator_warns(blobs, monkeypatch):
    """float64 training on a GPU says how to get float32; float32 says nothing."""
    import warnings

    from skce import _engine

    X, y = blobs
    monkeypatch.setattr(_engine, "accelerator", lambda: "gpu")
    with pytest.warns(UserWarning, match=r"float64 on a GPU.*astype\(np.float32\)"):
        fast(SparseCEMLPClassifier, epochs=1).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        fast(SparseCEMLPClassifier, epochs=1).fit(X.astype(np.float32), y)


@pytest.mark.parametrize(
    "callback",
    [
        lambda tmp: keras.callbacks.EarlyStopping(monitor="val_accuracy", patience=1),
        lambda tmp: keras.callbacks.ReduceLROnPlateau(monitor="accuracy", patience=1),
        lambda tmp: keras.callbacks.ModelCheckpoint(
            str(tmp / "best.keras"), monitor="val_accuracy", save_best_only=True
        ),
    ],
    ids=["EarlyStopping", "ReduceLROnPlateau", "ModelCheckpoint"],
)
def test_callbacks_monitoring_accuracy(blobs, tmp_path, callback):
    """Callbacks that monitor accuracy work as in Keras (higher is better)."""
    X, y = blobs
    user_callback = callback(tmp_path)
    before = dict(vars(user_callback))
    clf = fast(
        SparseCEMLPClassifier,
        epochs=4,
        validation_split=0.2,
        callbacks=[user_callback],
    )
    clf.fit(X, y)
    assert clf.n_iter_ >= 1
    assert vars(user_callback) == before  # the user's instance is unchanged


def test_early_stopping_on_accuracy_keeps_best_epoch(blobs):
    """EarlyStopping(monitor='accuracy') treats higher accuracy as better."""
    X, y = blobs
    stop = keras.callbacks.EarlyStopping(
        monitor="accuracy", patience=0, restore_best_weights=True
    )
    clf = fast(SparseCEMLPClassifier, epochs=40, learning_rate=0.01, callbacks=[stop])
    clf.fit(X, y)
    accuracy = clf.history_["accuracy"]
    # It stops at the first epoch whose accuracy is not higher than the best.
    assert all(b > a for a, b in zip(accuracy[:-2], accuracy[1:-1], strict=True))
    assert accuracy[-1] <= max(accuracy[:-1])


# ----------------------------------------------------------------------
# Mixed precision and top-k


@pytest.mark.parametrize("dtype", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_precision_trains_and_predicts(dtype, blobs):
    """A mixed policy computes in half precision with float32 weights and outputs."""
    X, y = blobs
    X = (X - X.mean(0)) / X.std(0)
    clf = SparseCEMLPClassifier(
        (16,), epochs=40, learning_rate=0.01, random_state=0, dtype=dtype
    ).fit(X, y)
    assert clf.model_.dtype_policy.name == dtype
    assert clf.model_.compute_dtype == dtype.removeprefix("mixed_")
    assert all(w.dtype == np.float32 for w in clf.model_.get_weights())
    proba = clf.predict_proba(X)
    assert proba.dtype == np.float32
    assert_allclose(proba.sum(axis=1), 1, atol=1e-5)
    assert clf.score(X, y) > 0.9
    assert isinstance(clf.model_.optimizer, keras.optimizers.LossScaleOptimizer) == (
        dtype == "mixed_float16"
    )


def test_predict_top_k(blobs):
    """Top-k labels and probabilities agree with predict_proba, best first."""
    X, y = blobs
    labels = np.array(["ant", "bee", "cat"])
    clf = fast(SparseCEMLPClassifier).fit(X, labels[y])
    top, proba = clf.predict_top_k(X, k=2)
    full = clf.predict_proba(X)
    order = np.argsort(-full, axis=1)[:, :2]
    assert top.shape == proba.shape == (len(X), 2)
    assert_array_equal(top, clf.classes_[order])
    assert_allclose(proba, np.take_along_axis(full, order, axis=1), rtol=1e-6)
    assert_array_equal(top[:, 0], clf.predict(X))
    for k in (0, 4, 1.5, True):
        with pytest.raises(ValueError, match="k must be an integer from 1 to"):
            clf.predict_top_k(X, k=k)
