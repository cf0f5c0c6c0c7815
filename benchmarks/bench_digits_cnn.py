"""A small CNN on sklearn's 8x8 digits: skce against the same network in Keras.

load_digits, pixels / 16 as float32, a stratified 75 / 25 split. skce's
SparseCECNNClassifier(epochs=E, batch_size=32, n_iter_no_change=E: it trains
every epoch) is compared with the network it builds for 8x8 images written by
hand in Keras and trained with model.fit: Conv2D(32, 3, relu, "same") ->
MaxPooling2D(2) -> Dropout(0.25) -> Conv2D(64, 3, relu, "same") ->
MaxPooling2D(2) -> Dropout(0.25) -> Flatten -> Dense(256, relu) -> Dense(10)
logits, Adam(1e-3), batch 32 (skce convolves images under 16 pixels a side
with "same" padding). Training throughput is training samples times epochs
over the fit time.

    python benchmarks/bench_digits_cnn.py --backend tensorflow,jax --epochs 20
"""

from _common import (
    bar_plot,
    make_parser,
    per_candidate,
    quiet_environment,
    run,
    time_runs,
    write_report,
)

SKCE = "skce SparseCECNNClassifier"
KERAS = "Keras model.compile + model.fit"
BATCH_SIZE = 32


def load_data():
    import numpy as np
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    X = (X / 16).astype(np.float32)
    return train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)


def keras_cnn():
    """The network skce builds for 8x8x1 images and 10 classes, by hand."""
    import keras

    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Dropout(0.25),
            keras.layers.Conv2D(64, 3, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Dropout(0.25),
            keras.layers.Flatten(),
            keras.layers.Dense(256, activation="relu"),
            keras.layers.Dense(10),
        ]
    )


class _KerasPredictor:
    def __init__(self, model):
        self.model = model

    def predict(self, X):
        images = X.reshape(-1, 8, 8, 1)
        return self.model.predict(images, verbose=0).argmax(axis=1)


def measure_one(args, name: str) -> dict:
    """Time one candidate, cold then ``args.repeats`` times, in this process."""
    import keras

    from skce import SparseCECNNClassifier

    backend = keras.backend.backend()
    X_train, X_test, y_train, y_test = load_data()

    def skce_fit():
        clf = SparseCECNNClassifier(
            epochs=args.epochs,
            n_iter_no_change=args.epochs,
            batch_size=BATCH_SIZE,
            learning_rate=1e-3,
            random_state=0,
        )
        return clf.fit(X_train, y_train)

    def keras_fit():
        model = keras_cnn()
        model.compile(
            optimizer=keras.optimizers.Adam(1e-3),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        model.fit(
            X_train.reshape(-1, 8, 8, 1),
            y_train,
            epochs=args.epochs,
            batch_size=BATCH_SIZE,
            verbose=0,
        )
        return _KerasPredictor(model)

    fit = {SKCE: skce_fit, KERAS: keras_fit}[name]
    timing, fitted = time_runs(fit, args.repeats)
    samples = len(X_train) * args.epochs
    row = {
        "backend": backend,
        "candidate": name,
        **timing,
        "samples_per_s": samples / timing["median_s"],
        "cold_samples_per_s": samples / timing["cold_s"],
        "accuracy": float((fitted.predict(X_test) == y_test).mean()),
        "n_train": len(X_train),
        "n_test": len(X_test),
        "epochs": args.epochs,
    }
    print(
        f"{backend:<10} {name:<32} cold {row['cold_s']:6.2f} s  median "
        f"{row['median_s']:6.2f} s  {row['samples_per_s']:8.0f} samples/s  "
        f"accuracy {row['accuracy']:.3f}  load {row['load'][0]}-{row['load'][1]}",
        flush=True,
    )
    return row


def measure(args) -> list:
    return per_candidate(args, (SKCE, KERAS), lambda name: measure_one(args, name))


def report(rows) -> None:
    table, targets = [], []
    for backend in dict.fromkeys(r["backend"] for r in rows):
        by = {r["candidate"]: r for r in rows if r["backend"] == backend}
        for r in by.values():
            runs = ", ".join(f"{t:.2f}" for t in r["warm_s"])
            table.append(
                [
                    backend,
                    r["candidate"],
                    f"{r['cold_s']:.2f}",
                    f"{r['median_s']:.2f} ({runs})",
                    f"{r['cold_samples_per_s']:.0f}",
                    f"**{r['samples_per_s']:.0f}**",
                    f"{r['accuracy']:.3f}",
                    f"load {r['load'][0]}–{r['load'][1]}",
                ]
            )
        ratio = by[SKCE]["samples_per_s"] / by[KERAS]["samples_per_s"]
        cold = by[SKCE]["cold_samples_per_s"] / by[KERAS]["cold_samples_per_s"]
        print(
            f"[{backend}] skce / Keras samples/s: median {ratio:.2f}, cold {cold:.2f}"
        )
        targets.append(
            [
                backend,
                "skce samples/s >= Keras fit's",
                f"{ratio:.2f}x",
                f"{cold:.2f}x",
                "met" if ratio >= 1 else "missed",
            ]
        )
    first = rows[0]
    notes = [
        f"{first['n_train']} training and {first['n_test']} test images, "
        f"{first['epochs']} epochs, batch {BATCH_SIZE}. Samples/s = training "
        "samples x epochs / fit time; the fit time includes building and "
        "compiling the network. *cold* is the first fit in the process "
        "(tracing / XLA compilation included), the median is over the "
        "following fits.",
        "Differences that remain between the two networks: skce's dropout is "
        "its SampleKeyedDropout (a mask hashed from each sample, so sample "
        "weights equal repeated rows) where Keras uses keras.layers.Dropout; "
        "skce adds its default alpha=1e-4 L2 penalty on the kernels; both "
        "use Glorot-uniform kernels and Adam(1e-3).",
        "Load is the 1-minute load average before and after each candidate's "
        "runs; above 2 (the core count) means other processes were competing "
        "for the CPU.",
    ]
    write_report(
        "digits_cnn",
        "CNN on sklearn digits (8x8): training throughput",
        [
            (
                "Training throughput and test accuracy",
                [
                    "backend",
                    "candidate",
                    "cold fit (s)",
                    "median fit (s) (runs)",
                    "cold samples/s",
                    "median samples/s",
                    "test acc.",
                    "CPU load",
                ],
                table,
            ),
            (
                "Target",
                ["backend", "target", "skce ÷ Keras (median)", "(cold)", "verdict"],
                targets,
            ),
        ],
        notes,
        rows,
    )
    bar_plot(
        "digits_cnn",
        f"digits CNN, {first['epochs']} epochs: training samples/s "
        "(median; higher is better)",
        "training samples per second",
        [(r["candidate"], r["samples_per_s"], r["backend"]) for r in rows],
    )


def main() -> None:
    quiet_environment()
    parser = make_parser(__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20, help="Epochs per fit.")
    args = parser.parse_args()
    run(args, "digits_cnn", measure, report)


if __name__ == "__main__":
    main()
