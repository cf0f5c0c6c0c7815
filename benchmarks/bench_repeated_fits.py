"""Memory over many fits in one process, as a hyperparameter search makes them.

Fits a fresh SparseCEMLPClassifier((32,), epochs=5) ``--fits`` times on the
same data (make_blobs, 300 samples x 10 features, 3 classes), predicting after
each fit, in one process per backend, and records the resident memory (RSS)
after every fit. The growth after the first ``--warmup`` fits (one-time
tracing, compilation and caches) is what a long search would keep adding.

    python benchmarks/bench_repeated_fits.py --backend tensorflow,jax
    python benchmarks/bench_repeated_fits.py --backend tensorflow,jax --fits 12 \\
        --warmup 2 --results /tmp/repeated-fits-trial    # a quick trial run
"""

import gc
import time

from _common import (
    line_plot,
    make_parser,
    quiet_environment,
    rss_mb,
    run,
    source_state,
    write_report,
)

EPOCHS = 5
HIDDEN = (32,)


def measure(args) -> list:
    """Fit ``args.fits`` fresh estimators in this process; RSS after each."""
    import keras
    from sklearn.datasets import make_blobs

    from skce import SparseCEMLPClassifier

    if not 1 <= args.warmup < args.fits:
        raise SystemExit(
            "--warmup must be at least 1 and less than --fits. Received: "
            f"--warmup {args.warmup} --fits {args.fits}."
        )
    X, y = make_blobs(n_samples=300, n_features=10, centers=3, random_state=0)
    rss, objects = [], []
    start = time.perf_counter()
    for i in range(args.fits):
        clf = SparseCEMLPClassifier(
            HIDDEN, epochs=EPOCHS, n_iter_no_change=EPOCHS, random_state=i
        )
        clf.fit(X, y).predict(X)
        del clf
        gc.collect()
        rss.append(rss_mb())
        objects.append(len(gc.get_objects()))
    elapsed = time.perf_counter() - start
    row = {
        "backend": keras.backend.backend(),
        "fits": args.fits,
        "warmup": args.warmup,
        "seconds": elapsed,
        "rss_mb": rss,
        "python_objects": objects,
        "source": source_state(),
    }
    after = rss[args.warmup - 1]
    print(
        f"{row['backend']}: {args.fits} fits in {elapsed:.1f} s; RSS after "
        f"{args.warmup} fits {after:.0f} MiB, after {args.fits} {rss[-1]:.0f} MiB",
        flush=True,
    )
    return [row]


def report(rows) -> None:
    table = []
    for r in rows:
        warmup, fits, rss = r["warmup"], r["fits"], r["rss_mb"]
        growth = rss[-1] - rss[warmup - 1]
        per_fit = growth / (fits - warmup)
        objects = r["python_objects"]
        table.append(
            [
                r["backend"],
                str(fits),
                f"{r['seconds']:.1f}",
                f"{rss[0]:.0f}",
                f"{rss[warmup - 1]:.0f}",
                f"{rss[-1]:.0f}",
                f"{growth:.1f}",
                f"**{per_fit * 1024:.0f}**",
                f"{objects[warmup - 1]:,} → {objects[-1]:,}",
            ]
        )
        print(
            f"[{r['backend']}] growth after warm-up: {growth:.1f} MiB "
            f"({per_fit * 1024:.0f} KiB per fit)"
        )
    warmup, fits = rows[0]["warmup"], rows[0]["fits"]
    notes = [
        f"Each fit is a fresh `SparseCEMLPClassifier({HIDDEN}, epochs={EPOCHS})` "
        "(a new `random_state` each time, training every epoch) on the same "
        "300 x 10 make_blobs data, followed by `predict`; then the estimator "
        "is dropped and `gc.collect()` runs before the RSS is read "
        "(`psutil`, MiB).",
        f"*growth* is RSS after the last fit minus RSS after fit {warmup}, "
        "spread over the fits in between: the first fits trace or compile "
        "the epoch and inference code and fill skce's caches, which are "
        "bounded. Native allocators hand memory back to the system lazily, "
        "so small growth can be allocator slack rather than a leak; the "
        "figure shows whether it levels off.",
        "*Python objects* is `len(gc.get_objects())` after fit "
        f"{warmup} and after the last: a leak of models or graphs held from "
        "Python shows there.",
        "*time* is the whole loop, fits and predictions; it is not a target here.",
    ]
    write_report(
        "repeated_fits",
        f"Memory over {fits} fits in one process",
        [
            (
                "Resident memory (MiB) over repeated fits",
                [
                    "backend",
                    "fits",
                    "time (s)",
                    "after fit 1",
                    f"after fit {warmup}",
                    f"after fit {fits}",
                    "growth after warm-up",
                    "KiB per fit after warm-up",
                    "Python objects",
                ],
                table,
            )
        ],
        notes,
        rows,
    )
    line_plot(
        "repeated_fits",
        f"Resident memory after each of {fits} fits (SparseCEMLPClassifier"
        f"({HIDDEN}), {EPOCHS} epochs)",
        "fit",
        "RSS (MiB)",
        [(r["backend"], list(range(1, r["fits"] + 1)), r["rss_mb"]) for r in rows],
    )


def main() -> None:
    quiet_environment()
    parser = make_parser(__doc__.splitlines()[0], repeats=None)
    parser.add_argument(
        "--fits", type=int, default=150, help="Fits per backend (default 150)."
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=10,
        help="Fits before the growth is measured (default 10).",
    )
    args = parser.parse_args()
    run(args, "repeated_fits", measure, report)


if __name__ == "__main__":
    main()
