"""partial_fit over equal chunks against one fit of the same data and epochs.

make_classification: 100 000 training samples x 20 features (10
informative), 10 classes, float32, and 20 000 more to test on. The network is
SparseCEMLPClassifier((64,)), Adam, batch 200. One epoch of *partial_fit* is
100 calls on consecutive chunks of 1 000 rows, each call one epoch over its
chunk; *fit* trains the whole set for the same number of epochs
(``n_iter_no_change=epochs``, so it trains them all). Both run for 1 and for 3
epochs, each (method, epochs) in a fresh process: once cold, then
``--repeats`` times with a fresh estimator.

Besides the times, the script counts the compiled training code after each
call, to check that no call after the first retraces or recompiles: on JAX
the XLA compilations (``jax.monitoring``) and the entries of skce's compiled
epoch cache, on TensorFlow the tracing count of the cached epoch and step
functions.

    python benchmarks/bench_partial_fit.py --backend tensorflow,jax
    python benchmarks/bench_partial_fit.py --backend tensorflow,jax --n 5000 \\
        --repeats 1 --results /tmp/partial-fit-trial       # a quick trial run
"""

import statistics
import time

from _common import (
    bar_plot,
    fmt,
    make_parser,
    per_candidate,
    quiet_environment,
    run,
    write_report,
)

N_FEATURES = 20
N_INFORMATIVE = 10
N_CLASSES = 10
HIDDEN = (64,)
BATCH_SIZE = 200

PARTIAL = "partial_fit"
FIT = "fit"


def make_data(n: int, n_test: int):
    import numpy as np
    from sklearn.datasets import make_classification

    X, y = make_classification(
        n_samples=n + n_test,
        n_features=N_FEATURES,
        n_informative=N_INFORMATIVE,
        n_classes=N_CLASSES,
        random_state=0,
    )
    X = X.astype(np.float32)
    return X[:n], y[:n], X[n:], y[n:]


class CompileCounter:
    """What the backend has compiled so far, read before and after each call.

    JAX: XLA compilations in this process (a ``jax.monitoring`` listener) and
    entries in skce's cache of compiled epochs. TensorFlow: how many times
    every epoch and step function ever seen in the cache was traced, and the
    cache entries. Functions that left the cache still count (they are held
    here), so a fresh trace stored over an old one under the same key shows
    as one more tracing, not as the same count.
    """

    def __init__(self, backend: str):
        self.backend = backend
        self.xla_compiles = 0
        self.traced_seen = {}
        if backend == "jax":
            import jax

            def count(event, duration, **kwargs):
                if event == "/jax/core/compile/backend_compile_duration":
                    self.xla_compiles += 1

            jax.monitoring.register_event_duration_secs_listener(count)

    def read(self) -> dict:
        if self.backend == "jax":
            from skce._engine import _jax

            return {
                "XLA compilations": self.xla_compiles,
                "compiled epochs cached": len(_jax._EPOCH_CACHE),
            }
        from skce._engine import _tensorflow

        traced = list(_tensorflow._EPOCH_CACHE.values())
        self.traced_seen.update((id(t), t) for t in traced)
        return {
            "epoch and step tracings": sum(
                t.epochs.experimental_get_tracing_count()
                + t.batch.experimental_get_tracing_count()
                for t in self.traced_seen.values()
            ),
            "traced epochs cached": len(traced),
        }


def _added(before: dict, after: dict) -> dict:
    return {name: after[name] - before[name] for name in after}


def train(kind, epochs, X, y, counter, chunks):
    """One fresh estimator trained by ``kind``; returns it, times and counts."""
    import numpy as np

    from skce import SparseCEMLPClassifier

    clf = SparseCEMLPClassifier(
        HIDDEN,
        epochs=epochs,
        n_iter_no_change=epochs,
        batch_size=BATCH_SIZE,
        random_state=0,
    )
    before = counter.read()
    start = time.perf_counter()
    if kind == FIT:
        clf.fit(X, y)
        total = time.perf_counter() - start
        return clf, {"total_s": total, "added": _added(before, counter.read())}
    classes = np.arange(N_CLASSES)
    calls, after_first = [], None
    for _ in range(epochs):
        for X_chunk, y_chunk in zip(
            np.split(X, chunks), np.split(y, chunks), strict=True
        ):
            call = time.perf_counter()
            clf.partial_fit(X_chunk, y_chunk, classes=classes)
            calls.append(time.perf_counter() - call)
            if after_first is None:
                after_first = counter.read()
    total = time.perf_counter() - start
    return clf, {
        "total_s": total,
        "calls_s": calls,
        "added_first_call": _added(before, after_first),
        "added_after_first_call": _added(after_first, counter.read()),
    }


def measure_one(args, candidate: str) -> dict:
    """Train cold, then ``args.repeats`` times, in this (fresh) process."""
    import keras

    kind, epochs = candidate.split(":")
    epochs = int(epochs)
    if args.n % args.chunks:
        raise SystemExit(
            f"--n must split into --chunks equal chunks. Received: --n {args.n} "
            f"--chunks {args.chunks}."
        )
    X, y, X_test, y_test = make_data(args.n, max(args.n // 5, 1000))
    backend = keras.backend.backend()
    counter = CompileCounter(backend)
    runs = []
    for _ in range(1 + args.repeats):
        clf, result = train(kind, epochs, X, y, counter, args.chunks)
        runs.append(result)
    row = {
        "backend": backend,
        "kind": kind,
        "epochs": epochs,
        "n": args.n,
        "chunks": args.chunks,
        "cold": runs[0],
        "warm": runs[1:],
        "cold_s": runs[0]["total_s"],
        "median_s": statistics.median(r["total_s"] for r in runs[1:] or runs),
        "epochs_run": int(clf.n_iter_),
        "accuracy": float((clf.predict(X_test) == y_test).mean()),
    }
    print(
        f"{backend:<10} {kind:<11} epochs={epochs}  cold {row['cold_s']:6.2f} s  "
        f"median {row['median_s']:6.2f} s  accuracy {row['accuracy']:.3f}  "
        f"compiled after the first call: {runs[0].get('added_after_first_call')}",
        flush=True,
    )
    return row


def measure(args) -> list:
    names = [f"{kind}:{e}" for e in args.epochs for kind in (FIT, PARTIAL)]
    return per_candidate(args, names, lambda name: measure_one(args, name))


def _counts(added: dict) -> str:
    return ", ".join(f"{name} {value:+d}" for name, value in added.items())


def report(rows) -> None:
    med = statistics.median
    totals, calls, checks, bars = [], [], [], []
    n, chunks = rows[0]["n"], rows[0]["chunks"]
    for backend in dict.fromkeys(r["backend"] for r in rows):
        for epochs in dict.fromkeys(r["epochs"] for r in rows):
            by = {
                r["kind"]: r
                for r in rows
                if r["backend"] == backend and r["epochs"] == epochs
            }
            fit, part = by[FIT], by[PARTIAL]
            totals.append(
                [
                    backend,
                    str(epochs),
                    f"{fit['cold_s']:.2f}",
                    f"**{fit['median_s']:.2f}**",
                    f"{part['cold_s']:.2f}",
                    f"**{part['median_s']:.2f}**",
                    f"**{fmt(part['median_s'] / fit['median_s'])}**",
                    fmt(part["cold_s"] / fit["cold_s"]),
                    f"{fit['accuracy']:.3f} / {part['accuracy']:.3f}",
                ]
            )
            cold_calls = part["cold"]["calls_s"]
            warm_calls = [t for run in part["warm"] for t in run["calls_s"][1:]]
            later = med(warm_calls or cold_calls[1:])
            per_chunk = fit["median_s"] / (chunks * epochs)
            calls.append(
                [
                    backend,
                    str(epochs),
                    str(len(cold_calls)),
                    f"{cold_calls[0]:.3f}",
                    f"{med(cold_calls[1:]):.4f}",
                    f"**{later:.4f}**",
                    f"{per_chunk:.4f}",
                    f"{later - per_chunk:.4f}",
                ]
            )
            added = part["cold"]["added_after_first_call"]
            # A warm run's fresh estimator reuses the cold run's code from
            # its first call on.
            warm = [
                counts
                for run in part["warm"]
                for counts in (run["added_first_call"], run["added_after_first_call"])
                if any(counts.values())
            ]
            checks.append(
                [
                    backend,
                    str(epochs),
                    _counts(part["cold"]["added_first_call"]),
                    _counts(added),
                    "; ".join(map(_counts, warm)) or ("none" if part["warm"] else "—"),
                    "recompiled"
                    if warm or any(added.values())
                    else "**no retrace or recompile**",
                ]
            )
            for r in (fit, part):
                bars.append((f"{r['kind']}, {epochs} epoch(s)", r["median_s"], backend))
            print(
                f"[{backend}] {epochs} epoch(s): partial_fit / fit "
                f"{part['median_s'] / fit['median_s']:.2f}, call after the first "
                f"{later * 1000:.1f} ms"
            )
    chunk_steps = -(-(n // chunks) // BATCH_SIZE)
    fit_steps = -(-n // BATCH_SIZE)
    notes = [
        f"{n:,} training samples in {chunks} chunks of {n // chunks:,} rows; "
        f"batch {BATCH_SIZE}, so each partial_fit call runs {chunk_steps} "
        f"step(s) and an epoch of partial_fit ({chunks} calls) "
        f"{chunks * chunk_steps}; fit runs {fit_steps} steps per epoch, with "
        "`n_iter_no_change` equal to its epochs so that it trains them all.",
        "*cold* is the first run in its process (tracing / XLA compilation "
        "included); *median* is over the following runs, each with a fresh "
        "estimator, which reuse the compiled code of the architecture. Each "
        "(method, epochs) runs in a process of its own.",
        "Per call: *first call* is the cold run's first partial_fit call (it "
        "builds the network and compiles); the medians are over the calls "
        "after the first. *fit, per chunk of rows* is fit's median time "
        "divided by the number of chunks it trains through (chunks x "
        "epochs); the difference is the fixed cost of a call, everything "
        "it does besides training its rows (not broken down here).",
        "Compiled code: the counters are read before the first call, after "
        "it, and after the last. "
        "On JAX, *XLA compilations* counts every compilation in the process "
        "(training, inference and small array operations alike) and *compiled "
        "epochs cached* the entries of skce's cache; on TensorFlow, *epoch and "
        "step tracings* sums the tracing counts of every cached `tf.function` seen "
        "so far, evicted ones included. "
        "A non-zero count after the first call means a retrace or recompile.",
        "Test accuracy is on 20 % more samples from the same distribution; "
        "fit and partial_fit see the same rows the same number of times, but "
        "in different mini-batches"
        + (
            ", so their accuracies differ a little."
            if chunks * chunk_steps == fit_steps
            else " and a different number of steps, so their accuracies differ."
        ),
    ]
    write_report(
        "partial_fit",
        f"partial_fit over {chunks} equal chunks against fit, same data and epochs",
        [
            (
                "Total training time (s)",
                [
                    "backend",
                    "epochs",
                    "fit cold",
                    "fit median",
                    "partial_fit cold",
                    "partial_fit median",
                    "partial_fit ÷ fit (median)",
                    "(cold)",
                    "test acc. fit / partial_fit",
                ],
                totals,
            ),
            (
                "partial_fit calls (s)",
                [
                    "backend",
                    "epochs",
                    "calls",
                    "first call (cold)",
                    "later calls, cold run (median)",
                    "later calls, warm runs (median)",
                    "fit, per chunk of rows",
                    "overhead per call",
                ],
                calls,
            ),
            (
                "Compiled code after the first partial_fit call (check)",
                [
                    "backend",
                    "epochs",
                    "added by the first call (cold run)",
                    "added by the later calls (cold run)",
                    "added in warm runs",
                    "verdict",
                ],
                checks,
            ),
        ],
        notes,
        rows,
    )
    bar_plot(
        "partial_fit",
        f"{n:,} x {N_FEATURES}, MLP {HIDDEN}: partial_fit over {chunks} chunks "
        "against fit, median total time (lower is better)",
        "seconds",
        bars,
    )


def main() -> None:
    quiet_environment()
    parser = make_parser(__doc__.splitlines()[0])
    parser.add_argument(
        "--n", type=int, default=100_000, help="Training samples (default 100000)."
    )
    parser.add_argument(
        "--chunks",
        type=int,
        default=100,
        help="partial_fit calls per epoch; --n must divide evenly (default 100).",
    )
    parser.add_argument(
        "--epochs",
        type=int,
        nargs="+",
        default=(1, 3),
        help="Epoch counts to compare at (default 1 3).",
    )
    args = parser.parse_args()
    run(args, "partial_fit", measure, report)


if __name__ == "__main__":
    main()
