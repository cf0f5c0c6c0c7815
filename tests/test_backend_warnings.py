"""Normal use prints no backend warning about retracing."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_SCRIPT = """
import pickle, sys, warnings
sys.path.insert(0, {root!r})
import numpy as np
from sklearn.datasets import make_classification
from sklearn.model_selection import GridSearchCV
from skce import SparseCEMLPClassifier

warnings.simplefilter("ignore")
X, y = make_classification(150, 8, n_classes=3, n_informative=5, random_state=0)
params = dict(epochs=1, n_iter_no_change=None, random_state=0)
for h in range(4, 12):  # eight architectures in a row
    SparseCEMLPClassifier((h,), **params).fit(X, y).predict_proba(X)
grid = {{"hidden_layer_sizes": [(3,), (5,), (6,), (7,), (3, 3), (5, 2)]}}
search = GridSearchCV(SparseCEMLPClassifier(**params), grid, cv=3).fit(X, y)
for h in range(12, 18):
    clf = SparseCEMLPClassifier((h,), **params).fit(X, y)
    pickle.loads(pickle.dumps(clf)).predict(X)
try:
    import skops.io as sio
except ImportError:
    sio = None
for h in range(18, 24) if sio is not None else ():
    dumped = sio.dumps(SparseCEMLPClassifier((h,), **params).fit(X, y))
    sio.loads(dumped, trusted=sio.get_untrusted_types(data=dumped)).predict(X)
print("DONE")
"""


def test_many_architectures_searches_and_round_trips_warn_nothing():
    """Fits of 8 architectures, a search, pickle and skops: no WARNING:tensorflow.

    TensorFlow warns when one function retraces often; skce's one function
    per architecture and per fitted model must not read as such.
    """
    result = subprocess.run(
        [sys.executable, "-c", _SCRIPT.format(root=ROOT)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "DONE" in result.stdout
    warned = [
        line for line in result.stderr.splitlines() if "WARNING:tensorflow" in line
    ]
    assert not warned, warned
