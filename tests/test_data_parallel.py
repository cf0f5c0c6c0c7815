"""Data-parallel training: two simulated devices train like one."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.utils._param_validation import InvalidParameterError

from skce import SparseCEMLPClassifier

ROOT = Path(__file__).resolve().parents[1]
BACKENDS = ["tensorflow", "jax"]
CASES = ["mlp", "cnn", "custom", "rnn"]


@pytest.fixture(scope="module", params=BACKENDS)
def two_devices(request):
    """Results of ``tests/_data_parallel.py`` on one backend, run in a subprocess."""
    backend = request.param
    pytest.importorskip(backend)
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS",)}
    done = subprocess.run(
        [sys.executable, "-m", "tests._data_parallel", backend],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return backend, json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("case", CASES)
def test_two_devices_train_like_one(two_devices, case):
    """Each estimator fits on 2 devices as on 1, by parameter and by scope."""
    _, results = two_devices
    row = results[case]
    assert row["one_device"] == 1
    # The fit really ran replicated: its weights live on both devices.
    assert row["param_devices"] == 2
    assert row["ambient_devices"] == 2
    assert row["param_diff"] < 1e-5
    assert row["ambient_diff"] < 1e-5
    assert row["loss_diff"] < 1e-5


def test_jax_partitions_the_steps(two_devices):
    """On JAX the compiled steps sum gradients across the devices."""
    backend, results = two_devices
    if backend != "jax":
        pytest.skip("XLA's partitioner is JAX's")
    assert results["all_reduce"] is True


def test_clones_share_the_distribution_instance(two_devices):
    """A search's clones use the strategy or distribution they were given."""
    _, results = two_devices
    assert results["clone_shares_instance"] is True


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def _json_line(process) -> dict:
    out, err = process.communicate(timeout=600)
    assert process.returncode == 0, err[-4000:]
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.parametrize("backend", BACKENDS)
def test_one_fit_over_two_processes(backend):
    """Two processes (as two hosts) train one fit like one device.

    JAX through ``jax.distributed`` and a mesh over both processes, TensorFlow
    through ``MultiWorkerMirroredStrategy``; predictions and pickling work in
    every process.
    """
    module = pytest.importorskip(backend)
    version = tuple(int(p) for p in module.__version__.split(".")[:2])
    if backend == "jax" and version < (0, 5):
        # JAX 0.4.30 compiles the epoch for per-process shards of the
        # replicated training data (a buffer-size error); newer JAX runs it.
        pytest.skip("JAX 0.4.30 cannot run one fit over several processes")
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "TF_CONFIG")}
    ports = [str(_free_port()), str(_free_port())]

    def start(*argv):
        return subprocess.Popen(
            [sys.executable, "-m", "tests._multi_process", backend, *argv],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    workers = [start(*ports, "0"), start(*ports, "1")]
    single = _json_line(start("single"))
    results = [_json_line(w) for w in workers]
    assert single["replicas"] == 1
    for result in results:
        assert result["backend"] == backend
        assert result["replicas"] == 2
        np.testing.assert_allclose(result["proba"], single["proba"], atol=1e-5)
        np.testing.assert_allclose(result["restored_proba"], result["proba"])
        np.testing.assert_allclose(result["loss"], single["loss"], rtol=1e-5)


def test_distribution_string_is_validated():
    """An unknown distribution name is rejected before training."""
    clf = SparseCEMLPClassifier(distribution="mirrored")
    with pytest.raises(InvalidParameterError, match="distribution"):
        clf.fit([[0.0], [1.0]], [0, 1])
    assert not hasattr(clf, "model_")


def test_foreign_distribution_object_is_rejected():
    """An object the backend cannot train under gets a ValueError naming it."""

    class Elsewhere:
        def scope(self):
            raise AssertionError("never entered")

    clf = SparseCEMLPClassifier(distribution=Elsewhere(), epochs=1)
    with pytest.raises(ValueError, match="data-parallel.*distribution="):
        clf.fit([[0.0], [1.0]], [0, 1])
    assert not hasattr(clf, "model_")


def test_clone_keeps_distribution_names_and_none():
    """Cloning works as usual for the string and None forms."""
    for value in (None, "data_parallel"):
        clf = SparseCEMLPClassifier(distribution=value, alpha=0.5)
        cloned = clone(clf)
        assert cloned.distribution == value
        assert cloned.alpha == 0.5
