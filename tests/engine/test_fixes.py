"""Workarounds for Keras or TensorFlow internals hold, and their internals exist."""

import keras
import numpy as np
import pytest

from skce import SparseCEClassifier, SparseCEMLPClassifier


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


# The first row of the kernel the builder below draws with random_state=0, at
# Keras 3.15 with TensorFlow 2.21 and with JAX 0.10. Each backend draws its
# own numbers, but each draws them at every version skce allows.
FIRST_KERNEL_ROW = {
    "tensorflow": [0.52177003, -0.24880981, 0.50721433],
    "jax": [-0.69846739, 0.38301304, 0.6282717],
}


def test_one_seed_draws_one_initial_network_at_every_version(blobs):
    """A builder's initial weights for a random_state match current versions."""
    if keras.backend.backend() not in FIRST_KERNEL_ROW:
        pytest.skip("initial weights recorded for TensorFlow and JAX only")
    X, y = blobs
    drawn = []

    def build(n_features_in_, n_classes_):
        inputs = keras.Input((n_features_in_,))
        model = keras.Model(inputs, keras.layers.Dense(n_classes_)(inputs))
        drawn.append(keras.ops.convert_to_numpy(model.weights[0]).copy())
        return model

    SparseCEClassifier(build, epochs=1, random_state=0).fit(X, y)
    expected = FIRST_KERNEL_ROW[keras.backend.backend()]
    np.testing.assert_allclose(drawn[0][0], expected, rtol=1e-6)


def test_jax_draws_in_a_fit_are_those_of_current_jax():
    """A fit's scope makes any JAX draw the bits JAX 0.5 and later draw."""
    if keras.backend.backend() != "jax":
        pytest.skip("the draws scope concerns JAX only")
    import jax

    from skce import _engine
    from skce._engine import _fixes, _xla

    # From JAX 0.5 skce relies on the default; if JAX turns it off again,
    # or draws other bits under it, this fails first.
    before = jax.config.jax_threefry_partitionable
    assert before is (_xla.version() >= _fixes.PARTITIONABLE_DRAWS_SINCE)
    with _engine.precision("float32"):
        drawn = np.asarray(jax.random.uniform(jax.random.PRNGKey(1), (3,)))
    np.testing.assert_allclose(drawn, [0.4386325, 0.5337529, 0.44591832], rtol=1e-6)
    assert jax.config.jax_threefry_partitionable is before


def test_clone_model_keeps_sparse_inputs():
    """A functional model's copy takes sparse input where the model does, and
    a dense one stays dense."""
    from skce._engine._fixes import clone_model

    for sparse in (True, False):
        inputs = keras.Input((5,), sparse=sparse)
        model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
        copied = clone_model(model)
        assert [t.sparse for t in copied.inputs] == [sparse]
        assert [w.shape for w in copied.weights] == [w.shape for w in model.weights]
