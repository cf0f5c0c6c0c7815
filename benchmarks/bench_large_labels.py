"""Many classes: peak memory of sparse labels (skce) against one-hot labels (Keras).

100 000 samples x 32 random float32 features, random integer labels over
20 000 classes (every class appears). skce's SparseCEClassifier (model=None:
one Dense(32 -> 20 000) layer, logits) trains one epoch at batch 1024 and
predicts. The one-hot approach, what keras.wrappers.SKLearnClassifier does,
is the same layer with a softmax, trained with categorical_crossentropy on
``keras.utils.to_categorical`` targets and predicted with ``model.predict``
then argmax. Its n x 20 000 float64 label matrix would alone take 16 GB at
n = 100 000, so it runs at smaller n and its peak memory and time are
extrapolated linearly to 100 000.

Each candidate runs in a fresh process, so the whole-process peak resident
memory (``ru_maxrss``) of one never includes another's.

    python benchmarks/bench_large_labels.py --backend tensorflow,jax
"""

import time

from _common import (
    bar_plot,
    make_parser,
    peak_rss_mb,
    per_candidate,
    quiet_environment,
    run,
    write_report,
)

N_FEATURES = 32
N_CLASSES = 20_000
BATCH_SIZE = 1024
TARGET_MB = 3 * 1024  # 3 GiB, in the MiB ru_maxrss reports

SKCE = "skce SparseCEClassifier (sparse int labels)"
FLOOR = "skce on a toy problem (runtime floor)"
ONEHOT = "Keras one-hot (to_categorical + categorical_crossentropy)"
NAMES = {"skce": SKCE, "onehot": ONEHOT}


def make_data(n: int, n_classes: int):
    import numpy as np

    rng = np.random.RandomState(0)
    X = rng.standard_normal((n, N_FEATURES)).astype(np.float32)
    y = rng.randint(0, n_classes, n)
    covered = min(n, n_classes)
    y[:covered] = np.arange(covered)
    return X, y


def run_candidate(candidate: str) -> dict:
    """Fit one epoch and predict, in this (fresh) process; report time and RSS.

    ``candidate`` is ``"kind:n:n_classes"``, kind being skce or onehot.
    """
    import keras
    import numpy as np

    kind, n, n_classes = candidate.split(":")
    n, n_classes = int(n), int(n_classes)
    X, y = make_data(n, n_classes)
    rss_data = peak_rss_mb()
    start = time.perf_counter()
    if kind == "onehot":
        keras.utils.set_random_seed(0)
        model = keras.Sequential(
            [
                keras.Input((N_FEATURES,)),
                keras.layers.Dense(n_classes, activation="softmax"),
            ]
        )
        model.compile(
            optimizer=keras.optimizers.Adam(0.01), loss="categorical_crossentropy"
        )
        targets = keras.utils.to_categorical(y, n_classes)
        model.fit(X, targets, epochs=1, batch_size=BATCH_SIZE, verbose=0)
        fit_s = time.perf_counter() - start
        rss_fit = peak_rss_mb()
        start = time.perf_counter()
        predicted = np.argmax(model.predict(X, batch_size=BATCH_SIZE, verbose=0), 1)
    else:
        from skce import SparseCEClassifier

        clf = SparseCEClassifier(epochs=1, batch_size=BATCH_SIZE, random_state=0)
        clf.fit(X, y)
        fit_s = time.perf_counter() - start
        rss_fit = peak_rss_mb()
        start = time.perf_counter()
        predicted = clf.predict(X)
    predict_s = time.perf_counter() - start
    return {
        "backend": keras.backend.backend(),
        "kind": kind,
        "candidate": NAMES[kind] if n_classes == N_CLASSES else FLOOR,
        "n": n,
        "n_classes": n_classes,
        "fit_s": fit_s,
        "predict_s": predict_s,
        "rss_data_mb": rss_data,
        "rss_fit_mb": rss_fit,
        "peak_rss_mb": peak_rss_mb(),
        "train_accuracy": float((predicted == y).mean()),
    }


def measure(args) -> list:
    plan = ["skce:1000:2"]
    plan += [f"skce:{n}:{N_CLASSES}" for n in args.skce_n]
    plan += [f"onehot:{n}:{N_CLASSES}" for n in args.onehot_n]
    rows = per_candidate(args, plan, run_candidate)
    if args.candidate is None:
        for row in rows:
            print(
                f"{row['backend']:<10} {row['candidate']:<58} n={row['n']:>6}  "
                f"fit {row['fit_s']:7.1f} s  predict {row['predict_s']:6.1f} s  "
                f"peak RSS {row['peak_rss_mb']:7.0f} MB",
                flush=True,
            )
    return rows


def _extrapolate(rows, key, n):
    """Least-squares line through (row n, row key), evaluated at ``n``."""
    import numpy as np

    xs = np.array([r["n"] for r in rows], dtype=float)
    ys = np.array([r[key] for r in rows], dtype=float)
    slope, intercept = np.polyfit(xs, ys, 1)
    return float(slope * n + intercept), float(slope)


def report(rows) -> None:
    table, targets, bars = [], [], []
    n_target = max(r["n"] for r in rows if r["kind"] == "skce")
    for backend in dict.fromkeys(r["backend"] for r in rows):
        mine = [r for r in rows if r["backend"] == backend]
        for r in mine:
            table.append(
                [
                    backend,
                    r["candidate"],
                    f"{r['n']:,}",
                    f"{r['n_classes']:,}",
                    f"{r['fit_s']:.1f}",
                    f"{r['predict_s']:.1f}",
                    f"{r['rss_data_mb']:.0f}",
                    f"{r['rss_fit_mb']:.0f}",
                    f"**{r['peak_rss_mb']:.0f}**",
                    "measured",
                ]
            )
            bars.append(
                (
                    f"{r['candidate'].split(' (')[0]}, n={r['n']:,}",
                    r["peak_rss_mb"],
                    backend,
                )
            )
        onehot = [r for r in mine if r["kind"] == "onehot"]
        if len(onehot) >= 2:
            peak, slope = _extrapolate(onehot, "peak_rss_mb", n_target)
            fit_s, _ = _extrapolate(onehot, "fit_s", n_target)
            predict_s, _ = _extrapolate(onehot, "predict_s", n_target)
            sizes = ", ".join(f"{r['n']:,}" for r in onehot)
            table.append(
                [
                    backend,
                    f"{ONEHOT}, *extrapolated*",
                    f"{n_target:,}",
                    f"{N_CLASSES:,}",
                    f"*{fit_s:.0f}*",
                    f"*{predict_s:.0f}*",
                    "—",
                    "—",
                    f"***{peak:.0f}***",
                    f"linear fit over n = {sizes} "
                    f"({slope * 1000:.0f} MB per 1000 samples)",
                ]
            )
            bars.append(
                (f"one-hot, n={n_target:,} (extrapolated)", peak, backend, True)
            )
        skce = [r for r in mine if r["candidate"] == SKCE and r["n"] == n_target]
        if skce:
            peak = skce[0]["peak_rss_mb"]
            targets.append(
                [
                    backend,
                    f"skce whole-process peak RSS <= 3 GiB at n={n_target:,}",
                    f"{peak:.0f} MB ({peak / TARGET_MB:.2f} of the bound)",
                    "met" if peak <= TARGET_MB else "missed",
                ]
            )
            print(f"[{backend}] skce peak RSS / 3 GiB: {peak / TARGET_MB:.2f}")
    label_gb = n_target * N_CLASSES * 8 / 1e9
    notes = [
        "Times are wall-clock seconds of one `fit` (1 epoch, batch "
        f"{BATCH_SIZE}, including building the model and compiling) and of "
        "one `predict` over the training set; one run each, in a fresh "
        "process, so both include tracing/compilation.",
        "RSS columns are the process's peak resident memory in MB (MiB, from "
        "`resource.getrusage(...).ru_maxrss`) after creating the data, after "
        "fit, and at the end (the whole-process peak), each candidate in its "
        "own process. The floor row shows what the Python process, Keras and "
        "the backend take before any large array exists.",
        f"*Extrapolated* rows are not measurements: a straight line fitted to "
        f"the one-hot runs at smaller n, evaluated at n={n_target:,}. The "
        f"one-hot label matrix alone (n x {N_CLASSES:,} float64, what "
        f"to_categorical and SKLearnClassifier's OneHotEncoder return) is "
        f"{label_gb:.1f} GB at n={n_target:,}, and model.predict adds an "
        f"n x {N_CLASSES:,} float32 probability matrix "
        f"({n_target * N_CLASSES * 4 / 1e9:.1f} GB) before the argmax.",
        "The one-hot runs below n=20,000 cannot contain every class; the "
        "network still has 20,000 outputs and the label matrix 20,000 "
        "columns, so memory and time are those of the 20,000-class problem.",
        "Labels are random, so the accuracy of either model is near chance; "
        "only time and memory are compared.",
    ]
    write_report(
        "large_labels",
        f"{N_CLASSES:,} classes: time and whole-process peak memory",
        [
            (
                "Time and peak resident memory",
                [
                    "backend",
                    "candidate",
                    "n",
                    "classes",
                    "fit (s)",
                    "predict (s)",
                    "RSS after data (MB)",
                    "peak after fit (MB)",
                    "peak RSS (MB)",
                    "how",
                ],
                table,
            ),
            ("Target", ["backend", "target", "measured", "verdict"], targets),
        ],
        notes,
        rows,
    )
    bar_plot(
        "large_labels",
        f"{N_CLASSES:,} classes, 1 epoch + predict: whole-process peak RSS",
        "MB (log scale)",
        bars,
        log=True,
    )


def main() -> None:
    quiet_environment()
    parser = make_parser(__doc__.splitlines()[0], repeats=None)
    parser.add_argument(
        "--skce-n",
        type=int,
        nargs="+",
        default=(50_000, 100_000),
        help="Sample counts to run skce at (default 50000 100000).",
    )
    parser.add_argument(
        "--onehot-n",
        type=int,
        nargs="+",
        default=(2_000, 4_000, 8_000),
        help="Sample counts to run the one-hot approach at (default 2000 4000 "
        "8000); its memory is extrapolated from them.",
    )
    args = parser.parse_args()
    run(args, "large_labels", measure, report)


if __name__ == "__main__":
    main()
