"""
A character-level language model of Shakespeare
================================================

The text is cut into windows of 100 characters. Each character becomes an
integer id (1, 2, ...; id 0 is left for padding) and, at every one of the 100
timesteps, the label is the next character. ``y`` therefore has shape
``(n_windows, 100)`` and holds the characters themselves: skce encodes them to
integer indices into ``classes_`` (the 60-odd characters of the text) and
trains with sparse categorical crossentropy at every position, so the targets
take one integer per position. One-hot targets would take ``n_classes``
floats per position instead.

:class:`~skce.SparseCERNNClassifier` embeds the ids, runs an LSTM over each
window and emits logits for the next character at every timestep. Its score is
the per-character accuracy on held-out windows, printed beside a bigram
baseline that always guesses the character most often seen after the current
one. Then the model composes a short passage: starting from a prompt, it
predicts the distribution of the next character, draws one, appends it and
slides the window along.

The repository ships ``examples/data/shakespeare_slice.txt``, the first
million characters of 27 of Shakespeare's plays (public domain), so the script
runs anywhere. ``--path`` trains on any other plain text file. At the
defaults it runs in about 2 minutes on two CPU cores; ``--limit`` and
``--epochs`` make it smaller (the documentation gallery uses a small run).

Run ``python examples/char_lstm.py`` to print the accuracies, the passage and
the fit time and to write ``char_lstm_history.png``.
"""

import argparse
import sys
import time
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np

from skce import SparseCERNNClassifier

WINDOW = 100
# The docs gallery runs this script without __file__, from the examples folder.
HERE = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()
SLICE = HERE / "data" / "shakespeare_slice.txt"


def load_text(path, limit=None):
    """The text of ``path`` (its first ``limit`` characters if given)."""
    text = Path(path).read_text(encoding="utf-8")
    return text[:limit] if limit else text


def windows(ids, chars, window=WINDOW):
    """Non-overlapping windows of ids and, at each position, the next character."""
    n = (len(ids) - 1) // window
    starts = np.arange(n) * window
    positions = starts[:, None] + np.arange(window)
    return ids[positions], chars[positions + 1]


def bigram_accuracy(train_ids, X, y_ids, n_ids):
    """Accuracy of always guessing the character seen most often after this one."""
    counts = np.zeros((n_ids, n_ids), dtype=np.int64)
    np.add.at(counts, (train_ids[:-1], train_ids[1:]), 1)
    return float(np.mean(counts.argmax(axis=1)[X] == y_ids))


def compose(clf, prompt_ids, vocabulary, length, temperature, rng):
    """Draw ``length`` characters, each from the model's next-character odds."""
    window = list(prompt_ids[-WINDOW:])
    out = []
    for _ in range(length):
        # predict_proba gives one (1, n_classes) array per timestep: the last
        # timestep's is the distribution of the character after the window.
        proba = clf.predict_proba(np.array([window]))[-1][0]
        logits = np.log(np.maximum(proba, 1e-12)) / temperature
        p = np.exp(logits - logits.max())
        char = clf.classes_[rng.choice(len(p), p=p / p.sum())]
        out.append(char)
        window = window[1:] + [vocabulary[char]]
    return "".join(out)


def plot_history(history):
    """Loss and per-character accuracy per epoch, training against test windows."""
    fig, (ax_loss, ax_acc) = plt.subplots(2, 1, sharex=True, figsize=(6, 6))
    epochs = range(1, len(history["loss"]) + 1)
    for ax, metric in ((ax_loss, "loss"), (ax_acc, "accuracy")):
        ax.plot(epochs, history[metric], marker="o", label="train")
        ax.plot(epochs, history[f"val_{metric}"], marker="o", label="test windows")
        ax.set_ylabel(metric)
        ax.legend()
    ax_loss.set_title("Next-character model: sparse crossentropy per position")
    ax_acc.set_xlabel("epoch")
    fig.tight_layout()
    return fig


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Train a character-level LSTM on a text and sample from it."
    )
    parser.add_argument(
        "--path", default=SLICE, help="plain text file (default: the shipped slice)"
    )
    parser.add_argument(
        "--limit",
        type=int,
        default=None,
        help="use only the first LIMIT characters of the text",
    )
    parser.add_argument("--epochs", type=int, default=7)
    parser.add_argument("--length", type=int, default=300, help="passage length")
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--output", default="char_lstm_history.png")
    parser.add_argument("--show", action="store_true", help="open the figure")
    parser.add_argument("--random-state", type=int, default=0)
    args = parser.parse_args(argv)
    if not args.show:
        matplotlib.use("Agg")
    try:
        text = load_text(args.path, args.limit)
    except OSError as error:
        sys.exit(f"cannot read the text: {error}. Pass a text file with --path.")

    chars = np.array(list(text))
    vocabulary = {c: i + 1 for i, c in enumerate(sorted(set(text)))}
    ids = np.array([vocabulary[c] for c in text], dtype=np.int32)
    split = int(0.9 * len(text))
    X_train, y_train = windows(ids[:split], chars[:split])
    X_test, y_test = windows(ids[split:], chars[split:])
    print(
        f"{len(text):,} characters, {len(vocabulary)} distinct: "
        f"{len(X_train):,} training and {len(X_test):,} test windows of {WINDOW}"
    )

    clf = SparseCERNNClassifier(
        embedding_dim=32,
        units=(128,),
        epochs=args.epochs,
        batch_size=64,
        learning_rate=0.01,
        random_state=args.random_state,
    )
    start = time.perf_counter()
    clf.fit(X_train, y_train, validation_data=(X_test, y_test))
    fit_seconds = time.perf_counter() - start

    y_test_ids = np.vectorize(vocabulary.get)(y_test)
    bigram = bigram_accuracy(ids[:split], X_test, y_test_ids, len(vocabulary) + 1)
    print(f"test accuracy: {clf.score(X_test, y_test):.3f}")
    print(f"bigram baseline accuracy: {bigram:.3f}")
    print(f"fit time: {fit_seconds:.1f} s for {clf.n_iter_} epochs")

    rng = np.random.RandomState(args.random_state)
    prompt = ids[split : split + WINDOW]
    passage = compose(clf, prompt, vocabulary, args.length, args.temperature, rng)
    print("prompt:\n" + text[split : split + WINDOW])
    print("composed:\n" + passage)

    fig = plot_history(clf.history_)
    fig.savefig(args.output, dpi=100)
    print(f"figure written to {args.output}")
    if args.show:
        plt.show()


if __name__ == "__main__":
    main()
