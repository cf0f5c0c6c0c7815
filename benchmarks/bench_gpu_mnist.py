"""Seconds per epoch of the MNIST CNN on the JAX backend: skce against Keras.

MNIST (60 000 training and 10 000 test images, 28x28x1, pixels / 255 as
float32), read from ``mnist.npz`` as ``keras.datasets.mnist`` caches it:
``--path``, by default ``../shared/data/mnist.npz`` beside the repository.
Batch 250. skce's default
SparseCECNNClassifier network is compared with the same network written in
Keras and trained with model.fit: Conv2D(32, 3, relu) -> MaxPooling2D(2) ->
Dropout(0.25) -> Conv2D(64, 3, relu) -> MaxPooling2D(2) -> Dropout(0.25) ->
Flatten -> Dense(256, relu) -> Dense(10) logits, Adam(1e-3). A callback stamps
the time at the start of training and at the end of every epoch: the first
epoch includes compilation, the steady state is the median of the others.

Meant for a GPU; it runs on whatever device JAX sees, so it can be
smoke-tested on a CPU with a small n. A run on a CPU measures no GPU figure,
and its report says so.

    python benchmarks/bench_gpu_mnist.py                      # 60 000 images, 5 epochs
    python benchmarks/bench_gpu_mnist.py --n 2000 --epochs 3  # CPU smoke test
    python benchmarks/bench_gpu_mnist.py --path ~/.keras/datasets/mnist.npz
"""

import statistics
import time
from pathlib import Path

from _common import (
    bar_plot,
    make_parser,
    per_candidate,
    quiet_environment,
    run,
    write_report,
)

SKCE = "skce SparseCECNNClassifier"
KERAS = "Keras model.compile + model.fit"
BATCH_SIZE = 250
IMAGE = (28, 28, 1)
N_CLASSES = 10
#: The shared data folder beside the repository, where the project keeps MNIST.
DEFAULT_PATH = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist.npz"


def load_data(path: Path, n: int):
    """The first ``n`` training images and a test set, scaled to [0, 1]."""
    import numpy as np

    with np.load(path) as data:
        x_train, y_train = data["x_train"], data["y_train"]
        x_test, y_test = data["x_test"], data["y_test"]
    if not 0 < n <= len(x_train):
        raise SystemExit(
            f"--n must be from 1 to {len(x_train)}, the training images in "
            f"{path}. Received: --n {n}."
        )
    n_test = min(len(x_test), max(n // 6, 1000))

    def images(x):
        return (x.reshape(-1, *IMAGE) / 255).astype(np.float32)

    return (
        images(x_train[:n]),
        y_train[:n].astype(np.int64),
        images(x_test[:n_test]),
        y_test[:n_test].astype(np.int64),
    )


def keras_cnn():
    """skce's default CNN for 28x28x1 images and 10 classes, by hand."""
    import keras

    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input(IMAGE),
            keras.layers.Conv2D(32, 3, activation="relu"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Dropout(0.25),
            keras.layers.Conv2D(64, 3, activation="relu"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Dropout(0.25),
            keras.layers.Flatten(),
            keras.layers.Dense(256, activation="relu"),
            keras.layers.Dense(N_CLASSES),
        ]
    )


def epoch_clock(stamps: list):
    """A callback that appends ``perf_counter()`` at train begin and epoch ends.

    skce copies callbacks shallowly, so the list is shared with the copy.
    """
    import keras

    class EpochClock(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.stamps = stamps

        def on_train_begin(self, logs=None):
            self.stamps.append(time.perf_counter())

        def on_epoch_end(self, epoch, logs=None):
            self.stamps.append(time.perf_counter())

    return EpochClock()


def fitters(epochs: int):
    """name -> fit(X, y, callbacks) returning something with ``predict``."""
    import keras

    from skce import SparseCECNNClassifier

    def skce_fit(X, y, callbacks, n_epochs=epochs):
        clf = SparseCECNNClassifier(
            epochs=n_epochs,
            n_iter_no_change=n_epochs,
            batch_size=BATCH_SIZE,
            learning_rate=1e-3,
            callbacks=callbacks,
            random_state=0,
        )
        return clf.fit(X, y)

    def keras_fit(X, y, callbacks, n_epochs=epochs):
        model = keras_cnn()
        model.compile(
            optimizer=keras.optimizers.Adam(1e-3),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        model.fit(
            X,
            y,
            epochs=n_epochs,
            batch_size=BATCH_SIZE,
            callbacks=callbacks,
            verbose=0,
        )
        return _KerasPredictor(model)

    return {SKCE: skce_fit, KERAS: keras_fit}


class _KerasPredictor:
    def __init__(self, model):
        self.model = model

    def predict(self, X):
        return self.model.predict(X, batch_size=1024, verbose=0).argmax(axis=1)


def measure_one(args, name: str) -> dict:
    """Time one candidate's epochs in this process."""
    import jax
    import keras

    devices = ", ".join(f"{d.platform}:{d.device_kind}" for d in jax.devices())
    X, y, X_test, y_test = load_data(args.path, args.n)
    fit = fitters(args.epochs)[name]
    # A tiny fit first, so the timed one does not pay the process's one-time
    # start-up (its different n still makes the timed fit compile afresh).
    fit(X[:BATCH_SIZE], y[:BATCH_SIZE], [], n_epochs=1)
    stamps = []
    start = time.perf_counter()
    fitted = fit(X, y, [epoch_clock(stamps)])
    total = time.perf_counter() - start
    epochs = [b - a for a, b in zip(stamps[:-1], stamps[1:], strict=True)]
    steady = statistics.median(epochs[1:]) if len(epochs) > 1 else None
    row = {
        "backend": keras.backend.backend(),
        "device": devices,
        "candidate": name,
        "gpu": any(d.platform == "gpu" for d in jax.devices()),
        "n": args.n,
        "n_test": len(X_test),
        "epochs": args.epochs,
        "fit_s": total,
        "setup_s": stamps[0] - start,
        "first_epoch_s": epochs[0],
        "steady_epoch_s": steady,
        "epoch_s": epochs,
        "accuracy": float((fitted.predict(X_test) == y_test).mean()),
    }
    print(
        f"{devices} {name:<32} first epoch {row['first_epoch_s']:7.2f} s  steady "
        f"{steady if steady is None else round(steady, 3)} s/epoch  "
        f"fit {total:7.2f} s  test accuracy {row['accuracy']:.3f}",
        flush=True,
    )
    return row


def measure(args) -> list:
    return per_candidate(args, (SKCE, KERAS), lambda name: measure_one(args, name))


def report(rows) -> None:
    table, verdicts = [], []
    for r in rows:
        steady = r["steady_epoch_s"]
        table.append(
            [
                r["device"],
                r["candidate"],
                f"{r['n']:,}",
                str(r["epochs"]),
                f"{r['setup_s']:.2f}",
                f"{r['first_epoch_s']:.2f}",
                "—" if steady is None else f"**{steady:.3f}**",
                "—" if steady is None else f"{r['n'] / steady:.0f}",
                f"{r['fit_s']:.2f}",
                f"{r['accuracy']:.3f}",
            ]
        )
    by = {r["candidate"]: r for r in rows}
    for key, what in (("first_epoch_s", "first epoch"), ("steady_epoch_s", "steady")):
        if by[SKCE][key] is not None and by[KERAS][key] is not None:
            ratio = by[SKCE][key] / by[KERAS][key]
            verdicts.append([what, f"{ratio:.2f}"])
            print(f"skce / Keras seconds per epoch, {what}: {ratio:.2f}")
    gpu = all(r.get("gpu", False) for r in rows)
    if gpu:
        first = "Measured on the GPU named in the first column."
    else:
        first = (
            "**No GPU figures: the GPU seconds per epoch were not measured.** "
            "This run used the CPU named in the first column, as a smoke test "
            f"of the script at n={rows[0]['n']:,}; a CPU figure is not a GPU "
            "figure and says nothing about the GPU target."
        )
    notes = [
        first,
        "*setup* is from calling fit to the start of the first epoch "
        "(validation, building the network, moving the data to the device); "
        "*first epoch* includes tracing and XLA compilation; *steady* is the "
        "median of the later epochs. Each candidate runs in a fresh process "
        f"of its own and first does one 1-epoch fit on {BATCH_SIZE} images, so "
        "the timed fit does not pay the process's one-time start-up.",
        "The data are MNIST: the first n training images, and test accuracy "
        f"on the first {rows[0].get('n_test', '—')} test images. With few "
        "images and epochs (a smoke test) it only shows that both networks "
        "learn.",
        "Differences between the networks: skce's dropout is its "
        "SampleKeyedDropout (masks hashed from each sample) and skce adds its "
        "default alpha=1e-4 L2 penalty.",
    ]
    write_report(
        "gpu_mnist",
        "MNIST CNN on the JAX backend: seconds per epoch"
        + ("" if gpu else " (CPU smoke test, no GPU figures)"),
        [
            (
                "Seconds per epoch",
                [
                    "device",
                    "candidate",
                    "n",
                    "epochs",
                    "setup (s)",
                    "first epoch (s)",
                    "steady (s/epoch)",
                    "steady samples/s",
                    "whole fit (s)",
                    "test acc.",
                ],
                table,
            ),
            ("skce ÷ Keras, seconds per epoch", ["epoch", "ratio"], verdicts),
        ],
        notes,
        rows,
    )
    bar_plot(
        "gpu_mnist",
        f"MNIST CNN, n={rows[0]['n']:,}, {rows[0]['device']}"
        + ("" if gpu else " (CPU smoke test, not a GPU figure)")
        + ": seconds per epoch (lower is better)",
        "seconds",
        [
            (f"{r['candidate']}, first epoch", r["first_epoch_s"], r["candidate"])
            for r in rows
        ]
        + [
            (f"{r['candidate']}, steady", r["steady_epoch_s"], r["candidate"])
            for r in rows
        ],
    )


def main() -> None:
    quiet_environment()
    parser = make_parser(__doc__.splitlines()[0], repeats=None)
    parser.add_argument("--n", type=int, default=60_000, help="Training images.")
    parser.add_argument("--epochs", type=int, default=5, help="Epochs per fit.")
    parser.add_argument(
        "--path",
        type=Path,
        default=DEFAULT_PATH,
        help="mnist.npz as keras.datasets.mnist caches it (default: "
        "../shared/data/mnist.npz beside the repository).",
    )
    args = parser.parse_args()
    if not args.replot and not args.path.is_file():
        parser.error(
            f"no MNIST file at {args.path}. Pass --path to an mnist.npz with "
            "x_train, y_train, x_test and y_test, as keras.datasets.mnist "
            "saves it (~/.keras/datasets/mnist.npz)."
        )
    if args.backend not in (None, ("jax",)):
        parser.error(
            f"this benchmark is for the JAX backend. Received: --backend {args.backend}"
        )
    args.backend = ("jax",)
    run(args, "gpu_mnist", measure, report)


if __name__ == "__main__":
    main()
