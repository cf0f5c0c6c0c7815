"""One fit over two JAX processes, as on two hosts, or the same fit in one.

``python -m tests._multi_process PORT PROCESS_ID`` joins a two-process JAX
cluster on localhost (``jax.distributed.initialize``, CPU collectives over
gloo), so the data-parallel mesh spans one device of each process, and fits
with ``distribution="data_parallel"``. ``python -m tests._multi_process
single`` fits the same estimator on one device in one process. Each prints
one JSON line with its predictions (also after a pickle round trip) and loss history;
``tests/test_data_parallel.py`` runs them.
"""

import json
import os
import pickle
import sys

os.environ["KERAS_BACKEND"] = "jax"
os.environ.pop("XLA_FLAGS", None)

import jax  # noqa: E402

if sys.argv[1] != "single":
    try:
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    except AttributeError:  # JAX before 0.4.32 named the switch differently
        jax.config.update("jax_cpu_enable_gloo_collectives", True)
    jax.distributed.initialize(
        f"localhost:{sys.argv[1]}", num_processes=2, process_id=int(sys.argv[2])
    )

import numpy as np  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

from skce import SparseCEMLPClassifier  # noqa: E402

X, y = load_digits(return_X_y=True)
X, y = (X[:600] / 16).astype(np.float32), y[:600]
clf = SparseCEMLPClassifier(
    (32,),
    dropout=0.2,
    epochs=3,
    n_iter_no_change=None,
    batch_size=33,
    alpha=1e-3,
    random_state=0,
    distribution=None if sys.argv[1] == "single" else "data_parallel",
)
clf.fit(X, y)
restored = pickle.loads(pickle.dumps(clf))
print(
    json.dumps(
        {
            "devices": len(jax.devices()),
            "local_devices": len(jax.local_devices()),
            "proba": clf.predict_proba(X[:100]).tolist(),
            "restored_proba": restored.predict_proba(X[:100]).tolist(),
            "loss": clf.history_["loss"],
        }
    )
)
