"""Data-parallel training: epoch time on one device against two.

Each backend sees two devices: JAX two host devices
(``--xla_force_host_platform_device_count=2``), TensorFlow two logical CPUs,
unless it has GPUs (then it uses them). *1 device* fits with
``distribution=None``, *2 devices* with ``distribution="data_parallel"``
(batches split over the devices, weights replicated). Two networks:
SparseCEMLPClassifier((256, 256)) on 60 000 x 784 (make_classification,
10 classes; with Adam, and with SGD at learning rate 0.05) and
SparseCECNNClassifier(filters=(32, 64), dense_units=(128,)) on 6 000 images of
28 x 28 (scikit-learn's 8 x 8 digits scaled up 3x, padded, and repeated 4
times with pixel noise; the test images are digits the training set does not
hold), float32, batch 256, a fixed number of epochs. Each (network,
devices) runs in a process of its own: once cold, then ``--repeats`` times
with a fresh estimator. The report also gives the largest difference
between the two fits' ``predict_proba`` on 100 held-out rows (same seed:
each step agrees up to float rounding) and their test accuracies.

On simulated CPU devices the two "devices" share the same cores, so this
measures the overhead of the data-parallel path, not a speed-up; on a host
with several GPUs it measures the scaling.

    python benchmarks/bench_data_parallel.py --backend tensorflow,jax
"""

import os
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

NETWORKS = {
    "mlp": {"n": 60_000, "epochs": 2},
    "mlp, SGD": {"n": 60_000, "epochs": 2},
    "cnn": {"n": 6_000, "epochs": 2},
}
DEVICES = (1, 2)
BATCH_SIZE = 256
N_TEST = 1_000


def _two_devices() -> None:
    """Expose two devices to the backend (before it starts)."""
    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        if not tf.config.list_physical_devices("GPU"):
            cpu = tf.config.list_physical_devices("CPU")[0]
            tf.config.set_logical_device_configuration(
                cpu, [tf.config.LogicalDeviceConfiguration()] * 2
            )


def digit_images(n: int):
    """Digits at 28 x 28: the first 1 500 repeated with noise, the rest to test."""
    import numpy as np
    from sklearn.datasets import load_digits

    images, labels = load_digits(return_X_y=True)
    big = np.kron(images.reshape(-1, 8, 8) / 16, np.ones((3, 3)))
    big = np.pad(big, ((0, 0), (2, 2), (2, 2))).reshape(len(big), -1)
    train, test = big[:1500], big[1500:]
    rng = np.random.RandomState(0)
    copies = -(-n // len(train))
    X = np.concatenate([train + rng.normal(0, 0.1, train.shape) for _ in range(copies)])
    y = np.tile(labels[:1500], copies)
    return (
        X[:n].astype(np.float32),
        y[:n],
        test.astype(np.float32),
        labels[1500:],
    )


def make_data(n: int):
    import numpy as np
    from sklearn.datasets import make_classification

    X, y = make_classification(
        n_samples=n + N_TEST,
        n_features=784,
        n_informative=50,
        n_classes=10,
        random_state=0,
    )
    X = X.astype(np.float32)
    return X[:n], y[:n], X[n:], y[n:]


def estimator(network: str, epochs: int, devices: int):
    from skce import SparseCECNNClassifier, SparseCEMLPClassifier

    common = dict(
        epochs=epochs,
        n_iter_no_change=None,
        batch_size=BATCH_SIZE,
        random_state=0,
        distribution="data_parallel" if devices > 1 else None,
    )
    if network.startswith("mlp"):
        if network.endswith("SGD"):
            common.update(optimizer="sgd", learning_rate=0.05)
        return SparseCEMLPClassifier((256, 256), **common)
    return SparseCECNNClassifier(
        image_shape=(28, 28, 1), filters=(32, 64), dense_units=(128,), **common
    )


def measure_one(args, candidate: str) -> dict:
    _two_devices()
    import keras

    network, devices = candidate.split(":")
    devices = int(devices)
    spec = NETWORKS[network]
    data = digit_images if network == "cnn" else make_data
    X, y, X_test, y_test = data(spec["n"])
    times = []
    for _ in range(1 + args.repeats):
        clf = estimator(network, spec["epochs"], devices)
        start = time.perf_counter()
        clf.fit(X, y)
        times.append(time.perf_counter() - start)
    warm = times[1:] or times
    row = {
        "backend": keras.backend.backend(),
        "network": network,
        "devices": devices,
        "n": spec["n"],
        "epochs": spec["epochs"],
        "cold_s": times[0],
        "times_s": warm,
        "epoch_s": statistics.median(warm) / spec["epochs"],
        "accuracy": float((clf.predict(X_test) == y_test).mean()),
        # Enough of the outputs to compare the two fits, small enough to keep.
        "proba": clf.predict_proba(X_test[:100]).round(8).tolist(),
    }
    print(
        f"{row['backend']:<10} {network} on {devices} device(s): "
        f"{row['epoch_s']:.3f} s per epoch (cold fit {times[0]:.2f} s)",
        flush=True,
    )
    return row


def measure(args) -> list:
    names = [f"{n}:{d}" for n in NETWORKS for d in DEVICES]
    return per_candidate(args, names, lambda name: measure_one(args, name))


def report(rows) -> None:
    import numpy as np

    table, bars = [], []
    for backend in dict.fromkeys(r["backend"] for r in rows):
        for network in NETWORKS:
            by = {
                r["devices"]: r
                for r in rows
                if r["backend"] == backend and r["network"] == network
            }
            one, two = by[1], by[2]
            diff = np.abs(np.subtract(one["proba"], two["proba"])).max()
            table.append(
                [
                    backend,
                    network,
                    f"{one['n']:,}",
                    f"{one['epoch_s']:.3f}",
                    f"{two['epoch_s']:.3f}",
                    f"**{fmt(two['epoch_s'] / one['epoch_s'])}**",
                    f"{diff:.1e}",
                    f"{one['accuracy']:.3f} / {two['accuracy']:.3f}",
                ]
            )
            for r in (one, two):
                label = f"{network}, {r['devices']} device(s)"
                bars.append((label, r["epoch_s"], backend))
    notes = [
        "Time per epoch is the median fit time over the warm runs divided by "
        "the epochs (the fixed cost of a fit is included).",
        "On this machine the two devices are simulated on the same CPU cores, "
        "so *2 devices ÷ 1* shows what the data-parallel path costs, not what "
        "it gains; with one GPU per device it is the scaling.",
        "*largest predict_proba difference* (100 held-out rows): the two fits "
        "start from the same seed and train on the same global batches, but "
        "on two devices each step's gradient is summed in another order (each "
        "half, then the two halves), so a step agrees with the one-device "
        "step only up to float rounding. Over the hundreds of steps here, at "
        "these learning rates, such differences grow into visible ones in "
        "the probabilities; the test accuracies (1,000 held-out rows, 297 "
        "digits for the CNN) show the fits are equally good. The test suite "
        "checks the agreement where it is exact: a few epochs on small data, "
        "to 1e-5.",
    ]
    write_report(
        "data_parallel",
        "Data-parallel training: time per epoch on 1 and 2 devices",
        [
            (
                "Time per epoch (s)",
                [
                    "backend",
                    "network",
                    "training rows",
                    "1 device",
                    "2 devices",
                    "2 devices ÷ 1",
                    "largest predict_proba difference",
                    "test accuracy, 1 / 2 devices",
                ],
                table,
            )
        ],
        notes,
        rows,
    )
    bar_plot(
        "data_parallel",
        "Time per epoch on 1 and 2 devices (lower is better)",
        "seconds per epoch",
        bars,
    )


def main() -> None:
    quiet_environment()
    # JAX reads this when it starts, in the child processes.
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2"
    ).strip()
    parser = make_parser(__doc__.splitlines()[0], repeats=2)
    args = parser.parse_args()
    run(args, "data_parallel", measure, report)


if __name__ == "__main__":
    main()
