"""One fit over two processes, as on two hosts, or the same fit in one.

``python -m tests._multi_process BACKEND PORT0 PORT1 INDEX`` joins a
two-process cluster on localhost and fits with the data-parallel
distribution over both processes' devices:

* JAX: ``jax.distributed.initialize`` with the coordinator on ``PORT0`` (CPU
  collectives over gloo); the mesh spans one device of each process, and the
  estimator gets ``distribution="data_parallel"``;
* TensorFlow: ``TF_CONFIG`` names two workers on ``PORT0`` and ``PORT1``, and
  the estimator gets a ``tf.distribute.MultiWorkerMirroredStrategy``.

``python -m tests._multi_process BACKEND single`` fits the same estimator on
one device in one process. Each prints one JSON line with its predictions
(also after a pickle round trip) and loss history;
``tests/test_data_parallel.py`` runs them.
"""

import json
import os
import pickle
import sys

BACKEND, MODE = sys.argv[1], sys.argv[2]
os.environ["KERAS_BACKEND"] = BACKEND
os.environ.pop("XLA_FLAGS", None)
distribution = None
if BACKEND == "jax" and MODE != "single":
    import jax

    try:
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    except AttributeError:  # JAX before 0.4.32 named the switch differently
        jax.config.update("jax_cpu_enable_gloo_collectives", True)
    jax.distributed.initialize(
        f"localhost:{MODE}", num_processes=2, process_id=int(sys.argv[4])
    )
    distribution = "data_parallel"
elif BACKEND == "tensorflow" and MODE != "single":
    workers = [f"localhost:{MODE}", f"localhost:{sys.argv[3]}"]
    os.environ["TF_CONFIG"] = json.dumps(
        {
            "cluster": {"worker": workers},
            "task": {"type": "worker", "index": int(sys.argv[4])},
        }
    )
    import tensorflow as tf

    # Before any other TensorFlow operation, as TensorFlow requires.
    distribution = tf.distribute.MultiWorkerMirroredStrategy()

import keras  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

from skce import SparseCEMLPClassifier  # noqa: E402


def replicas(model) -> int:
    """Over how many devices, in all processes, the first weight is laid."""
    value = model.trainable_variables[0].value
    if BACKEND == "jax":
        return len(value.sharding.device_set)
    if distribution is None:
        return 1
    return distribution.num_replicas_in_sync


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
    distribution=distribution,
)
clf.fit(X, y)
restored = pickle.loads(pickle.dumps(clf))
print(
    json.dumps(
        {
            "backend": keras.backend.backend(),
            "replicas": replicas(clf.model_),
            "proba": clf.predict_proba(X[:100]).tolist(),
            "restored_proba": restored.predict_proba(X[:100]).tolist(),
            "loss": clf.history_["loss"],
        }
    )
)
