"""Prediction latency for 1, 10 and 1,000 rows: skce against MLPClassifier and Keras.

Online scoring calls ``predict`` a few rows at a time, where fixed costs per
call dominate. scikit-learn's digits (float32), one hidden layer of 100 units,
fitted briefly; then the median over ``--calls`` calls (after 20 untimed ones)
of: skce's ``predict``, ``MLPClassifier.predict``, the fitted network's
``model_.predict(x, verbose=0)`` and its plain call ``model_(x)``.

    python benchmarks/bench_latency.py --backend tensorflow,jax
"""

import statistics
import time
import warnings

from _common import (
    fmt,
    load_average,
    make_parser,
    quiet_environment,
    run,
    source_state,
    write_report,
)

SIZES = (1, 10, 1000)
CANDIDATES = (
    "skce predict",
    "MLPClassifier predict",
    "Keras model.predict",
    "Keras model(x)",
)


def _median_ms(call, calls: int) -> float:
    for _ in range(20):
        call()
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def measure(args) -> list:
    import keras
    import numpy as np
    from sklearn.datasets import load_digits
    from sklearn.neural_network import MLPClassifier

    from skce import SparseCEMLPClassifier

    X, y = load_digits(return_X_y=True)
    X = (X / 16).astype("float32")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = SparseCEMLPClassifier(
            hidden_layer_sizes=(100,), epochs=5, random_state=0
        ).fit(X, y)
        mlp = MLPClassifier(hidden_layer_sizes=(100,), max_iter=5, random_state=0)
        mlp.fit(X, y)
    rng = np.random.RandomState(0)
    rows = []
    for n in SIZES:
        x = X[rng.randint(0, len(X), n)]
        batched = clf.predict(np.concatenate([x, X]))[:n]
        assert (clf.predict(x) == batched).all(), "one-row answers differ"
        calls = {
            "skce predict": lambda x=x: clf.predict(x),
            "MLPClassifier predict": lambda x=x: mlp.predict(x),
            "Keras model.predict": lambda x=x: clf.model_.predict(x, verbose=0),
            "Keras model(x)": lambda x=x: keras.ops.convert_to_numpy(clf.model_(x)),
        }
        for name in CANDIDATES:
            rows.append(
                {
                    "backend": keras.backend.backend(),
                    "rows": n,
                    "candidate": name,
                    "median_ms": _median_ms(calls[name], args.calls),
                    "source": source_state(),
                    "load": load_average(),
                }
            )
    return rows


def report(rows) -> None:
    table = []
    for backend in dict.fromkeys(r["backend"] for r in rows):
        for n in SIZES:
            by = {
                r["candidate"]: r["median_ms"]
                for r in rows
                if r["backend"] == backend and r["rows"] == n
            }
            base = by["MLPClassifier predict"]
            table.append(
                [backend, n]
                + [fmt(by[c]) for c in CANDIDATES]
                + [fmt(by["skce predict"] / base, 2)]
            )
    write_report(
        "latency",
        "Prediction latency on digits, one hidden layer of 100 units",
        [
            (
                "Median time per call (ms)",
                ["backend", "rows", *CANDIDATES, "skce ÷ MLPClassifier"],
                table,
            )
        ],
        [
            "Median of many calls after 20 untimed ones; every candidate in the "
            "same process, one after the other.",
            "The 2-core CPU was shared with other work while this ran: load "
            f"average {min(r['load'] for r in rows)} to "
            f"{max(r['load'] for r in rows)}; single calls of a few hundred "
            "microseconds are sensitive to it, so compare ratios within a row.",
            "skce's one-row answers are checked equal to those of the batched "
            "path before timing.",
        ],
        rows,
    )


if __name__ == "__main__":
    quiet_environment()
    parser = make_parser(__doc__.splitlines()[0], repeats=None)
    parser.add_argument("--calls", type=int, default=400, help="Timed calls each.")
    run(parser.parse_args(), "latency", measure, report)
