"""SampleKeyedDropout: masks from integer hashing, reproducible on any path."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from skce import SparseCECNNClassifier, SparseCEMLPClassifier
from skce._engine import sample_keys
from skce._layers import SampleKeyedDropout

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _masks(rate, keys, steps, units=256, seed=0):
    """Keep masks, shape (len(steps), len(keys), units), as numpy booleans."""
    layer = SampleKeyedDropout(rate, seed=seed)
    layer.build((None, units))
    keys = keras.ops.convert_to_tensor(np.asarray(keys, dtype=np.int32))
    return np.stack(
        [
            keras.ops.convert_to_numpy(
                layer.keep_mask(keys, keras.ops.convert_to_tensor(s, "int32"))
            )
            for s in steps
        ]
    )


@pytest.mark.parametrize("rate", [0.1, 0.25, 0.5])
def test_keep_rate(rate):
    """Each unit is kept with probability 1 - rate."""
    keys = np.random.RandomState(0).randint(-(2**31), 2**31 - 1, 2000)
    masks = _masks(rate, keys, steps=range(4))
    assert masks.mean() == pytest.approx(1 - rate, abs=0.003)
    # Every unit and every sample, not just the average, keeps about 1 - rate.
    assert np.abs(masks.mean(axis=(0, 1)) - (1 - rate)).max() < 0.06
    assert np.abs(masks.mean(axis=(0, 2)) - (1 - rate)).max() < 0.2


@pytest.mark.parametrize("axis", ["unit", "step", "sample"])
def test_masks_are_independent(axis):
    """Neighbouring units, steps and (consecutive) keys agree only by chance."""
    rate = 0.25
    chance = rate**2 + (1 - rate) ** 2
    keys = np.arange(1000)  # consecutive keys: the hardest case for a hash
    masks = _masks(rate, keys, steps=range(6))
    if axis == "unit":
        a, b = masks[..., :-1], masks[..., 1:]
    elif axis == "step":
        a, b = masks[:-1], masks[1:]
    else:
        a, b = masks[:, :-1], masks[:, 1:]
    agreement = np.mean(a == b)
    assert agreement == pytest.approx(chance, abs=0.005)
    corr = np.corrcoef(a.ravel().astype(float), b.ravel().astype(float))[0, 1]
    assert abs(corr) < 0.01


def test_same_key_same_mask_other_seed_other_mask():
    """A mask is a function of (seed, key, step, unit) and nothing else."""
    same = _masks(0.5, [7, 7, 7], steps=[3])
    assert_array_equal(same[0, 0], same[0, 1])
    assert_array_equal(same[0, 0], same[0, 2])
    other_seed = _masks(0.5, [7], steps=[3], seed=1)
    assert np.mean(same[0, 0] != other_seed[0, 0]) > 0.3


def test_layer_uses_published_keys_and_counts_steps():
    """In training the layer masks by the published keys and advances its step."""
    layer = SampleKeyedDropout(0.5, seed=3)
    x = np.ones((4, 64), dtype="float32")
    keys = np.array([5, 5, 9, 9], dtype=np.int32)
    with sample_keys(keras.ops.convert_to_tensor(keys)):
        first = keras.ops.convert_to_numpy(layer(x, training=True))
        second = keras.ops.convert_to_numpy(layer(x, training=True))
    assert_array_equal(first[0], first[1])
    assert_array_equal(first[2], first[3])
    assert not np.array_equal(first[0], first[2])
    assert not np.array_equal(first, second)
    assert set(np.unique(first)) <= {0.0, 2.0}
    assert int(keras.ops.convert_to_numpy(layer.step)) == 2
    assert_array_equal(keras.ops.convert_to_numpy(layer(x, training=False)), x)


_MASKS_SCRIPT = """
import json, sys
import numpy as np, keras
sys.path.insert(0, {root!r})
from skce._layers import SampleKeyedDropout
layer = SampleKeyedDropout(0.3, seed=11)
layer.build((None, 97))
keys = keras.ops.convert_to_tensor(np.arange(-50, 50, dtype=np.int32) * 7919)
mask = layer.keep_mask(keys, keras.ops.convert_to_tensor(12345, "int32"))
print(json.dumps(np.packbits(keras.ops.convert_to_numpy(mask)).tolist()))
"""


def _masks_in(backend):
    env = {**os.environ, "KERAS_BACKEND": backend}
    script = _MASKS_SCRIPT.format(root=ROOT)
    out = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_masks_equal_across_backends():
    """TensorFlow and JAX draw bit-identical masks from the same integers."""
    pytest.importorskip("jax")
    pytest.importorskip("tensorflow")
    assert _masks_in("tensorflow") == _masks_in("jax")


class _EveryBatch(keras.callbacks.Callback):
    """A callback with a batch hook, which makes skce step batch by batch."""

    def on_train_batch_end(self, batch, logs=None):
        pass


def test_compiled_and_stepped_paths_draw_the_same_masks(blobs):
    """Dropout trains identically as compiled epochs and as single steps."""
    X, y = blobs
    params = dict(dropout=0.5, epochs=4, batch_size=16, random_state=0)
    compiled = SparseCEMLPClassifier(**params).fit(X, y)
    stepped = SparseCEMLPClassifier(callbacks=[_EveryBatch()], **params).fit(X, y)
    assert_allclose(
        compiled.predict_proba(X), stepped.predict_proba(X), rtol=1e-9, atol=1e-12
    )


_THREADS_SCRIPT = """
import hashlib, json, os, sys
threads = int(os.environ["SKCE_TEST_THREADS"])
import keras
if keras.backend.backend() == "tensorflow":
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
import numpy as np
sys.path.insert(0, {root!r})
from sklearn.datasets import load_digits
from skce import SparseCECNNClassifier, SparseCEMLPClassifier
from skce._layers import SampleKeyedDropout

def digest(arrays):
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()

initial = {{}}

class Initial(keras.callbacks.Callback):  # skce trains a copy of it
    def on_train_begin(self, logs=None):
        initial["weights"] = digest(self.model.get_weights())

X, y = load_digits(return_X_y=True)
X = (X[:600] / 16).astype(np.float32)
y = y[:600]
layer = SampleKeyedDropout(0.5, seed=0)
layer.build((None, 256))
keys = keras.ops.convert_to_tensor(np.arange(-500, 500, dtype=np.int32))
masks = [
    keras.ops.convert_to_numpy(layer.keep_mask(keys, keras.ops.convert_to_tensor(s)))
    for s in range(3)
]
out = {{"masks": digest(masks)}}
for name, clf in (
    ("mlp", SparseCEMLPClassifier((64,), dropout=0.2, epochs=20, batch_size=32)),
    ("cnn", SparseCECNNClassifier(epochs=4, batch_size=32)),
):
    clf.set_params(random_state=0, callbacks=[Initial()], n_iter_no_change=None)
    proba = clf.fit(X, y).predict_proba(X)
    out[name] = {{"initial": initial["weights"], "proba": proba.tolist()}}
print(json.dumps(out))
"""


def _thread_env(threads: int) -> dict:
    """Environment that runs the backend's CPU kernels on ``threads`` threads.

    TensorFlow takes its pool sizes in the script; XLA (JAX) reads its flags.
    OMP_NUM_THREADS alone changes nothing on JAX.
    """
    env = {**os.environ, "SKCE_TEST_THREADS": str(threads)}
    env["XLA_FLAGS"] = (
        "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
        if threads == 1
        else f"--xla_cpu_multi_thread_eigen=true intra_op_parallelism_threads={threads}"
    )
    return env


def _run_with_threads(threads: int) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", _THREADS_SCRIPT.format(root=ROOT)],
        env=_thread_env(threads),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.skipif(keras.backend.backend() == "torch", reason="TF and JAX threads")
def test_what_one_and_two_threads_share():
    """Across 1 and 2 threads: masks and initial weights identical, a rerun on
    one thread bit-identical, TensorFlow's MLP exact, the CNN close (float32
    kernels round differently per thread count, and training amplifies it)."""
    one, again, two = _run_with_threads(1), _run_with_threads(1), _run_with_threads(2)
    assert one == again
    assert one["masks"] == two["masks"]
    for name in ("mlp", "cnn"):
        assert one[name]["initial"] == two[name]["initial"]
    if keras.backend.backend() == "tensorflow":
        assert one["mlp"]["proba"] == two["mlp"]["proba"]
    cnn_one, cnn_two = (np.array(r["cnn"]["proba"]) for r in (one, two))
    agreement = np.mean(cnn_one.argmax(1) == cnn_two.argmax(1))
    assert agreement > 0.95


def test_weighted_sample_equals_repeated_rows_with_dropout(blobs):
    """With dropout on, weight 2 trains like a row given twice in one batch."""
    X, y = blobs
    X = X.astype(np.float64)
    w = np.ones(len(y))
    w[:10] = 2
    X_rep = np.concatenate([X, X[:10]])
    y_rep = np.concatenate([y, y[:10]])
    params = dict(
        hidden_layer_sizes=(16,),
        dropout=0.5,
        epochs=5,
        batch_size=1000,
        shuffle=False,
        random_state=0,
    )
    weighted = SparseCEMLPClassifier(**params).fit(X, y, sample_weight=w)
    repeated = SparseCEMLPClassifier(**params).fit(X_rep, y_rep)
    assert_allclose(weighted.predict_proba(X), repeated.predict_proba(X), rtol=1e-7)


def test_cnn_default_has_keyed_dropout():
    """The default CNN's dropout is the keyed one (and it reproduces)."""
    X = np.random.RandomState(0).rand(40, 64)
    y = np.arange(40) % 2
    a = SparseCECNNClassifier(epochs=2, random_state=0).fit(X, y)
    b = SparseCECNNClassifier(epochs=2, random_state=0).fit(X, y)
    assert any(isinstance(layer, SampleKeyedDropout) for layer in a.model_.layers)
    assert_array_equal(a.predict_proba(X), b.predict_proba(X))


def test_mlp_initializers_start_where_the_last_draw_stopped():
    """A network's MLPUniform initializers, drawn in order, each continue the
    stream where the one before stopped (no skipping of earlier values
    again); the values are those of one RandomState drawn from the start,
    and only a few such places are kept."""
    from skce import _layers

    kernel, bias = _layers.MLPUniform(0.5, 3, 0), _layers.MLPUniform(0.5, 3, 20)
    _layers._STREAM_STATES.clear()
    drawn = [keras.ops.convert_to_numpy(kernel((4, 5))).ravel()]
    assert list(_layers._STREAM_STATES) == [(3, 20)]
    drawn.append(keras.ops.convert_to_numpy(bias((5,))))
    assert (3, 25) in _layers._STREAM_STATES
    expected = np.random.RandomState(3).uniform(-0.5, 0.5, 25).astype(np.float32)
    assert_array_equal(np.concatenate(drawn), expected)
    _layers._STREAM_STATES.clear()  # Drawn alone, the bias skips 20 values.
    assert_array_equal(keras.ops.convert_to_numpy(bias((5,))), expected[20:])
    for seed in range(2 * _layers._KEPT_STATES):
        _layers.MLPUniform(0.5, seed)((2,))
    assert len(_layers._STREAM_STATES) == _layers._KEPT_STATES
