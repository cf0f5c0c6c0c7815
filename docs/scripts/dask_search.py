"""A grid search on a dask cluster started by hand, as on several machines.

Alone, the script plays every part on this machine: it starts ``dask
scheduler`` and ``dask worker`` (``--nworkers`` processes of one thread each,
with this process's Keras backend in their environment), connects a client,
runs the same GridSearchCV with ``n_jobs=1`` and on the cluster, and says
whether the two agree. The commands it runs are printed; on several machines,
run them on the hosts instead and pass the scheduler's address::

    python dask_search.py --scheduler tcp://HOST:8786
"""

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import joblib
import keras
import numpy as np
from distributed import Client
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skce import SparseCEMLPClassifier


def make_search(epochs: int) -> GridSearchCV:
    pipe = make_pipeline(
        StandardScaler(),
        SparseCEMLPClassifier(epochs=epochs, n_iter_no_change=None, random_state=0),
    )
    grid = {
        "sparsecemlpclassifier__hidden_layer_sizes": [(32,), (64,)],
        "sparsecemlpclassifier__alpha": [1e-4, 1e-2],
    }
    return GridSearchCV(pipe, grid, cv=3)


def start_cluster(stack: contextlib.ExitStack, folder: Path, nworkers: int) -> Path:
    """Start a scheduler and workers on this machine; return the scheduler file.

    The same two commands, with ``--host``/``tcp://HOST:8786`` in place of the
    scheduler file, start a cluster over several machines. ``stack`` stops
    the processes and closes their logs (in ``folder``) when it closes.
    """
    scheduler_file = folder / "scheduler.json"
    env = {**os.environ, "KERAS_BACKEND": keras.backend.backend()}
    commands = [
        ["scheduler", "--host", "127.0.0.1", "--port", "0"],
        ["worker", "--nworkers", str(nworkers), "--nthreads", "1"],
    ]
    for command in commands:
        command = [*command, "--scheduler-file", str(scheduler_file), "--no-dashboard"]
        print(f"$ KERAS_BACKEND={env['KERAS_BACKEND']} dask {' '.join(command)}")
        log = stack.enter_context(open(folder / f"{command[0]}.log", "w"))
        process = stack.enter_context(
            subprocess.Popen(
                [sys.executable, "-m", "dask", *command],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        stack.callback(process.terminate)  # runs before Popen's exit waits
        while command[0] == "scheduler" and not scheduler_file.exists():
            time.sleep(0.2)
    return scheduler_file


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scheduler", help="address of a running scheduler")
    parser.add_argument("--nworkers", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=20)
    args = parser.parse_args(argv)

    X, y = load_digits(return_X_y=True)
    X = X.astype(np.float32)
    start = time.perf_counter()
    local = make_search(args.epochs).fit(X, y)
    print(f"n_jobs=1: {time.perf_counter() - start:.1f} s")

    with tempfile.TemporaryDirectory() as folder, contextlib.ExitStack() as stack:
        if args.scheduler:
            address = {"address": args.scheduler}
        else:
            found = start_cluster(stack, Path(folder), args.nworkers)
            address = {"scheduler_file": str(found)}
        client = stack.enter_context(Client(**address))
        client.wait_for_workers(args.nworkers, timeout=120)
        backends = sorted(set(client.run(keras.backend.backend).values()))
        print(f"workers: {len(client.nthreads())}, Keras backends: {backends}")
        start = time.perf_counter()
        with joblib.parallel_config(backend="dask"):
            remote = make_search(args.epochs).fit(X, y)
        print(f"dask: {time.perf_counter() - start:.1f} s")

    same = np.allclose(
        remote.cv_results_["mean_test_score"], local.cv_results_["mean_test_score"]
    )
    print(f"best parameters: {remote.best_params_}")
    print(f"same scores as n_jobs=1: {same}")
    print(f"same best parameters: {remote.best_params_ == local.best_params_}")


if __name__ == "__main__":
    main()
