"""
Three blobs, integer labels, no one-hot encoding
================================================

Three overlapping Gaussian clusters in two dimensions, labelled 0, 1 and 2.
A one-hidden-layer network (50 ReLU units) is trained on the first 500 points
with SGD and momentum, and the other 500 are scored after every epoch through
``validation_data``, so ``history_`` holds the training and the validation
curves side by side. The labels go into ``fit`` as they are: the sparse
crossentropy loss reads the class index directly. The clusters overlap, so
about one point in five sits on the wrong side of any boundary and accuracy
levels off a little above 0.8.

Run ``python examples/blobs.py`` to print the accuracies and the fit time and
to write ``blobs_history.png`` in the current directory; ``--output PATH``
writes the figure elsewhere and ``--show`` also opens it in a window. The
figure needs matplotlib (``pip install -e ".[examples]"``); without it the
example prints its results and says how to get the figure.
"""

import argparse
import time

import keras
import numpy as np
from sklearn.datasets import make_blobs

from skce import SparseCEMLPClassifier

N_TRAIN = 500


def load_blobs():
    """Return ``(X_train, y_train), (X_test, y_test)``: 500 points each."""
    X, y = make_blobs(
        n_samples=1000, centers=3, n_features=2, cluster_std=2, random_state=2
    )
    # float32 makes the network train in float32, the fast choice.
    X = X.astype(np.float32)
    return (X[:N_TRAIN], y[:N_TRAIN]), (X[N_TRAIN:], y[N_TRAIN:])


def plot_history(history):
    """Draw loss and accuracy per epoch, training against validation."""
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_acc) = plt.subplots(2, 1, sharex=True, figsize=(6, 6))
    epochs = range(1, len(history["loss"]) + 1)
    for ax, metric in ((ax_loss, "loss"), (ax_acc, "accuracy")):
        ax.plot(epochs, history[metric], label="train")
        ax.plot(epochs, history[f"val_{metric}"], label="validation (test set)")
        ax.set_ylabel(metric)
        ax.legend()
    ax_loss.set_title("Sparse crossentropy on the blobs")
    ax_acc.set_xlabel("epoch")
    fig.tight_layout()
    return fig


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Train an MLP on three blobs and plot its history."
    )
    parser.add_argument(
        "--output",
        default="blobs_history.png",
        help="where to write the figure (default: %(default)s)",
    )
    parser.add_argument("--show", action="store_true", help="open the figure")
    parser.add_argument("--random-state", type=int, default=0)
    args = parser.parse_args(argv)

    (X_train, y_train), (X_test, y_test) = load_blobs()
    clf = SparseCEMLPClassifier(
        hidden_layer_sizes=(50,),
        epochs=100,
        batch_size=32,
        optimizer=keras.optimizers.SGD(learning_rate=0.01, momentum=0.9),
        random_state=args.random_state,
    )
    start = time.perf_counter()
    clf.fit(X_train, y_train, validation_data=(X_test, y_test))
    fit_seconds = time.perf_counter() - start

    print(f"train accuracy: {clf.score(X_train, y_train):.3f}")
    print(f"test accuracy: {clf.score(X_test, y_test):.3f}")
    print(f"fit time: {fit_seconds:.1f} s for {clf.n_iter_} epochs")

    try:
        import matplotlib
    except ImportError:
        print(
            "no figure: matplotlib is not installed "
            '(pip install matplotlib, or pip install -e ".[examples]")'
        )
        return
    if not args.show:
        matplotlib.use("Agg")
    fig = plot_history(clf.history_)
    fig.savefig(args.output, dpi=100)
    print(f"figure written to {args.output}")
    if args.show:
        import matplotlib.pyplot as plt

        plt.show()


if __name__ == "__main__":
    main()
