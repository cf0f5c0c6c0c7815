"""A grid search in one process, on two joblib (loky) workers, and on dask.

GridSearchCV over 4 candidates x 3 folds (12 fits, then the refit) of a
StandardScaler + SparseCEMLPClassifier Pipeline on scikit-learn's digits
(float32), a fixed number of epochs (``n_iter_no_change=None``). Three
candidates: ``n_jobs=1``; ``n_jobs=2`` (joblib's loky workers); and
``joblib.parallel_config(backend="dask")`` on a ``distributed.LocalCluster``
of 2 worker processes with 1 thread each. Each candidate runs in a process of
its own: the search once cold (worker start-up, imports, tracing or
compilation), then ``--repeats`` times warm (workers and compiled epochs
reused). The dask cluster's start is timed apart. The report gives the wall
times, their ratios to ``n_jobs=1``, and whether the scores equal those of
``n_jobs=1``.

    pip install -e ".[cpu,jax,bench,dask]"
    python benchmarks/bench_distributed_search.py --backend tensorflow,jax
"""

import statistics
import time
import warnings

from _common import (
    bar_plot,
    fmt,
    load_average,
    make_parser,
    per_candidate,
    quiet_environment,
    run,
    write_report,
)

CANDIDATES = ("n_jobs=1", "loky n_jobs=2", "dask 2 workers x 1 thread")
GRID = {"clf__alpha": [1e-4, 1e-2], "clf__hidden_layer_sizes": [(64,), (128,)]}


def make_search(epochs: int, n_jobs):
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from skce import SparseCEMLPClassifier

    clf = SparseCEMLPClassifier(epochs=epochs, n_iter_no_change=None, random_state=0)
    pipe = Pipeline([("scale", StandardScaler()), ("clf", clf)])
    return GridSearchCV(pipe, GRID, cv=3, n_jobs=n_jobs)


def measure_one(args, candidate: str) -> dict:
    import contextlib

    import joblib
    import keras
    import numpy as np
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = X.astype(np.float32)
    with contextlib.ExitStack() as stack:
        n_jobs, backend, cluster_s = None, "loky", None
        if candidate == "n_jobs=1":
            n_jobs = 1
        elif candidate == "loky n_jobs=2":
            n_jobs = 2
        else:
            from distributed import Client, LocalCluster

            backend = "dask"
            start = time.perf_counter()
            cluster = stack.enter_context(
                LocalCluster(
                    n_workers=2,
                    threads_per_worker=1,
                    dashboard_address=None,
                    env={"KERAS_BACKEND": keras.backend.backend()},
                )
            )
            stack.enter_context(Client(cluster))
            cluster_s = time.perf_counter() - start
        load_before = load_average()
        times = []
        for _ in range(1 + args.repeats):
            search = make_search(args.epochs, n_jobs)
            start = time.perf_counter()
            with joblib.parallel_config(backend=backend), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                search.fit(X, y)
            times.append(time.perf_counter() - start)
    row = {
        "backend": keras.backend.backend(),
        "candidate": candidate,
        "epochs": args.epochs,
        "cluster_s": cluster_s,
        "cold_s": times[0],
        "warm_s": times[1:],
        "median_s": statistics.median(times[1:] or times),
        "load": (load_before, load_average()),
        "scores": search.cv_results_["mean_test_score"].tolist(),
        "splits": [
            search.cv_results_[f"split{i}_test_score"].tolist() for i in range(3)
        ],
        "best_params": repr(search.best_params_),
    }
    print(
        f"{row['backend']:<10} {candidate}: cold {times[0]:.2f} s, "
        f"warm median {row['median_s']:.2f} s",
        flush=True,
    )
    return row


def measure(args) -> list:
    return per_candidate(args, CANDIDATES, lambda name: measure_one(args, name))


def report(rows) -> None:
    import numpy as np

    table, bars = [], []
    for backend in dict.fromkeys(r["backend"] for r in rows):
        by = {r["candidate"]: r for r in rows if r["backend"] == backend}
        base = by["n_jobs=1"]
        for name in CANDIDATES:
            r = by[name]
            diff = np.abs(np.subtract(r["splits"], base["splits"])).max()
            same = diff <= 1e-6 and r["best_params"] == base["best_params"]
            table.append(
                [
                    backend,
                    name,
                    fmt(r["cluster_s"]),
                    fmt(r["cold_s"]),
                    f"**{fmt(r['median_s'])}**",
                    fmt(r["median_s"] / base["median_s"]),
                    fmt(r["cold_s"] / base["cold_s"]),
                    f"{'yes' if same else 'no'} ({diff:.1e})",
                    f"{max(r['scores']):.3f}",
                    f"{r['load'][0]} / {r['load'][1]}",
                ]
            )
            bars.append((name, r["median_s"], backend))
    epochs = rows[0]["epochs"]
    notes = [
        f"GridSearchCV(cv=3) over alpha x hidden_layer_sizes (4 candidates, 12 "
        f"fits plus the refit), {epochs} epochs each, batch 'auto' (200), "
        "digits (1,797 x 64, float32), StandardScaler in the Pipeline.",
        "*cold*: the first search in the candidate's process: worker processes "
        "start and import the backend, and every architecture is traced or "
        "compiled in every worker. *warm*: the median of the searches after it, "
        "with the same workers (loky reuses its executor; the dask cluster "
        "stays up). *cluster start*: LocalCluster and Client, before the first "
        "search.",
        "*same as n_jobs=1*: every split's test score and `best_params_` equal "
        "those of `n_jobs=1` (largest score difference in brackets).",
        "The workers get one thread each: loky sets OMP_NUM_THREADS to "
        "cores ÷ n_jobs, dask's nanny to 1, and skce sizes TensorFlow's pools "
        "from it. n_jobs=1 trains with all cores. JAX sizes its CPU thread "
        "pool itself.",
        "*load*: the 1-minute load average before / after; above the core "
        "count, other work shared the CPU and the times are inflated.",
    ]
    write_report(
        "distributed_search",
        "GridSearchCV in one process, on loky workers and on a dask cluster",
        [
            (
                "Wall time of the search (seconds)",
                [
                    "backend",
                    "candidate",
                    "cluster start",
                    "cold",
                    "warm (median)",
                    "warm ÷ n_jobs=1",
                    "cold ÷ n_jobs=1",
                    "same as n_jobs=1",
                    "best CV score",
                    "load",
                ],
                table,
            )
        ],
        notes,
        rows,
    )
    bar_plot(
        "distributed_search",
        "GridSearchCV wall time, warm (lower is better)",
        "seconds",
        bars,
    )


def main() -> None:
    quiet_environment()
    parser = make_parser(__doc__.splitlines()[0], repeats=2)
    parser.add_argument(
        "--epochs",
        type=int,
        default=50,
        help="Epochs of every fit (default 50).",
    )
    args = parser.parse_args()
    run(args, "distributed_search", measure, report)


if __name__ == "__main__":
    main()
