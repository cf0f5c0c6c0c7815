"""Searches on a dask cluster, or on ray, score as they do in one process.

The dask tests start a real ``LocalCluster`` of two worker processes with one
thread each; the ray tests a local ray instance of two CPUs. Each test skips
when its engine is not installed (the ``dask`` and ``ray`` extras).
"""

import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from joblib import parallel_config
from numpy.testing import assert_allclose
from sklearn.model_selection import GridSearchCV, cross_validate

from tests._search_models import CASES, halving_search, scaled_mlp, search_case


def _pid(estimator, X, y):
    """A "score" that says which process fitted the estimator."""
    return os.getpid()


SCORING = {"log_loss": "neg_log_loss", "pid": _pid}


def _grid_search(pipe, grid):
    return GridSearchCV(
        pipe, grid, cv=2, scoring=SCORING, refit="log_loss", error_score="raise"
    )


def _assert_same_search(remote, local):
    """Same log-loss of every split to float tolerance, same best parameters."""
    scale = np.abs(local.cv_results_["mean_test_log_loss"]).max()
    for key, values in local.cv_results_.items():
        if key.endswith("_test_log_loss") and not key.startswith("rank"):
            # A standard deviation is a difference of near-equal losses: it
            # carries their rounding, not a rounding of its own size.
            atol = 1e-5 * scale if key.startswith("std") else 0
            assert_allclose(
                remote.cv_results_[key], values, rtol=1e-5, atol=atol, err_msg=key
            )
    assert remote.best_params_ == local.best_params_


def _fitting_pids(search):
    """The processes that fitted a search's candidates."""
    return {
        int(pid)
        for key, values in search.cv_results_.items()
        if key.startswith("split") and key.endswith("_test_pid")
        for pid in values
    }


# ----------------------------------------------------------------------
# dask


@pytest.fixture(scope="module")
def dask_client():
    """A client of a LocalCluster: two worker processes of one thread each."""
    distributed = pytest.importorskip("distributed")
    environ = dict(os.environ)
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        env={"KERAS_BACKEND": keras.backend.backend()},
        # Registers FeatureScale with Keras in each worker before any task
        # arrives: a pickled Keras model names its custom layers, and a
        # worker that never imported their module cannot find them.
        preload=["tests._search_models"],
    )
    # The nanny writes dask's pre-spawn variables (OMP_NUM_THREADS=1, ...)
    # into this process's environment too; give the other tests theirs back.
    for key in set(os.environ) - set(environ):
        del os.environ[key]
    os.environ.update(environ)
    with cluster, distributed.Client(cluster) as client:
        yield client


def _assert_ran_on_workers(search, client):
    pids = _fitting_pids(search)
    assert pids and pids <= set(client.run(os.getpid).values()), pids


@pytest.mark.parametrize("case", sorted(CASES))
def test_search_on_dask_matches_one_process(dask_client, case):
    """A dask search gives n_jobs=1's cv_results_ and best_params_, in a Pipeline."""
    pipe, grid, (X, y) = search_case(case)
    local = _grid_search(pipe, grid).fit(X, y)
    with parallel_config(backend="dask"):
        remote = _grid_search(pipe, grid).fit(X, y)
    _assert_same_search(remote, local)
    _assert_ran_on_workers(remote, dask_client)


def _keras_backend():
    return keras.backend.backend()


def test_workers_use_the_clients_backend(dask_client):
    """Every worker trains on the Keras backend the client uses."""
    backends = dask_client.run(_keras_backend)
    assert set(backends.values()) == {keras.backend.backend()}


def _fitted_thread_counts():
    import tensorflow as tf

    pipe, _, (X, y) = search_case("mlp")
    pipe.fit(X, y)
    return (
        os.environ.get("OMP_NUM_THREADS"),
        tf.config.threading.get_intra_op_parallelism_threads(),
        tf.config.threading.get_inter_op_parallelism_threads(),
    )


def test_one_thread_workers_train_on_one_thread(dask_client):
    """A worker of one thread sizes TensorFlow's pools to one thread."""
    if keras.backend.backend() != "tensorflow":
        pytest.skip("TensorFlow is the backend whose pools skce sizes")
    counts = dask_client.run(_fitted_thread_counts)
    assert set(counts.values()) == {("1", 1, 1)}


def test_fitted_networks_come_back_from_workers(dask_client):
    """Fitted estimators with a custom layer return from workers and predict alike."""
    pipe, _, (X, y) = search_case("builder")
    local = cross_validate(pipe, X, y, cv=2, return_estimator=True)
    with parallel_config(backend="dask"):
        remote = cross_validate(pipe, X, y, cv=2, return_estimator=True)
    for mine, theirs in zip(local["estimator"], remote["estimator"], strict=True):
        assert_allclose(theirs.predict_proba(X), mine.predict_proba(X), rtol=1e-5)


def test_model_instance_with_custom_layer_travels(dask_client):
    """A Keras model instance with a registered custom layer trains on workers."""
    pipe, grid, (X, y) = search_case("builder")
    pipe.set_params(clf__model=scaled_mlp(X.shape[1], 3, seed=0))
    local = _grid_search(pipe, grid).fit(X, y)
    with parallel_config(backend="dask"):
        remote = _grid_search(pipe, grid).fit(X, y)
    _assert_same_search(remote, local)
    _assert_ran_on_workers(remote, dask_client)


def test_halving_search_on_dask_matches_one_process(dask_client):
    """Successive halving over epochs gives the same results on dask."""
    from distributed import get_task_stream

    pipe, grid, (X, y) = search_case("mlp")

    local = halving_search(pipe, grid).fit(X, y)
    with get_task_stream(dask_client) as tasks, parallel_config(backend="dask"):
        remote = halving_search(pipe, grid).fit(X, y)
    assert tasks.data, "no task ran on the cluster"
    assert_allclose(
        remote.cv_results_["mean_test_score"], local.cv_results_["mean_test_score"]
    )
    assert remote.best_params_ == local.best_params_


def test_hand_started_cluster_script():
    """The docs' script starts a scheduler and workers by hand and matches n_jobs=1."""
    pytest.importorskip("distributed")
    script = Path(__file__).resolve().parents[1] / "docs" / "scripts" / "dask_search.py"
    result = subprocess.run(
        [sys.executable, str(script), "--epochs", "3"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert f"Keras backends: ['{keras.backend.backend()}']" in result.stdout
    assert "same scores as n_jobs=1: True" in result.stdout
    assert "same best parameters: True" in result.stdout


# ----------------------------------------------------------------------
# ray


@pytest.fixture(scope="module")
def ray_workers():
    """A local ray instance of two CPUs, with ray's joblib backend registered."""
    ray = pytest.importorskip("ray")
    from ray.util.joblib import register_ray

    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"KERAS_BACKEND": keras.backend.backend()}},
    )
    register_ray()
    try:
        yield ray
    finally:
        ray.shutdown()


@pytest.mark.parametrize("case", ["mlp", "builder"])
def test_search_on_ray_matches_one_process(ray_workers, case):
    """ray's joblib backend gives n_jobs=1's cv_results_ and best_params_."""
    pipe, grid, (X, y) = search_case(case)
    local = _grid_search(pipe, grid).fit(X, y)
    with parallel_config(backend="ray", n_jobs=2):
        remote = _grid_search(pipe, grid).fit(X, y)
    _assert_same_search(remote, local)
    pids = _fitting_pids(remote)
    assert pids and os.getpid() not in pids, pids


def test_ray_workers_use_the_clients_backend(ray_workers):
    """Every ray worker trains on the Keras backend the driver uses."""
    backend = ray_workers.remote(_keras_backend)
    found = ray_workers.get([backend.remote() for _ in range(2)])
    assert set(found) == {keras.backend.backend()}
