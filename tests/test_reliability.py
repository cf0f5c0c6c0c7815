"""Properties that hold for any labels and inputs, across threads and processes."""

import os
import pickle
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import make_blobs

from skce import (
    SparseCEClassifier,
    SparseCECNNClassifier,
    SparseCEMLPClassifier,
    SparseCERNNClassifier,
)
from tests.conftest import ESTIMATORS

REPO = Path(__file__).resolve().parents[1]

# Each example is a fit: few examples, no deadline, the same examples every run.
FEW = settings(max_examples=5, deadline=None, derandomize=True)

SMALL = {
    SparseCEClassifier: {},
    SparseCEMLPClassifier: {"hidden_layer_sizes": (8,)},
    SparseCECNNClassifier: {"filters": (4,), "dense_units": (8,)},
    SparseCERNNClassifier: {"units": (8,), "embedding_dim": 4},
}


def small(Estimator, **params):
    """A small seeded network trained for two epochs."""
    return Estimator(**{"epochs": 2, "random_state": 0, **SMALL[Estimator], **params})


def blobs(n_classes, per_class, seed=0):
    """``per_class`` samples of each of ``n_classes`` blobs in four features."""
    X, y = make_blobs(
        n_samples=[per_class] * n_classes, n_features=4, random_state=seed
    )
    return X, y


parametrize_estimators = pytest.mark.parametrize(
    "Estimator", ESTIMATORS, ids=lambda e: e.__name__
)


@pytest.fixture(autouse=True)
def keras_float_settings():
    """Give every test Keras's float settings as they were, whatever it did."""
    floatx, policy = keras.config.floatx(), keras.config.dtype_policy()
    yield
    keras.config.set_floatx(floatx)
    keras.config.set_dtype_policy(policy)


# ----------------------------------------------------------------------
# Labels

_no_nul = st.characters(blacklist_characters="\x00")


def _ints(dtype):
    info = np.iinfo(dtype)
    values = st.lists(
        st.integers(int(info.min), int(info.max)), min_size=2, max_size=4, unique=True
    )
    return values.map(lambda v: np.array(v, dtype=dtype))


LABEL_SETS = st.one_of(
    st.sampled_from(["int8", "uint8", "int16", "uint16", "int32", "int64"]).flatmap(
        _ints
    ),
    st.lists(st.text(_no_nul, max_size=4), min_size=2, max_size=4, unique=True).map(
        np.array
    ),
    st.lists(st.text(_no_nul, max_size=4), min_size=2, max_size=4, unique=True).map(
        lambda v: np.array(v, dtype=object)
    ),
    st.lists(st.integers(-1000, 1000), min_size=2, max_size=4, unique=True).map(
        lambda v: np.array(v, dtype=float)
    ),
)


@parametrize_estimators
@FEW
@given(labels=LABEL_SETS, strided=st.booleans())
def test_predict_returns_labels_of_y(Estimator, labels, strided):
    """Any label set trains, and predict returns labels of classes_ in y's kind."""
    X, index = blobs(len(labels), 6)
    y = labels[index]
    if strided:
        X, y = np.repeat(X, 2, axis=0)[::2], np.repeat(y, 2)[::2]
        assert not y.flags.contiguous
    clf = small(Estimator).fit(X, y)
    assert_array_equal(clf.classes_, np.unique(labels))
    pred = clf.predict(X)
    assert pred.shape == y.shape
    assert pred.dtype.kind == y.dtype.kind
    assert set(pred.tolist()) <= set(labels.tolist())
    assert clf.predict_proba(X).shape == (len(y), len(labels))


# ----------------------------------------------------------------------
# X layouts and dtypes


def _as_dtype(X, dtype):
    if dtype == "bool":
        return X > X.mean(axis=0)
    if np.issubdtype(np.dtype(dtype), np.integer):
        return np.round((X - X.min()) * 5).astype(dtype)
    return X.astype(dtype)


def _read_only_memmap(X, directory):
    path = directory / "X.dat"
    order = "F" if X.flags.f_contiguous and not X.flags.c_contiguous else "C"
    writable = np.memmap(path, dtype=X.dtype, mode="w+", shape=X.shape, order=order)
    writable[:] = X
    writable.flush()
    del writable
    return np.memmap(path, dtype=X.dtype, mode="r", shape=X.shape, order=order)


@parametrize_estimators
@FEW
@given(
    dtype=st.sampled_from(
        ["float16", "float32", "float64", "int32", "int64", "uint8", "bool"]
    ),
    order=st.sampled_from(["C", "F"]),
    memmap=st.booleans(),
)
def test_any_numeric_layout_fits(Estimator, dtype, order, memmap, tmp_path_factory):
    """X of any numeric dtype, C or F order, or read-only memmap fits and predicts."""
    X, y = blobs(3, 8)
    X = np.asarray(_as_dtype(X, dtype), order=order)
    if memmap:
        X = _read_only_memmap(X, tmp_path_factory.mktemp("memmap"))
        assert not X.flags.writeable
    clf = small(Estimator).fit(X, y)
    proba = clf.predict_proba(X)
    assert np.isfinite(proba).all()
    assert_array_equal(proba, clf.predict_proba(np.array(X)))
    assert set(clf.predict(X)) <= {0, 1, 2}


# ----------------------------------------------------------------------
# Tiny and wide label sets


@parametrize_estimators
@FEW
@given(
    n_classes=st.integers(2, 4),
    per_class=st.integers(1, 2),
    seed=st.integers(0, 1000),
)
def test_tiny_data(Estimator, n_classes, per_class, seed):
    """One or two samples per class are enough to fit and predict."""
    X, y = blobs(n_classes, per_class, seed)
    clf = small(Estimator).fit(X, y)
    proba = clf.predict_proba(X)
    assert proba.shape == (len(y), n_classes)
    assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert set(clf.predict(X)) <= set(range(n_classes))


@parametrize_estimators
@settings(max_examples=2, deadline=None, derandomize=True)
@given(n_classes=st.integers(30, 60))
def test_many_classes(Estimator, n_classes):
    """Dozens of classes of two samples each give one column per class."""
    X, y = blobs(n_classes, 2)
    clf = small(Estimator).fit(X, y)
    assert_array_equal(clf.classes_, np.arange(n_classes))
    proba = clf.predict_proba(X)
    assert proba.shape == (2 * n_classes, n_classes)
    assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert_array_equal(clf.classes_[proba.argmax(axis=1)], clf.predict(X))


# ----------------------------------------------------------------------
# Threads


@parametrize_estimators
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_concurrent_inference_matches_serial(Estimator, dtype):
    """Four threads predicting on one estimator get the serial answers."""
    X, y = blobs(3, 10)
    clf = small(Estimator, dtype=dtype).fit(X, y)
    batches = [X[i:] for i in range(16)]
    # Threads first, so that they also race to compile the inference functions.
    with ThreadPoolExecutor(max_workers=4) as pool:
        probas = list(pool.map(clf.predict_proba, batches))
        labels = list(pool.map(clf.predict, batches))
    for batch, proba, label in zip(batches, probas, labels, strict=True):
        assert_array_equal(proba, clf.predict_proba(batch))
        assert_array_equal(label, clf.predict(batch))


@parametrize_estimators
def test_concurrent_inference_leaves_keras_config(Estimator):
    """Threads predicting in float64 leave Keras's global float type as it was."""
    X, y = blobs(3, 10)
    clf = small(Estimator, dtype="float64").fit(X, y)
    X = np.resize(X, (3000, X.shape[1]))
    keras.config.set_floatx("float32")
    keras.config.set_dtype_policy("float32")
    # A race shows only now and then: give it a few rounds to show.
    for _ in range(5):
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(clf.predict_proba, [X] * 16))
        assert keras.config.floatx() == "float32"
        assert keras.config.dtype_policy().name == "float32"


# ----------------------------------------------------------------------
# Persistence

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
    X, y = blobs(3, 10)
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
    X, y = blobs(3, 10)
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


# ----------------------------------------------------------------------
# Resumed training


@parametrize_estimators
def test_partial_fit_twice_equals_two_epochs(Estimator):
    """Two partial_fit calls on the full batch equal one fit of two epochs."""
    X, y = blobs(3, 10)
    params = dict(shuffle=False, batch_size=len(X))
    once = small(Estimator, epochs=2, **params).fit(X, y)
    twice = small(Estimator, **params)
    twice.partial_fit(X, y, classes=np.unique(y)).partial_fit(X, y)
    assert_allclose(twice.predict_proba(X), once.predict_proba(X), rtol=1e-10)
    assert_allclose(twice.history_["loss"], once.history_["loss"], rtol=1e-10)
    assert twice.n_iter_ == once.n_iter_ == 2
