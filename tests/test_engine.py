"""The training engine agrees with Keras and honours callbacks."""

import importlib

import keras
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from skce import SparseCEClassifier, SparseCEMLPClassifier


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


def test_epoch_callbacks_and_history(blobs):
    """History has one entry per epoch; val_* appear with validation data."""
    X, y = blobs
    clf = SparseCEMLPClassifier(epochs=6, validation_split=0.2, random_state=0)
    clf.fit(X, y)
    assert set(clf.history_) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(v) == 6 for v in clf.history_.values())
    assert clf.history_["loss"][-1] < clf.history_["loss"][0]


def test_validation_data_is_scored(blobs):
    """validation_data gives val_accuracy equal to score on that data."""
    X, y = blobs
    clf = SparseCEMLPClassifier(epochs=5, random_state=0)
    clf.fit(X[:60], y[:60], validation_data=(X[60:], y[60:]))
    assert clf.history_["val_accuracy"][-1] == pytest.approx(clf.score(X[60:], y[60:]))


def test_early_stopping_stops(blobs):
    """early_stopping ends training once the loss stops improving."""
    X, y = blobs
    clf = SparseCEMLPClassifier(
        epochs=500,
        early_stopping=True,
        n_iter_no_change=2,
        validation_split=0.2,
        learning_rate=0.1,
        random_state=0,
    ).fit(X, y)
    assert clf.n_iter_ < 500


def test_loss_is_weighted_mean(blobs):
    """The reported loss is sum(w * ce) / sum(w), with no penalty (alpha=0)."""
    X, y = blobs
    w = np.linspace(0.5, 2.0, len(y))
    clf = SparseCEMLPClassifier(
        epochs=1,
        batch_size=len(X),
        alpha=0.0,
        shuffle=False,
        random_state=0,
        learning_rate=1e-12,
    ).fit(X, y, sample_weight=w)
    proba = clf.predict_proba(X)
    expected = np.sum(w * -np.log(proba[np.arange(len(y)), y])) / w.sum()
    assert clf.history_["loss"][0] == pytest.approx(expected, rel=1e-6)


def test_fitted_models_are_freed(blobs):
    """Refits release the previous Keras models (no growth over a search)."""
    import gc
    import weakref

    X, y = blobs
    refs = []
    for seed in range(3):
        clf = SparseCEMLPClassifier((8,), epochs=2, random_state=seed).fit(X, y)
        clf.predict_proba(X)
        refs.append(weakref.ref(clf.model_))
        del clf
    gc.collect()
    assert all(ref() is None for ref in refs)


def test_tensorflow_optimizer_bypass_is_contained(blobs):
    """The merge-call bypass relies on two Keras methods and outlives no fit."""
    if keras.backend.backend() != "tensorflow":
        pytest.skip("the bypass exists on the TensorFlow backend only")
    from keras.src.backend.tensorflow.optimizer import TFOptimizer
    from keras.src.optimizers.base_optimizer import BaseOptimizer

    # If Keras renames either private method, skce's TensorFlow trainer must be
    # revisited: this fails first, loudly.
    assert callable(BaseOptimizer._backend_update_step)
    assert "_backend_update_step" in vars(TFOptimizer)
    X, y = blobs
    clf = SparseCEMLPClassifier((8,), epochs=2, random_state=0).fit(X, y)
    assert "_backend_update_step" not in vars(clf.model_.optimizer)
    clf.set_params(warm_start=True).fit(X, y)
    assert "_backend_update_step" not in vars(clf.model_.optimizer)

    # skce's own networks train a private copy; a model that cannot be keyed
    # or copied trains itself, so its own optimizer is patched for the fit.
    class Unkeyed(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(3)

        def call(self, x):
            return self.dense(x)

        def get_config(self):
            raise NotImplementedError("no config")

    class Patched(keras.callbacks.Callback):
        seen = []

        def on_epoch_end(self, epoch, logs=None):
            self.seen.append("_backend_update_step" in vars(self.model.optimizer))

    clf = SparseCEClassifier(Unkeyed, epochs=2, callbacks=[Patched()]).fit(X, y)
    assert Patched.seen == [True, True]
    assert "_backend_update_step" not in vars(clf.model_.optimizer)


def test_keras_seed_draws_are_redirected_for_a_build():
    """Keras's default seeds come from the stream skce swaps in for a build."""
    import random

    from keras.src.random import seed_generator

    from skce import _engine

    # If Keras moves or renames the module reference its default seeds are
    # drawn from, skce's build seeding must be revisited: this fails first.
    assert seed_generator.python_random is random
    with _engine.python_random(7):
        drawn = seed_generator.make_default_seed()
    assert drawn == random.Random(7).randint(1, int(1e9))
    assert seed_generator.python_random is random


def _unseeded_network(meta):
    inputs = keras.Input(shape=(meta["n_features_in_"],))
    hidden = keras.layers.Dense(16, activation="relu")(inputs)
    hidden = keras.layers.Dropout(0.2)(hidden)
    return keras.Model(inputs, keras.layers.Dense(meta["n_classes_"])(hidden))


def test_unseeded_builder_reproduces_while_another_thread_draws(blobs):
    """Another thread drawing from ``random`` does not change a build's seeds."""
    import random
    import threading

    X, y = blobs

    def weights():
        clf = SparseCEClassifier(
            model=_unseeded_network, epochs=2, n_iter_no_change=None, random_state=3
        ).fit(X, y)
        return [w.copy() for w in clf.model_.get_weights()]

    quiet = weights()
    stop = threading.Event()

    def draw():
        while not stop.is_set():
            random.random()

    thread = threading.Thread(target=draw, daemon=True)
    thread.start()
    try:
        busy = [weights() for _ in range(3)]
    finally:
        stop.set()
        thread.join()
    for run in busy:
        for a, b in zip(quiet, run, strict=True):
            np.testing.assert_array_equal(a, b)


def test_models_of_one_network_share_their_compiled_inference(blobs):
    """skce's own networks predict through one compiled function per network
    and output (weights as its arguments), each with its own weights."""
    from skce._engine import _forward

    if keras.backend.backend() == "torch":
        pytest.skip("PyTorch runs inference eagerly")
    X, y = blobs
    X = X.astype(np.float32)
    _forward._SHARED_FORWARD.clear()
    first = SparseCEMLPClassifier((8,), epochs=2, random_state=0).fit(X, y)
    proba = first.predict_proba(X)
    assert len(_forward._SHARED_FORWARD) == 1
    second = SparseCEMLPClassifier((8,), epochs=2, random_state=1).fit(X, y)
    other = second.predict_proba(X)
    assert len(_forward._SHARED_FORWARD) == 1
    assert not np.allclose(proba, other)
    for clf, expected in ((first, proba), (second, other)):
        direct = keras.ops.softmax(clf.model_(X, training=False))
        assert_allclose(keras.ops.convert_to_numpy(direct), expected, rtol=1e-5)


def test_hits_take_the_first_largest_output_as_argmax_does():
    """The training accuracy's prediction is argmax's, ties included."""
    from skce._engine._loss import _first_max

    out = np.array(
        [[0.0, 0.0, 0.0], [1.0, 3.0, 3.0], [-1.0, 0.5, 0.5], [2.0, -1.0, 2.0]],
        dtype="float32",
    )
    sequences = np.stack([out, out[::-1]], axis=1)  # (4, 2, 3): per position
    for values in (out, sequences):
        got = _first_max(keras.ops.convert_to_tensor(values))
        assert_array_equal(keras.ops.convert_to_numpy(got), values.argmax(-1))


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


def test_small_networks_train_on_the_single_threaded_executor(blobs, monkeypatch):
    """On TensorFlow's CPU a small network's epochs run on the single-threaded
    executor (faster for its many small operations), to the same weights."""
    if keras.backend.backend() != "tensorflow":
        pytest.skip("TensorFlow's executors")
    from skce._engine import _tensorflow as engine

    X, y = blobs
    X = X.astype(np.float32)

    def fit(hidden=(8,)):
        engine._EPOCH_CACHE.clear()
        clf = SparseCEMLPClassifier(hidden, epochs=3, random_state=0).fit(X, y)
        (key,) = list(engine._EPOCH_CACHE)
        return clf, key[-1]

    small, executor = fit()
    assert executor == engine.SINGLE_THREADED
    assert fit((8192,))[1] == ""  # 65,563 weights x 90 rows > SMALL_STEP
    monkeypatch.setattr(engine, "SMALL_STEP", 0)
    default, executor = fit()
    assert executor == ""
    for a, b in zip(
        small.model_.get_weights(), default.model_.get_weights(), strict=True
    ):
        assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    # Images and token ids keep the default executor whatever their size.
    model, optimizer = small.model_, small.model_.optimizer
    for x in (np.zeros((2, 4, 4, 1)), np.zeros((2, 4), int)):
        assert engine._executor_for(model, optimizer, x, 1, own_network=True) == ""
    # So do a user's network, and an optimizer skce does not name.
    x = np.zeros((2, 4), np.float32)
    assert engine._executor_for(model, optimizer, x, 1, own_network=False) == ""
    scaled = keras.optimizers.LossScaleOptimizer(optimizer)
    assert engine._executor_for(model, scaled, x, 1, own_network=True) == ""


def test_single_threaded_epochs_run_on_one_thread(blobs):
    """A small network's epoch really runs on the single-threaded executor:
    four independent branches per step all run on one thread, where
    TensorFlow's default executor spreads them over its thread pool."""
    if keras.backend.backend() != "tensorflow":
        pytest.skip("TensorFlow's executors")
    import threading
    import time

    import tensorflow as tf

    from skce import _engine
    from skce._engine import _tensorflow as engine

    threads = []

    def record(x):
        threads.append(threading.get_ident())
        time.sleep(0.002)  # releases the GIL: a pool would run a sibling now
        return x

    class Branches(keras.layers.Layer):
        def call(self, x):
            parts = [
                tf.ensure_shape(tf.py_function(record, [x * (i + 1)], x.dtype), x.shape)
                for i in range(4)
            ]
            return tf.add_n(parts)

    X, y = blobs
    X = X.astype(np.float32)
    inputs = keras.Input((X.shape[1],))
    out = keras.layers.Dense(3)(Branches()(keras.layers.Dense(4)(inputs)))
    model = keras.Model(inputs, out)
    optimizer = keras.optimizers.Adam()
    optimizer.build(model.trainable_variables)
    loss = _engine.SparseCELoss(from_logits=True, alpha=0.0, kernel_index=())
    data = (
        X,
        y.astype(np.int32),
        np.ones(len(X), np.float32),
        np.zeros(len(X), np.int32),
    )
    engine._EPOCH_CACHE.clear()
    with _engine.make_trainer(model, optimizer, loss, data, 10, ("branches",)) as t:
        assert t._executor == engine.SINGLE_THREADED
        t.epoch_on(t._device_data, np.arange(len(X)))
    assert len(threads) == 4 * 9 and len(set(threads)) == 1
    if tf.config.threading.get_inter_op_parallelism_threads() == 1:
        return  # a pool of one thread: nothing to contrast the executor with
    threads.clear()
    with _engine.make_trainer(model, optimizer, loss, data, 10, None) as t:
        assert t._executor == ""
        t.epoch_on(t._device_data, np.arange(len(X)))
    assert len(set(threads)) > 1


# ----------------------------------------------------------------------
# Sequence outputs: (batch, T, n_classes) against (batch, T) labels


def _sequence_data():
    rng = np.random.RandomState(0)
    X = rng.randint(1, 9, (64, 12))
    return X, (X + np.roll(X, 1, axis=1)) % 5


def _build_lstm(n_classes_, vocabulary_size_, input_shape):
    inputs = keras.Input(input_shape, dtype="int32")
    x = keras.layers.Embedding(
        vocabulary_size_,
        8,
        embeddings_initializer=keras.initializers.RandomUniform(seed=1),
    )(inputs)
    x = keras.layers.LSTM(
        16,
        return_sequences=True,
        kernel_initializer=keras.initializers.GlorotUniform(2),
        recurrent_initializer=keras.initializers.Orthogonal(seed=3),
    )(x)
    out = keras.layers.Dense(
        n_classes_, kernel_initializer=keras.initializers.GlorotUniform(4)
    )(x)
    return keras.Model(inputs, out)


def test_sequence_fast_path_matches_keras_fit():
    """Compiled epochs of an LSTM on per-timestep labels reach Keras fit's weights."""
    X, y = _sequence_data()
    clf = SparseCEClassifier(
        _build_lstm,
        epochs=5,
        batch_size=16,
        shuffle=False,
        optimizer=keras.optimizers.SGD(learning_rate=0.1, momentum=0.9),
        dtype="float32",
    ).fit(X, y)
    reference = _build_lstm(5, 9, (12,))
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

    X, y = _sequence_data()
    params = dict(units=(8,), epochs=3, batch_size=16, dropout=0.2, random_state=0)
    hooked = SparseCERNNClassifier(callbacks=[_BatchRecorder([])], **params).fit(X, y)
    plain = SparseCERNNClassifier(**params).fit(X, y)
    assert_allclose(
        np.stack(hooked.predict_proba(X)), np.stack(plain.predict_proba(X)), rtol=1e-6
    )


def test_sequence_predictions_are_computed_in_chunks(monkeypatch):
    """Chunks of a few rows give exactly the predictions of one whole call."""
    from skce import SparseCERNNClassifier, _engine
    from skce._engine import _forward

    X, y = _sequence_data()
    clf = SparseCERNNClassifier(units=(8,), epochs=1, random_state=0).fit(X, y)
    whole = np.stack(clf.predict_proba(X))
    labels = clf.predict(X)
    # 12 timesteps x 5 classes = 60 values a row: chunks of 4 rows.
    monkeypatch.setattr(_forward, "CHUNK_VALUES", 250)
    assert _engine.chunk_rows(60) == 4
    chunked = clf.predict_proba(X)
    assert chunked[0].base.shape == (64, 12, 5)
    assert_allclose(np.stack(chunked), whole, rtol=1e-6)
    assert_array_equal(clf.predict(X), labels)


@pytest.mark.parametrize(
    "values_per_row, rows",
    [(3, 1024), (60, 1024), (6500, 512), (25600, 128), (10**8, 1)],
)
def test_chunk_rows(values_per_row, rows):
    """Rows per chunk: a power of two, at most 1024, about 4M output values."""
    from skce._engine import chunk_rows

    assert chunk_rows(values_per_row) == rows


@pytest.mark.parametrize("from_logits", [True, False])
@pytest.mark.parametrize("shape", [(4, 6), (4, 7, 6)], ids=["1-D", "per-position"])
def test_sparse_crossentropy_matches_keras(from_logits, shape):
    """skce's crossentropy equals Keras's sparse crossentropy, without a one-hot.

    Both of its forms: the formula at each label's entry, and what the active
    backend runs (TensorFlow's fused kernel, for logits on TensorFlow).
    """
    from skce._engine._loss import crossentropy_at_labels, sparse_crossentropy

    rng = np.random.RandomState(0)
    out = rng.randn(*shape).astype("float32")
    if not from_logits:
        out = np.exp(out) / np.exp(out).sum(-1, keepdims=True)
    y = rng.randint(0, 6, shape[:-1]).astype("int32")
    theirs = keras.losses.sparse_categorical_crossentropy(
        y, out, from_logits=from_logits
    )
    for form in (sparse_crossentropy, crossentropy_at_labels):
        ours = form(
            keras.ops.convert_to_tensor(y),
            keras.ops.convert_to_tensor(out),
            from_logits,
        )
        assert_allclose(
            keras.ops.convert_to_numpy(ours),
            keras.ops.convert_to_numpy(theirs),
            rtol=1e-5,
        )


def test_sequence_adam_matches_keras_fit_on_jax():
    """With Adam and an Embedding, skce's epochs are Keras fit's, step for step.

    On TensorFlow Keras's own fit differs: see the next test.
    """
    if keras.backend.backend() != "jax":
        pytest.skip("Keras fit runs standard Adam on embeddings on JAX only")
    X, y = _sequence_data()
    params = dict(epochs=2, batch_size=16, shuffle=False, dtype="float32")
    clf = SparseCEClassifier(
        _build_lstm, optimizer=keras.optimizers.Adam(0.01), **params
    ).fit(X, y)
    reference = _build_lstm(5, 9, (12,))
    reference.compile(
        optimizer=keras.optimizers.Adam(0.01),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    reference.fit(X, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    for ours, theirs in zip(
        clf.model_.get_weights(), reference.get_weights(), strict=True
    ):
        assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)


def test_keras_tensorflow_optimizers_square_embedding_slices_one_by_one():
    """Why skce sums an Embedding's gradient slices on TensorFlow before Adam.

    Keras's TensorFlow optimizers square a tf.IndexedSlices gradient slice by
    slice, so a token seen twice in a batch adds g**2 + g**2 to Adam's second
    moment instead of (2 g)**2. If this starts failing, Keras has changed: the
    summing in skce/_engine/_tensorflow.py may then be unnecessary.
    """
    if keras.backend.backend() != "tensorflow":
        pytest.skip("tf.IndexedSlices exist on the TensorFlow backend only")
    import tensorflow as tf

    from skce._engine._tensorflow import _summed

    def second_moment(gradient):
        variable = keras.Variable(np.zeros((3, 2), dtype="float32"))
        optimizer = keras.optimizers.Adam(beta_2=0.5)
        optimizer.build([variable])
        optimizer.apply([gradient], [variable])
        # Adam's second moments are private; read the one of this variable.
        return keras.ops.convert_to_numpy(optimizer._velocities[0])[0, 0]

    twice = tf.IndexedSlices(
        tf.ones((2, 2)), tf.constant([0, 0]), dense_shape=tf.constant([3, 2])
    )
    assert second_moment(twice) == pytest.approx(0.5 * (1 + 1))  # Keras
    assert second_moment(_summed(twice)) == pytest.approx(0.5 * 2**2)  # skce
