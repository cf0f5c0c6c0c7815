"""Fits on two simulated devices against one device, in a fresh process.

Run as ``python -m tests._data_parallel BACKEND``: the devices must be set
up before the backend starts, so ``tests/test_data_parallel.py`` runs this in
a subprocess and reads the JSON it prints last. JAX gets two host devices from
``XLA_FLAGS``, TensorFlow two logical CPUs.
"""

import json
import os
import sys
import tempfile
from pathlib import Path

BACKEND = sys.argv[1]
os.environ["KERAS_BACKEND"] = BACKEND
DUMP = tempfile.mkdtemp()
if BACKEND == "jax":
    # XLA writes each compiled program here, to see what it partitioned.
    os.environ["XLA_FLAGS"] = (
        "--xla_force_host_platform_device_count=2 "
        f"--xla_dump_to={DUMP} --xla_dump_hlo_as_text"
    )
else:
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2
    )

import keras  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

from skce import (  # noqa: E402
    SparseCEClassifier,
    SparseCECNNClassifier,
    SparseCEMLPClassifier,
    SparseCERNNClassifier,
)

X, y = load_digits(return_X_y=True)
X = (X[:600] / 16).astype("float32")
y = y[:600]
rng = np.random.RandomState(0)
weights = rng.uniform(0.2, 3.0, len(y))
tokens = rng.randint(1, 20, size=(300, 12))
# Per-position labels with padding, so that replicas' shares carry
# different weight totals.
positions = (tokens % 5).astype(np.int64)
positions[:, 9:] = -1


def tiny_model(meta):
    # No keras.layers.Dropout: on TensorFlow each replica draws its own masks
    # for it, so it cannot equal the one-device fit (skce's networks use
    # dropout keyed by sample, which does).
    inputs = keras.Input(shape=(meta["n_features_in_"],))
    hidden = keras.layers.Dense(16, activation="tanh")(inputs)
    return keras.Model(inputs, keras.layers.Dense(meta["n_classes_"])(hidden))


# batch_size 33 leaves each device an uneven share and the epoch a short
# last batch.
COMMON = dict(
    epochs=3, n_iter_no_change=None, batch_size=33, random_state=0, alpha=1e-3
)
CASES = {
    "mlp": (SparseCEMLPClassifier(hidden_layer_sizes=(32,), dropout=0.2), X, y),
    "cnn": (SparseCECNNClassifier(filters=(8,), dense_units=(16,)), X, y),
    "custom": (SparseCEClassifier(model=tiny_model), X, y),
    "rnn": (
        SparseCERNNClassifier(
            embedding_dim=8, units=(8,), vocabulary_size=20, ignore_label=-1
        ),
        tokens,
        positions,
    ),
}


def in_force():
    """The backend's own way of asking for data parallelism."""
    if BACKEND == "jax":
        return keras.distribution.DataParallel()
    import tensorflow as tf

    return tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])


def replicas(model) -> int:
    """On how many devices the fitted model's first weight lives."""
    value = model.trainable_variables[0].value
    if BACKEND == "jax":
        return len(value.sharding.device_set)
    return len(getattr(value, "values", [value]))


def proba(clf, data):
    out = clf.predict_proba(data)
    return np.concatenate(out) if isinstance(out, list) else out


results = {}
strategy = in_force()
for name, (template, data, target) in CASES.items():
    sample_weight = weights[: len(data)]
    one = clone(template).set_params(**COMMON).fit(data, target, sample_weight)
    by_param = clone(template).set_params(**COMMON, distribution="data_parallel")
    by_param.fit(data, target, sample_weight)
    with strategy.scope():
        ambient = clone(template).set_params(**COMMON).fit(data, target, sample_weight)
    reference = proba(one, data)
    results[name] = {
        "param_diff": float(np.abs(proba(by_param, data) - reference).max()),
        "ambient_diff": float(np.abs(proba(ambient, data) - reference).max()),
        "loss_diff": float(
            np.abs(np.subtract(by_param.history_["loss"], one.history_["loss"])).max()
        ),
        "one_device": replicas(one.model_),
        "param_devices": replicas(by_param.model_),
        "ambient_devices": replicas(ambient.model_),
    }
if BACKEND == "jax":
    # The training steps were partitioned over the devices: XLA inserted the
    # gradient sums between them.
    programs = [
        p
        for p in Path(DUMP).glob("*after_optimizations.txt")
        if "jit_epoch" in p.name or "jit_batch" in p.name
    ]
    results["all_reduce"] = any("all-reduce" in p.read_text() for p in programs)
# Clones inside a search share the strategy instance they were given.
shared = SparseCEMLPClassifier(hidden_layer_sizes=(8,), distribution=strategy)
results["clone_shares_instance"] = clone(shared).distribution is strategy
print(json.dumps(results))
