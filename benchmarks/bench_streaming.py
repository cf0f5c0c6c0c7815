"""Training on data larger than the data budget: memmap and host streaming.

200 000 x 500 float32 (400 MB, make_classification with 10 classes, written
chunk by chunk to a file) trains SparseCEMLPClassifier((64,)), batch 256, for
a fixed number of epochs, four ways, each in a process of its own:

* *in memory*: X is a NumPy array in RAM and goes to the device whole (the
  default budget is larger than X);
* *memmap*: X is a ``numpy.memmap`` of the file, with a data budget of
  ``--budget-mb`` (default 16 MB, so X is about 24x the budget): fit streams it
  from disk in segments of whole mini-batches, prefetching the next one;
* *memmap, default budget*: the same memmap at the default data budget (a
  quarter of RAM, larger than X): it streams all the same, in segments of at
  most 8 MiB;
* *host streaming*: X is in RAM but larger than the same budget: fit streams
  it from host memory the same way.

For each: time per epoch, the anonymous memory (heap, not file pages) the
fit added at its peak over what the process held before it, the process's
peak resident memory, and whether ``predict_proba`` equals the in-memory
fit's (same seed).

    python benchmarks/bench_streaming.py --backend tensorflow,jax
"""

import statistics
import tempfile
import threading
import time
from pathlib import Path

from _common import (
    bar_plot,
    fmt,
    make_parser,
    peak_rss_mb,
    per_candidate,
    quiet_environment,
    run,
    write_report,
)

N, N_FEATURES, N_CLASSES = 200_000, 500, 10
EPOCHS = 2
BATCH_SIZE = 256
CANDIDATES = ("in memory", "memmap", "memmap, default budget", "host streaming")
CHUNK = 20_000


def anon_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon"):
            return int(line.split()[1]) / 1024
    return float("nan")


def peak_anon_during(fn):
    """Call ``fn()``; return its result and the peak anonymous memory (MB)."""
    peak, done = [anon_mb()], threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], anon_mb())
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        result = fn()
    finally:
        done.set()
        sampler.join()
    return result, max(peak[0], anon_mb())


def write_data(folder: Path, n: int):
    """X to a file chunk by chunk, y and 100 test rows in memory."""
    import numpy as np
    from sklearn.datasets import make_classification

    X = np.lib.format.open_memmap(
        folder / "X.npy", mode="w+", dtype=np.float32, shape=(n, N_FEATURES)
    )
    y = np.empty(n, dtype=np.int64)
    for start in range(0, n, CHUNK):
        stop = min(start + CHUNK, n)
        part, labels = make_classification(
            n_samples=stop - start,
            n_features=N_FEATURES,
            n_informative=20,
            n_classes=N_CLASSES,
            random_state=0,
            shuffle=False,
        )
        # One generator for every chunk: the classes are the same clusters.
        X[start:stop] = part
        y[start:stop] = labels
    X.flush()
    del X
    return y


def measure_one(args, candidate: str) -> dict:
    import keras
    import numpy as np

    import skce
    from skce import SparseCEMLPClassifier

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        y = write_data(folder, args.n)
        X = np.load(folder / "X.npy", mmap_mode="r")
        X_test = np.array(X[:100])
        if candidate == "in memory":
            X = np.array(X)
        elif candidate == "host streaming":
            X = np.array(X)
            skce.set_data_budget(args.budget_mb * 2**20)
        elif candidate == "memmap":
            skce.set_data_budget(args.budget_mb * 2**20)
        times, anon_added = [], []
        for _ in range(1 + args.repeats):
            clf = SparseCEMLPClassifier(
                (64,),
                epochs=EPOCHS,
                n_iter_no_change=None,
                batch_size=BATCH_SIZE,
                random_state=0,
            )
            before = anon_mb()
            start = time.perf_counter()
            _, peak = peak_anon_during(lambda c=clf, data=X: c.fit(data, y))
            times.append(time.perf_counter() - start)
            anon_added.append(peak - before)
        row = {
            "backend": keras.backend.backend(),
            "candidate": candidate,
            "n": args.n,
            "x_mb": args.n * N_FEATURES * 4 / 2**20,
            "budget_mb": args.budget_mb,
            "cold_s": times[0],
            "epoch_s": statistics.median(times[1:] or times) / EPOCHS,
            "anon_added_mb": max(anon_added[1:] or anon_added),
            "anon_added_cold_mb": anon_added[0],
            "peak_rss_mb": peak_rss_mb(),
            "proba": clf.predict_proba(X_test).round(8).tolist(),
        }
        del X
    print(
        f"{row['backend']:<10} {candidate:<15} {row['epoch_s']:.2f} s per epoch, "
        f"anonymous memory added {row['anon_added_mb']:.0f} MB, peak RSS "
        f"{row['peak_rss_mb']:.0f} MB",
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
        base = by["in memory"]
        for name in CANDIDATES:
            r = by[name]
            diff = np.abs(np.subtract(r["proba"], base["proba"])).max()
            table.append(
                [
                    backend,
                    name,
                    f"{r['epoch_s']:.2f}",
                    f"**{fmt(r['epoch_s'] / base['epoch_s'])}**",
                    f"{r['anon_added_mb']:.0f}",
                    f"{r['peak_rss_mb']:.0f}",
                    "identical" if diff == 0 else f"{diff:.1e}",
                ]
            )
            bars.append((name, r["epoch_s"], backend))
    r = rows[0]
    notes = [
        f"X is {r['n']:,} x {N_FEATURES} float32 ({r['x_mb']:.0f} MB); the data "
        f"budget of the memmap and host-streaming runs is {r['budget_mb']} MB "
        f"({r['x_mb'] / r['budget_mb']:.1f}x smaller than X). Batch "
        f"{BATCH_SIZE}, {EPOCHS} epochs, MLP (64,).",
        "Time per epoch: median fit time of the warm runs divided by the "
        "epochs. The memmap reads from the page cache when the file is cached "
        "(it was just written); from a cold disk it waits on the disk.",
        "*anonymous memory added*: the peak of the process's anonymous "
        "resident memory during the fit (sampled every 20 ms) minus its value "
        "before the fit, in the warm runs (the cold run also builds the compiled "
        "code); it leaves out the file's pages in the page cache, "
        "which the kernel can drop. *peak RSS* is the whole process's peak, "
        "file pages and the in-memory copies of X included.",
        "A streaming fit holds about four segments of X at once, each at most "
        "the budget or 8 MiB, whichever is smaller (at least one mini-batch): "
        "the one training and its copy on the device, the next one being read "
        "in the background, and the previous device copy until it is freed. So "
        "the anonymous memory it adds is a few segments, whatever the size of "
        "X and whatever the budget (*memmap, default budget*).",
        "*predict_proba vs in memory*: largest difference on 100 rows.",
    ]
    write_report(
        "streaming",
        "Streaming X larger than the data budget: memmap and host memory",
        [
            (
                "Time per epoch and memory",
                [
                    "backend",
                    "X",
                    "s per epoch",
                    "÷ in memory",
                    "anonymous memory added (MB)",
                    "peak RSS (MB)",
                    "predict_proba vs in memory",
                ],
                table,
            )
        ],
        notes,
        rows,
    )
    bar_plot(
        "streaming",
        "Time per epoch: X in memory, memmap, host streaming (lower is better)",
        "seconds per epoch",
        bars,
    )


def main() -> None:
    quiet_environment()
    parser = make_parser(__doc__.splitlines()[0], repeats=1)
    parser.add_argument(
        "--n", type=int, default=N, help=f"Training rows (default {N})."
    )
    parser.add_argument(
        "--budget-mb", type=int, default=16, help="Data budget in MB (default 16)."
    )
    args = parser.parse_args()
    run(args, "streaming", measure, report)


if __name__ == "__main__":
    main()
