"""First fit of a fresh process, and a warm search, on TensorFlow and JAX.

Two things users wait for on every run. *First fit*: a new Python process
imports skce, then fits the seed task's MLP (make_blobs, 500 samples, Dense(50)
with SGD(0.01, momentum 0.9), batch 32, 100 epochs, float32 X) once; the import
and the fit are timed separately, over ``--repeats`` fresh processes. On JAX
three ways, interleaved: with skce's persistent compilation cache off
(``SKCE_JAX_CACHE=0``), with a cold cache (an empty folder: the first process
on a machine) and with a warm one (a folder an earlier process filled: every
later script, loky or dask worker). *Search*:
GridSearchCV over 4 candidates x 3 folds on a StandardScaler + classifier
Pipeline on scikit-learn's digits (float32), skce against MLPClassifier at
equal epochs (its convergence stopping off, so both train every epoch).

    python benchmarks/bench_first_fit.py --backend tensorflow,jax
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings

from _common import (
    fmt,
    make_parser,
    quiet_environment,
    run,
    source_state,
    write_report,
)

EPOCHS = 100
SEARCH_EPOCHS = 50
GRID = {"clf__alpha": [1e-4, 1e-3], "clf__hidden_layer_sizes": [(50,), (100,)]}

_FIRST_FIT = """
import time
start = time.perf_counter()
import numpy as np
import keras
from sklearn.datasets import make_blobs
from skce import SparseCEMLPClassifier
imported = time.perf_counter() - start
X, y = make_blobs(n_samples=1000, centers=3, n_features=2, cluster_std=2,
                  random_state=2)
X = X.astype(np.float32)
def fit():
    clf = SparseCEMLPClassifier(
        (50,), epochs={epochs}, batch_size=32, n_iter_no_change={epochs},
        optimizer=keras.optimizers.SGD(learning_rate=0.01, momentum=0.9),
        random_state=0)
    return clf.fit(X[:500], y[:500])
# Seconds the first fit spends in full (generation 2) garbage collections:
# they scan every object the imports made, wherever the threshold falls.
import gc
full = []
def _gc(phase, info):
    if info["generation"] == 2:
        full.append(time.perf_counter() * (1 if phase == "stop" else -1))
gc.callbacks.append(_gc)
start = time.perf_counter()
fit()
first = time.perf_counter() - start
gc.callbacks.remove(_gc)
full_gc = sum(full)
start = time.perf_counter()
fit()
second = time.perf_counter() - start
# The split of a warm fit: a fixed part (building, tracing or looking up the
# compiled epoch, moving the data) and a per-epoch part.
def timed(epochs):
    clf = SparseCEMLPClassifier(
        (50,), epochs=epochs, batch_size=32, n_iter_no_change=None,
        optimizer=keras.optimizers.SGD(learning_rate=0.01, momentum=0.9),
        random_state=0)
    start = time.perf_counter()
    clf.fit(X[:500], y[:500])
    return time.perf_counter() - start
one = sorted(timed(1) for _ in range(5))[2]
many = sorted(timed(101) for _ in range(5))[2]
per_epoch = (many - one) / 100
print("RESULT", imported, first, second, one - per_epoch, per_epoch, full_gc)
"""


def _first_fit_run(env: dict) -> list:
    """Import, first-fit and warm-fit times of one fresh process."""
    out = subprocess.run(
        [sys.executable, "-c", _FIRST_FIT.format(epochs=EPOCHS)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **env},
    ).stdout
    line = next(li for li in out.splitlines() if li.startswith("RESULT"))
    return [float(v) for v in line.split()[1:]]


def first_fit(repeats: int, variants: dict) -> dict:
    """Per variant (name: environment), times over fresh processes, interleaved."""
    runs = {name: [] for name in variants}
    for _ in range(repeats):
        for name, env in variants.items():
            runs[name].append(_first_fit_run(env()))
    result = {}
    for name, rows in runs.items():
        columns = list(zip(*rows, strict=True))
        result[name] = {
            "import_s": [round(v, 3) for v in columns[0]],
            "first_fit_s": [round(v, 3) for v in columns[1]],
            "second_fit_s": [round(v, 3) for v in columns[2]],
            "warm_fixed_s": [round(v, 4) for v in columns[3]],
            "warm_per_epoch_s": [round(v, 5) for v in columns[4]],
            "first_fit_full_gc_s": [round(v, 3) for v in columns[5]],
        }
    return result


def search(repeats: int) -> dict:
    """GridSearchCV wall times, skce (cold then warm) and MLPClassifier."""
    import numpy as np
    from sklearn.datasets import load_digits
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import GridSearchCV
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from skce import SparseCEMLPClassifier

    X, y = load_digits(return_X_y=True)
    X = X.astype(np.float32)

    def timed(clf):
        pipe = Pipeline([("scale", StandardScaler()), ("clf", clf)])
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            found = GridSearchCV(pipe, GRID, cv=3).fit(X, y)
        return time.perf_counter() - start, float(found.best_score_)

    def skce():
        return SparseCEMLPClassifier(
            epochs=SEARCH_EPOCHS, n_iter_no_change=SEARCH_EPOCHS, random_state=0
        )

    def mlp():
        return MLPClassifier(
            max_iter=SEARCH_EPOCHS, n_iter_no_change=SEARCH_EPOCHS, random_state=0
        )

    cold, skce_score = timed(skce())
    warm = [timed(skce())[0] for _ in range(repeats)]
    mlp_runs = [timed(mlp()) for _ in range(repeats)]
    return {
        "skce_cold_s": round(cold, 3),
        "skce_warm_s": [round(v, 3) for v in warm],
        "skce_best_score": skce_score,
        "mlp_s": [round(t, 3) for t, _ in mlp_runs],
        "mlp_best_score": mlp_runs[-1][1],
    }


def measure(args) -> list:
    import keras

    backend = keras.backend.backend()
    variants = {backend: dict}
    if backend == "jax":
        warm = tempfile.mkdtemp(prefix="skce-jax-cache-")
        _first_fit_run({"SKCE_JAX_CACHE": warm})  # fills the warm cache
        variants = {
            "jax, cache off": lambda: {"SKCE_JAX_CACHE": "0"},
            "jax, cold cache": lambda: {
                "SKCE_JAX_CACHE": tempfile.mkdtemp(prefix="skce-jax-cache-")
            },
            "jax, warm cache": lambda: {"SKCE_JAX_CACHE": warm},
        }
    rows = [
        {"backend": name, "source": source_state(), **times}
        for name, times in first_fit(args.repeats, variants).items()
    ]
    rows[0].update(search(args.repeats))
    for row in rows:
        print(json.dumps(row), flush=True)
    return rows


def report(rows) -> None:
    med = statistics.median
    first_rows, search_rows, target_rows = [], [], []
    tf_first = next(
        (med(r["first_fit_s"]) for r in rows if r["backend"] == "tensorflow"), None
    )
    for r in rows:
        runs = ", ".join(map(str, r["first_fit_s"]))
        first_rows.append(
            [
                r["backend"],
                fmt(med(r["import_s"])),
                f"**{fmt(med(r['first_fit_s']))}** ({runs})",
                fmt(med(r["first_fit_full_gc_s"])),
                fmt(med(r["second_fit_s"])),
                fmt(med(r["warm_fixed_s"])),
                fmt(1000 * med(r["warm_per_epoch_s"])),
            ]
        )
        first = med(r["first_fit_s"])
        bound = {"jax, cold cache": 2.0, "jax, warm cache": 1.2}.get(r["backend"])
        if bound is not None and tf_first is not None:
            target_rows.append(
                [
                    r["backend"],
                    f"first fit <= {bound} x TensorFlow's",
                    fmt(first / tf_first),
                    "met" if first <= bound * tf_first else "missed",
                ]
            )
        if "skce_warm_s" not in r:
            continue
        ratio = med(r["skce_warm_s"]) / med(r["mlp_s"])
        search_rows.append(
            [
                r["backend"],
                fmt(r["skce_cold_s"]),
                f"**{fmt(med(r['skce_warm_s']))}**",
                fmt(med(r["mlp_s"])),
                fmt(ratio),
                f"{r['skce_best_score']:.3f} / {r['mlp_best_score']:.3f}",
            ]
        )
        target_rows.append(
            [
                r["backend"],
                "warm search <= 1.0 x MLPClassifier's",
                fmt(ratio),
                "met" if ratio <= 1.0 else "missed",
            ]
        )
    notes = [
        "First fit: each row is the median over fresh processes (each value "
        "listed); *import* is `import skce` with Keras and the backend, "
        "*first fit* the first `fit` after it (tracing or XLA compilation "
        "included), *second fit* a fresh estimator's fit in the same process. "
        "The split of a warm fit comes from timing warm fits of 1 and 101 "
        "epochs (medians of 5): the per-epoch part is their difference over "
        "100, the fixed part (network building, finding the compiled epoch, "
        "moving the data) the rest.",
        "JAX rows: *cache off* compiles everything in every process; *cold "
        "cache* starts from an empty cache folder (the first process on a "
        "machine, which also writes the cache); *warm cache* reads a folder an "
        "earlier process filled (what every later script and worker gets with "
        "the default settings). The variants run interleaved, one process "
        "each, per repeat.",
        "Search: `GridSearchCV(cv=3)` over alpha x hidden_layer_sizes (4 "
        f"candidates, 12 fits plus the refit), {SEARCH_EPOCHS} epochs each, "
        "batch 'auto' (200). *cold* is the first search in the process; "
        "*warm* the median of the following ones (compiled epochs reused "
        "across candidates and folds of the same architecture).",
        "MLPClassifier runs with its numpy/BLAS defaults on the same CPU, "
        "side by side in the same process.",
        "*of which full GC*: the median seconds the first fit spent in "
        "Python's full (generation 2) garbage collections. A full collection "
        "scans every object in the process, most of them made by importing "
        "Keras and the backend; it runs once enough objects have been made "
        "since the last one, so whether it falls in the first fit or in the "
        "import depends on the import, not on the fit.",
        "A cold cache's first fit is mostly XLA compiling the epoch's program "
        "for this CPU, which the first process on a machine cannot skip. "
        "skce compiles its programs on a CPU with XLA's classic fusion "
        "emitters (`xla_cpu_use_fusion_emitters=False`), which compile an "
        "epoch faster than XLA's default ones and train to the same weights "
        "in skce's tests. skce's MLP draws its initial weights in NumPy and its "
        "training arrays go to the device with `jax.device_put`, and the "
        "zeroed slots of the optimizers skce names are made the same way, so "
        "none of them compiles a program.",
    ]
    write_report(
        "first_fit",
        "First fit of a process, and a warm GridSearchCV",
        [
            (
                "First fit in a fresh process (seconds)",
                [
                    "backend",
                    "import",
                    "first fit (runs)",
                    "of which full GC",
                    "second fit",
                    "warm fit: fixed part",
                    "warm fit: ms per epoch",
                ],
                first_rows,
            ),
            (
                "GridSearchCV, 4 candidates x 3 folds, digits (seconds)",
                [
                    "backend",
                    "skce cold",
                    "skce warm",
                    "MLPClassifier",
                    "skce warm ÷ MLPClassifier",
                    "best CV score skce / MLP",
                ],
                search_rows,
            ),
            ("Targets", ["backend", "target", "measured", "verdict"], target_rows),
        ],
        notes,
        rows,
    )


def main() -> None:
    quiet_environment()
    parser = make_parser(__doc__.splitlines()[0])
    args = parser.parse_args()
    run(args, "first_fit", measure, report)


if __name__ == "__main__":
    main()
