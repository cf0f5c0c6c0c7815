"""export: a SavedModel that TensorFlow alone serves, answering as predict does."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import load_digits

from skce import SparseCECNNClassifier, SparseCEMLPClassifier
from tests._helpers import fast

from .test_rnn import char_windows, rnn

# Runs in a fresh interpreter that imports neither skce nor keras itself.
_SERVE = textwrap.dedent(
    """
    import sys

    import numpy as np
    import tensorflow as tf

    served = tf.saved_model.load(sys.argv[1])
    X = np.load(sys.argv[2])
    out = served.serve(tf.constant(X))
    signature = served.signatures["serving_default"](X=tf.constant(X))
    assert (signature["labels"].numpy() == out["labels"].numpy()).all()
    assert "skce" not in sys.modules
    labels = out["labels"].numpy()
    np.save(sys.argv[3], labels.astype("S") if labels.dtype == object else labels)
    np.save(sys.argv[4], out["probabilities"].numpy())
    print(out["labels"].dtype.name)
    """
)


def _serve(path, X, tmp_path):
    """Labels, probabilities and label dtype the SavedModel gives in a new process."""
    np.save(tmp_path / "X.npy", X)
    files = [tmp_path / name for name in ("labels.npy", "proba.npy")]
    done = subprocess.run(
        [sys.executable, "-c", _SERVE, str(path), str(tmp_path / "X.npy"), *files],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    labels = np.load(files[0], allow_pickle=False)
    return labels, np.load(files[1]), done.stdout.split()[-1]


def _digits(strings):
    X, y = load_digits(return_X_y=True)
    y = np.array([f"digit {v}" for v in y]) if strings else y * 3
    return (X[:150] / 16).astype("float32"), y[:150]


@pytest.mark.parametrize("strings", [False, True], ids=["int", "str"])
@pytest.mark.parametrize(
    "Estimator", [SparseCEMLPClassifier, SparseCECNNClassifier], ids=["MLP", "CNN"]
)
def test_exported_model_answers_as_predict(Estimator, strings, tmp_path):
    """TensorFlow alone serves predict's labels and predict_proba's values."""
    X, y = _digits(strings)
    clf = fast(Estimator, epochs=2).fit(X, y)
    clf.export(tmp_path / "model")
    labels, proba, dtype = _serve(tmp_path / "model", X, tmp_path)
    assert dtype == ("string" if strings else "int64")
    if strings:
        labels = labels.astype(str)
    assert_array_equal(labels, clf.predict(X))
    assert_allclose(proba, clf.predict_proba(X), rtol=0, atol=1e-5)


def test_exported_language_model_follows_predict_shapes(tmp_path):
    """Per-position labels come back (n, T) and probabilities (n, T, n_classes)."""
    X, y = char_windows()
    clf = rnn(epochs=2, n_iter_no_change=None).fit(X, y)
    clf.export(tmp_path / "model")
    labels, proba, dtype = _serve(tmp_path / "model", X.astype("float32"), tmp_path)
    assert dtype == "string"
    assert_array_equal(labels.astype(str), clf.predict(X))
    assert_allclose(proba, np.stack(clf.predict_proba(X), axis=1), atol=1e-5)


def test_float64_network_takes_float64_rows(tmp_path):
    """A network fitted in float64 is served float64 rows, as predict feeds it."""
    X, y = _digits(strings=False)
    clf = fast(SparseCEMLPClassifier, epochs=2).fit(X.astype("float64"), y)
    clf.export(tmp_path / "model")
    labels, proba, _ = _serve(tmp_path / "model", X.astype("float64"), tmp_path)
    assert proba.dtype == np.float64
    assert_array_equal(labels, clf.predict(X))
    assert_allclose(proba, clf.predict_proba(X), rtol=0, atol=1e-12)


def test_export_errors(blobs, tmp_path):
    """Unknown and unavailable formats, and unfitted estimators, raise clearly."""
    X, y = blobs
    clf = SparseCEMLPClassifier()
    with pytest.raises(ValueError, match="format must be one of"):
        clf.export(tmp_path / "m", format="tflite")
    with pytest.raises(ValueError, match="tf2onnx"):
        clf.export(tmp_path / "m", format="onnx")
    with pytest.raises(Exception, match="not fitted"):
        clf.export(tmp_path / "m")
