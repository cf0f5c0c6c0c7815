"""The trainers: compiled epochs agree with Keras fit, step by step and reused."""

import importlib

import keras
import numpy as np
import pytest
from numpy.testing import assert_allclose

from skce import SparseCEClassifier, SparseCEMLPClassifier
from tests._helpers import build_lstm, sequence_data


def _build(n_features_in_, n_classes_):
    inputs = keras.Input((n_features_in_,))
    hidden = keras.layers.Dense(
        8, activation="tanh", kernel_initializer=keras.initializers.GlorotUniform(1)
    )(inputs)
    out = keras.layers.Dense(
        n_classes_, kernel_initializer=keras.initializers.GlorotUniform(2)
    )(hidden)
    return keras.Model(inputs, out)


@pytest.mark.parametrize(
    "optimizer",
    [
        {"class_name": "SGD", "config": {"learning_rate": 0.05, "momentum": 0.9}},
        # Nadam updates state of its own once per step, besides each weight's.
        {"class_name": "Nadam", "config": {"learning_rate": 0.01}},
    ],
    ids=["SGD", "Nadam"],
)
@pytest.mark.usefixtures("current_jax_draws")
def test_fast_path_matches_keras_fit(blobs, optimizer):
    """Compiled epochs reach the weights Keras's own fit reaches."""
    X, y = blobs
    X = (X - X.mean(0)) / X.std(0)
    clf = SparseCEClassifier(
        _build,
        epochs=15,
        batch_size=16,
        shuffle=False,
        optimizer=keras.optimizers.deserialize(optimizer),
        dtype="float32",
    ).fit(X.astype("float32"), y)
    reference = _build(4, 3)
    reference.compile(
        optimizer=keras.optimizers.deserialize(optimizer),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    reference.fit(
        X.astype("float32"), y, batch_size=16, epochs=15, shuffle=False, verbose=0
    )
    for ours, theirs in zip(
        clf.model_.get_weights(), reference.get_weights(), strict=True
    ):
        assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)
    # skce's own network with the named optimizer trains as well.
    name = optimizer["class_name"]
    mlp = SparseCEMLPClassifier((8,), epochs=5, optimizer=name, random_state=0)
    assert np.isfinite(mlp.fit(X, y).history_["loss"]).all()


class _BatchRecorder(keras.callbacks.Callback):
    """Records (epoch, step) of every batch hook into a list it shares."""

    def __init__(self, calls):
        super().__init__()
        self.calls = calls  # copies of the callback share this list
        self.epoch = None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        self.calls.append((self.epoch, batch, float(logs["loss"])))


def test_batch_hooks_run_step_by_step_with_same_result(blobs):
    """A batch-hook callback is called at every step, and training is unchanged."""
    X, y = blobs
    calls = []
    recorder = _BatchRecorder(calls)
    params = dict(epochs=4, batch_size=32, n_iter_no_change=None, random_state=0)
    hooked = SparseCEMLPClassifier(callbacks=[recorder], **params).fit(X, y)
    plain = SparseCEMLPClassifier(**params).fit(X, y)
    assert_allclose(hooked.predict_proba(X), plain.predict_proba(X), rtol=1e-10)
    # 90 samples in batches of 32: three steps in each of four epochs.
    assert [(e, b) for e, b, _ in calls] == [(e, b) for e in range(4) for b in range(3)]
    assert all(np.isfinite(loss) for _, _, loss in calls)
    # The callback was copied for the fit: the user's instance never ran.
    assert recorder.epoch is None


def _tracing_count(compiled) -> int:
    """How often a cached TensorFlow epoch and step were traced (0 elsewhere)."""
    functions = (getattr(compiled, "epoch", None), getattr(compiled, "batch", None))
    return sum(
        f.experimental_get_tracing_count()
        for f in functions
        if hasattr(f, "experimental_get_tracing_count")
    )


def test_reused_trace_gives_the_weights_of_a_fresh_one(blobs):
    """A fit that reuses another fit's compiled epoch trains to the same weights."""
    from skce import _engine

    module = importlib.import_module(type(_engine.active()).__module__)
    cache = getattr(module, "_EPOCH_CACHE", None)
    if cache is None:
        pytest.skip("this backend compiles nothing to reuse")
    X, y = blobs
    X = X.astype(np.float32)

    def fit(learning_rate, seed):
        clf = SparseCEMLPClassifier(
            (8,), dropout=0.3, epochs=3, learning_rate=learning_rate, random_state=seed
        )
        return clf.fit(X, y).model_.get_weights()

    cache.clear()
    fresh = fit(0.01, 1)
    cache.clear()
    fit(0.5, 0)  # compiles the epoch for another seed and learning rate
    (compiled,) = cache.values()
    traces = _tracing_count(compiled)
    reused = fit(0.01, 1)
    # The same compiled epoch ran, and nothing was traced again: a fresh
    # trace stored under the same key would leave one entry all the same.
    (again,) = cache.values()
    assert again is compiled
    assert _tracing_count(again) == traces
    for a, b in zip(fresh, reused, strict=True):
        assert_allclose(a, b, rtol=1e-6, atol=1e-7)


@pytest.mark.usefixtures("current_jax_draws")
def test_sequence_fast_path_matches_keras_fit():
    """Compiled epochs of an LSTM on per-timestep labels reach Keras fit's weights."""
    X, y = sequence_data()
    clf = SparseCEClassifier(
        build_lstm,
        epochs=5,
        batch_size=16,
        shuffle=False,
        optimizer=keras.optimizers.SGD(learning_rate=0.1, momentum=0.9),
        dtype="float32",
    ).fit(X, y)
    reference = build_lstm(5, 9, (12,))
    reference.compile(
        optimizer=keras.optimizers.SGD(learning_rate=0.1, momentum=0.9),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    reference.fit(X, y, batch_size=16, epochs=5, shuffle=False, verbose=0)
    for ours, theirs in zip(
        clf.model_.get_weights(), reference.get_weights(), strict=True
    ):
        assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)


def test_sequence_batch_hooks_train_as_compiled_epochs():
    """Stepping batch by batch gives the compiled epoch's per-timestep model."""
    from skce import SparseCERNNClassifier

    X, y = sequence_data()
    params = dict(units=(8,), epochs=3, batch_size=16, dropout=0.2, random_state=0)
    hooked = SparseCERNNClassifier(callbacks=[_BatchRecorder([])], **params).fit(X, y)
    plain = SparseCERNNClassifier(**params).fit(X, y)
    assert_allclose(
        np.stack(hooked.predict_proba(X)), np.stack(plain.predict_proba(X)), rtol=1e-6
    )
