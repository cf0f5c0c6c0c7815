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
    load_note,
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
        whole = np.concatenate([x, X])
        assert (clf.predict(x) == clf.predict(whole)[:n]).all(), "labels differ"
        np.testing.assert_allclose(
            clf.predict_proba(x), clf.predict_proba(whole)[:n], rtol=1e-5, atol=1e-7
        )
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
            load_note(min(r["load"] for r in rows), max(r["load"] for r in rows))
            + " Calls of a fraction of a millisecond are sensitive to load.",
            "skce's answers for each size are checked against those of the "
            "same rows inside one large batch (compiled path) before timing: "
            "the same labels, probabilities within 1e-5.",
            "skce computes requests of up to 64 rows through a plain dense "
            "network in NumPy, from the weights the backend holds (read at "
            "every call); 1,000 rows take the compiled path.",
        ],
        rows,
    )


if __name__ == "__main__":
    quiet_environment()
    parser = make_parser(__doc__.splitlines()[0], repeats=None)
    parser.add_argument("--calls", type=int, default=400, help="Timed calls each.")
    run(parser.parse_args(), "latency", measure, report)
