"""X kept on the host and streamed to the device in segments."""

import os
import subprocess
import sys

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.base import clone
from sklearn.datasets import make_classification

from skce import (
    SparseCECNNClassifier,
    SparseCEMLPClassifier,
    SparseCERNNClassifier,
    data_budget,
)
from skce._config import get_data_budget, set_data_budget
from skce._engine import HostRows, is_memory_mapped
from skce._inputs import check_token_ids

# The repository: tests/engine/ is two folders below it.
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def data(tmp_path):
    X, y = make_classification(600, 20, n_informative=10, n_classes=3, random_state=0)
    X = X.astype(np.float32)
    memmap = np.memmap(tmp_path / "X.dat", np.float32, "w+", shape=X.shape)
    memmap[:] = X
    memmap.flush()
    return X, np.memmap(tmp_path / "X.dat", np.float32, "r", shape=X.shape), y


@pytest.mark.parametrize(
    "Estimator, params",
    [
        (SparseCEMLPClassifier, {"dropout": 0.2}),
        (SparseCECNNClassifier, {"image_shape": (4, 5)}),
    ],
)
def test_streamed_fits_equal_the_in_memory_fit(data, Estimator, params):
    """A memmap, or X over the budget, trains to the in-memory fit's model."""
    X, memmap, y = data
    params = dict(epochs=3, batch_size=32, validation_split=0.2, random_state=0)
    in_memory = Estimator(**params).fit(X, y)
    mapped = Estimator(**params).fit(memmap, y)
    with data_budget(32 * 100 * 3):  # three batches per segment
        budgeted = Estimator(**params).fit(X, y)
    expected = in_memory.predict_proba(X)
    assert_array_equal(mapped.predict_proba(memmap), expected)
    assert_array_equal(budgeted.predict_proba(X), expected)
    assert mapped.history_ == in_memory.history_


def test_data_budget_validation_and_restore():
    """The budget takes positive byte counts or None and is restored after."""
    assert get_data_budget() is None
    with data_budget(1000):
        assert get_data_budget() == 1000
    assert get_data_budget() is None
    for bad in (0, -5, 1.5, "1GB", True):
        with pytest.raises(ValueError, match="positive number of bytes"):
            set_data_budget(bad)


_MEMORY_SCRIPT = """
import sys, threading, time
import numpy as np
sys.path.insert(0, {root!r})
from skce import SparseCEMLPClassifier, data_budget

def anon_mb():
    for line in open("/proc/self/status"):
        if line.startswith("RssAnon"):
            return int(line.split()[1]) / 1024

n, d = 60000, 500
X = np.memmap({path!r}, np.float32, "w+", shape=(n, d))
for start in range(0, n, 5000):
    X[start:start + 5000] = np.random.RandomState(start).rand(5000, d)
X.flush()
del X
X = np.memmap({path!r}, np.float32, "r", shape=(n, d))
y = np.arange(n) % 3
clf = SparseCEMLPClassifier((16,), epochs=1, batch_size=500, random_state=0)
with data_budget(4 << 20):
    clf.fit(X, y)  # compiles the training and inference code once
peak, base, done = [0.0], anon_mb(), threading.Event()

def sample():
    while not done.is_set():
        peak[0] = max(peak[0], anon_mb())
        time.sleep(0.005)

thread = threading.Thread(target=sample)
thread.start()
with data_budget(4 << 20):
    clf.fit(X, y)
    clf.predict(X)
done.set()
thread.join()
print("RESULT", peak[0] - base, n * d * 4 / 2**20)
"""


def test_memmap_fit_stays_off_anonymous_memory(tmp_path):
    """Fitting and predicting a 114 MB memmap adds far less anonymous memory.

    Measured after a first fit, which compiles the code; the data budget is
    4 MB, so a segment is about 2 000 rows.
    """
    script = _MEMORY_SCRIPT.format(root=ROOT, path=str(tmp_path / "big.dat"))
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    grown, size = map(float, out.split("RESULT")[1].split())
    assert grown < size / 4, (grown, size)


_SCRIPT = """
import sys, threading, time
import numpy as np
sys.path.insert(0, {root!r})
from skce import SparseCEMLPClassifier

def anon_mb():
    for line in open("/proc/self/status"):
        if line.startswith("RssAnon"):
            return int(line.split()[1]) / 1024

def peak_growth(fn):
    peak, base, done = [0.0], anon_mb(), threading.Event()
    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], anon_mb())
            time.sleep(0.005)
    thread = threading.Thread(target=sample)
    thread.start()
    try:
        fn()
    finally:
        done.set()
        thread.join()
    return max(peak[0], anon_mb()) - base

d = 1000
for dtype in ("float32", "uint8", "int16", "float16"):
    dtype = np.dtype(dtype)
    n = 400 * 2**20 // (d * dtype.itemsize)
    X = np.memmap({path!r}, dtype, "w+", shape=(n, d))
    for start in range(0, n, 5000):
        rows = np.random.RandomState(start).rand(min(5000, n - start), d)
        X[start:start + 5000] = (rows * 100).astype(dtype)
    X.flush()
    del X
    X = np.memmap({path!r}, dtype, "r", shape=(n, d))
    y = np.arange(n) % 3
    clf = SparseCEMLPClassifier(
        (16,), epochs=1, batch_size=512, n_iter_no_change=None, random_state=0
    )
    clf.fit(X, y)  # compiles the training and inference code once
    grown = peak_growth(lambda: (clf.fit(X, y), clf.predict(X)))
    print("RESULT", dtype, grown, X.nbytes / 2**20, flush=True)
    del X
"""


def test_memmap_of_any_dtype_streams_at_the_default_budget(tmp_path):
    """Fit and predict on a 400 MB memmap never read it whole.

    At the default data budget (a quarter of RAM, larger than X): a float32
    file grows anonymous memory by less than 10 % of its size. uint8, int16
    and float16 files train in float64, so each streamed segment and
    prediction chunk takes up to 8 times the bytes of its rows on disk (and
    a uint8 file holds 4 times the rows, each with its label, weight and
    key): they grow less than 25 % of the file, where a whole read or cast
    would grow more than the file itself.
    """
    script = _SCRIPT.format(root=ROOT, path=str(tmp_path / "X.dat"))
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    results = [line.split()[1:] for line in out.splitlines() if "RESULT" in line]
    assert len(results) == 4, out
    for dtype, grown, size in results:
        share = 0.10 if dtype == "float32" else 0.25
        assert float(grown) < float(size) * share, (dtype, grown, size, results)


def _memmap(path, array):
    out = np.memmap(path, array.dtype, "w+", shape=array.shape)
    out[:] = array
    out.flush()
    return np.memmap(path, array.dtype, "r", shape=array.shape)


@pytest.mark.parametrize("dtype", ["uint8", "int16", "float16"])
def test_memmap_of_other_dtypes_trains_as_the_array(tmp_path, dtype):
    """A uint8, int16 or float16 memmap is kept unread and trains as in RAM."""
    X, y = make_classification(300, 12, n_classes=3, n_informative=6, random_state=0)
    X = (np.abs(X) * 20).astype(dtype)
    mapped = _memmap(tmp_path / "X.dat", X)
    clf = SparseCEMLPClassifier(
        (8,), epochs=2, batch_size=32, n_iter_no_change=None, random_state=0
    )
    assert is_memory_mapped(clf._validate_X(mapped, reset=True))
    expected = clone(clf).fit(X, y).predict_proba(X)
    assert_array_equal(clf.fit(mapped, y).predict_proba(mapped), expected)


def test_int64_token_memmap_is_cast_as_read(tmp_path):
    """int64 token ids on disk come back unread and train as in RAM."""
    rng = np.random.RandomState(0)
    X = rng.randint(1, 30, size=(120, 6)).astype(np.int64)
    y = rng.randint(0, 2, size=120)
    mapped = _memmap(tmp_path / "X.dat", X)
    ids = check_token_ids(mapped, 30)
    assert isinstance(ids, HostRows) and ids.dtype == np.int32
    clf = SparseCERNNClassifier(
        embedding_dim=4, units=(4,), epochs=2, batch_size=16, random_state=0
    )
    expected = clone(clf).fit(X, y).predict_proba(X)
    assert_array_equal(clf.fit(mapped, y).predict_proba(mapped), expected)
