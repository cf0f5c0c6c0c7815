"""Saving and loading estimators: pickle, joblib, deepcopy and skops, no code run."""

import copy
import os
import pickle
import subprocess
import sys
from pathlib import Path

import joblib
import keras
import numpy as np
import pytest
import skops.io as sio
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skce import (
    SparseCEClassifier,
    SparseCEMLPClassifier,
    SparseCERNNClassifier,
)
from skce._persistence import STATE_KEY
from tests._helpers import ESTIMATORS, blobs_of, fast, parametrize_estimators, small


def _joblib(clf, tmp_path):
    joblib.dump(clf, tmp_path / "clf.joblib")
    return joblib.load(tmp_path / "clf.joblib")


def _skops(clf, tmp_path):
    data = sio.dumps(clf)
    return sio.loads(data, trusted=sio.get_untrusted_types(data=data))


ROUND_TRIPS = {
    "pickle": lambda clf, tmp_path: pickle.loads(pickle.dumps(clf)),
    "joblib": _joblib,
    "deepcopy": lambda clf, tmp_path: copy.deepcopy(clf),
    "skops": _skops,
}


def _user_model():
    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(8, activation="relu")(inputs)
    return keras.Model(inputs, keras.layers.Dense(3)(hidden))


def _assert_same(restored, clf, X):
    proba = clf.predict_proba(X)
    again = restored.predict_proba(X)
    assert again.dtype == proba.dtype
    assert_array_equal(again, proba)
    assert_array_equal(restored.predict(X), clf.predict(X))
    assert restored.model_.dtype_policy.name == clf.model_.dtype_policy.name


@pytest.mark.parametrize("trip", ROUND_TRIPS)
def test_round_trip_predicts_identically(Estimator, blobs, trip, tmp_path):
    """Every round trip keeps predictions bit-identical and the float type."""
    X, y = blobs
    clf = fast(Estimator, epochs=2).fit(X, y)
    _assert_same(ROUND_TRIPS[trip](clf, tmp_path), clf, X)


@pytest.mark.parametrize("dtype", ["float64", "mixed_float16", "mixed_bfloat16"])
def test_round_trip_keeps_float_type(blobs, dtype, tmp_path):
    """A float64 or mixed-precision network comes back in its float type."""
    X, y = blobs
    clf = fast(SparseCEMLPClassifier, epochs=2, dtype=dtype).fit(X, y)
    for trip in ROUND_TRIPS.values():
        _assert_same(trip(clf, tmp_path), clf, X)


@pytest.mark.parametrize("dtype", [None, "mixed_float16"])
@pytest.mark.parametrize("trip", ["pickle", "skops"])
def test_training_continues_exactly_after_loading(
    Estimator, blobs, trip, dtype, tmp_path
):
    """partial_fit and warm_start after loading train as without the round trip."""
    X, y = blobs
    clf = fast(Estimator, epochs=2, warm_start=True, dtype=dtype).fit(X, y)
    restored = ROUND_TRIPS[trip](clf, tmp_path)
    iterations = int(keras.ops.convert_to_numpy(clf.model_.optimizer.iterations))
    assert iterations > 0
    assert int(keras.ops.convert_to_numpy(restored.model_.optimizer.iterations)) == (
        iterations
    )
    for est in (clf, restored):
        est.partial_fit(X[:30], y[:30]).fit(X, y)
    _assert_same(restored, clf, X)


@pytest.mark.parametrize("trip", ROUND_TRIPS)
def test_user_model_instance_round_trip(blobs, trip, tmp_path):
    """A user's model instance comes back with its weights and optimizer."""
    X, y = blobs
    clf = fast(SparseCEClassifier, model=_user_model(), epochs=2).fit(X, y)
    restored = ROUND_TRIPS[trip](clf, tmp_path)
    _assert_same(restored, clf, X)
    for est in (clf, restored):
        est.partial_fit(X, y)
    _assert_same(restored, clf, X)


def test_keras_parameters_need_no_keras_types(blobs):
    """A model or optimizer instance given as a parameter asks no trust in Keras."""
    X, y = blobs
    optimizer = keras.optimizers.SGD(learning_rate=0.05, momentum=0.5)
    clf = fast(SparseCEClassifier, model=_user_model(), optimizer=optimizer, epochs=2)
    data = sio.dumps(clf.fit(X, y))
    assert sio.get_untrusted_types(data=data) == ["skce._classifier.SparseCEClassifier"]
    restored = sio.loads(data, trusted=["skce._classifier.SparseCEClassifier"])
    assert restored.optimizer.get_config() == optimizer.get_config()
    assert isinstance(restored.model, keras.Model)
    for est in (clf, restored):
        est.partial_fit(X, y)
    _assert_same(restored, clf, X)


def test_pipeline_needs_only_skce_types(blobs):
    """A fitted skce Pipeline's skops file asks to trust only skce's estimator."""
    X, y = blobs
    pipe = make_pipeline(StandardScaler(), fast(SparseCEMLPClassifier, epochs=1))
    data = sio.dumps(pipe.fit(X, y))
    assert sio.get_untrusted_types(data=data) == ["skce._mlp.SparseCEMLPClassifier"]
    restored = sio.loads(data, trusted=["skce._mlp.SparseCEMLPClassifier"])
    assert_array_equal(restored.predict_proba(X), pipe.predict_proba(X))


class _Bomb:
    """Creates a file when unpickled."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return open, (self.path, "w")


def _crafted(attribute, value):
    """A skops file of an skce estimator whose state holds ``attribute``."""
    clf = SparseCEMLPClassifier()
    setattr(clf, attribute, value)
    return sio.dumps(clf)


def _lambda_archive(marker, tmp_path):
    """A .keras archive whose Lambda layer creates ``marker`` when it runs."""
    inputs = keras.Input((4,))
    touch = keras.layers.Lambda(lambda x, m=str(marker): x + 0 * len(open(m, "w").name))
    model = keras.Model(inputs, keras.layers.Dense(3)(touch(inputs)))
    marker.unlink()
    keras.saving.save_model(model, tmp_path / "evil.keras")
    return (tmp_path / "evil.keras").read_bytes()


@pytest.mark.parametrize("payload", ["old_pickle", "pickle_archive", "lambda"])
def test_crafted_state_runs_no_code(payload, tmp_path):
    """skops.io.load, skce's types trusted, refuses a pickle or lambda in a state."""
    marker = tmp_path / "ran"
    if payload == "old_pickle":
        data = _crafted("_pickled_model", ("float32", pickle.dumps(_Bomb(marker))))
        match = "saved as a pickle"
    else:
        if payload == "pickle_archive":
            archive, match = pickle.dumps(_Bomb(marker)), "not a .keras archive"
        else:
            archive, match = _lambda_archive(marker, tmp_path), "safe_mode"
        packed = {"dtype_policy": "float32", "archive": archive}
        data = _crafted(STATE_KEY, {"model_": packed})
    trusted = sio.get_untrusted_types(data=data)
    assert trusted == ["skce._mlp.SparseCEMLPClassifier"]
    with pytest.raises(ValueError, match=match):
        sio.loads(data, trusted=trusted)
    assert not marker.exists()


def test_lambda_layer_fails_to_save_with_clear_error(blobs):
    """A network holding a Python lambda fails to pickle, naming the layer."""
    X, y = blobs

    def build():
        inputs = keras.Input((4,))
        doubled = keras.layers.Lambda(lambda x: 2 * x, name="doubling")(inputs)
        return keras.Model(inputs, keras.layers.Dense(3)(doubled))

    clf = fast(SparseCEClassifier, model=build, epochs=1).fit(X, y)
    with pytest.raises(ValueError, match="layer 'doubling' holds a Python lambda"):
        pickle.dumps(clf)


REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def keras_float_settings():
    """Give every test Keras's float settings as they were, whatever it did."""
    floatx, policy = keras.config.floatx(), keras.config.dtype_policy()
    yield
    keras.config.set_floatx(floatx)
    keras.config.set_dtype_policy(policy)


_LOAD_AND_PREDICT = """
import pickle
import sys

import keras
import numpy as np

directory = sys.argv[1]
X = np.load(f"{directory}/X.npy")
for name in sys.argv[2:]:
    with open(f"{directory}/{name}.pkl", "rb") as f:
        clf = pickle.load(f)
    np.save(f"{directory}/{name}-proba.npy", clf.predict_proba(X))
    np.save(f"{directory}/{name}-pred.npy", clf.predict(X))
print(keras.backend.backend())
"""


def test_pickle_loads_in_fresh_process(tmp_path):
    """An estimator pickled here predicts identically in a new interpreter."""
    X, y = blobs_of(3, 10)
    np.save(tmp_path / "X.npy", X)
    expected = {}
    for Estimator in ESTIMATORS:
        clf = small(Estimator).fit(X, y)
        (tmp_path / f"{Estimator.__name__}.pkl").write_bytes(pickle.dumps(clf))
        expected[Estimator.__name__] = clf.predict_proba(X), clf.predict(X)
    backend = keras.backend.backend()
    done = subprocess.run(
        [sys.executable, "-c", _LOAD_AND_PREDICT, str(tmp_path), *expected],
        env={**os.environ, "KERAS_BACKEND": backend},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split()[-1] == backend
    for name, (proba, pred) in expected.items():
        assert_array_equal(np.load(tmp_path / f"{name}-proba.npy"), proba)
        assert_array_equal(np.load(tmp_path / f"{name}-pred.npy"), pred)


@parametrize_estimators
def test_model_saves_as_keras_file(Estimator, tmp_path):
    """model_ saves to .keras and loads back with the same outputs."""
    X, y = blobs_of(3, 10)
    # float32: a float64 model needs x64 mode to run outside skce on JAX.
    X = X.astype(np.float32)
    clf = small(Estimator).fit(X, y)
    x = X.reshape(-1, *clf.image_shape_) if hasattr(clf, "image_shape_") else X
    path = tmp_path / "model.keras"
    clf.model_.save(path)
    loaded = keras.models.load_model(path)
    logits = keras.ops.convert_to_numpy(loaded(x))
    assert_allclose(logits, keras.ops.convert_to_numpy(clf.model_(x)), rtol=1e-6)
    proba = keras.ops.convert_to_numpy(keras.ops.softmax(logits))
    assert_allclose(proba, clf.predict_proba(X), rtol=1e-5, atol=1e-6)


def _mlp_data():
    rng = np.random.RandomState(0)
    X = rng.rand(120, 6).astype(np.float32)
    return X, (X[:, 0] + X[:, 1] > X[:, 2] + 0.5).astype(int)


def _rnn_data():
    rng = np.random.RandomState(0)
    X = rng.randint(1, 6, (120, 8))
    return X, (X + np.roll(X, 1, axis=1)) % 3


CASES = {
    "mlp": (
        lambda **p: SparseCEMLPClassifier(
            (16,), dropout=0.3, batch_size=16, random_state=0, **p
        ),
        _mlp_data,
    ),
    "rnn": (
        lambda **p: SparseCERNNClassifier(
            units=(8,), embedding_dim=4, batch_size=16, random_state=0, **p
        ),
        _rnn_data,
    ),
}


def _proba(clf, X):
    proba = clf.predict_proba(X)
    return np.stack(proba) if isinstance(proba, list) else proba


@pytest.mark.parametrize("case", CASES)
def test_warm_start_after_unpickling_continues_the_same_training(case):
    """A warm-started fit of an unpickled estimator equals one without the trip."""
    make, data = CASES[case]
    X, y = data()
    clf = make(epochs=3, warm_start=True).fit(X, y)
    copy = pickle.loads(pickle.dumps(clf))
    clf.fit(X, y)
    copy.fit(X, y)
    assert_array_equal(_proba(copy, X), _proba(clf, X))
    assert copy.n_iter_ == clf.n_iter_


@pytest.mark.parametrize("case", CASES)
def test_partial_fit_after_unpickling_continues_the_same_training(case):
    """partial_fit on an unpickled estimator equals partial_fit without the trip."""
    make, data = CASES[case]
    X, y = data()
    classes = np.unique(y)
    clf = make().partial_fit(X[:60], y[:60], classes=classes)
    copy = pickle.loads(pickle.dumps(clf))
    for est in (clf, copy):
        est.partial_fit(X[60:], y[60:]).partial_fit(X[:60], y[:60])
    assert_array_equal(_proba(copy, X), _proba(clf, X))
