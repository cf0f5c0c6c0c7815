"""Training data larger than memory: memory-mapped X and the data budget."""

import os
import subprocess
import sys

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.datasets import make_classification

from skce import SparseCECNNClassifier, SparseCEMLPClassifier, data_budget
from skce._config import get_data_budget, set_data_budget

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


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
