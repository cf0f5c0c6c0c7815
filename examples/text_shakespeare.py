"""
Which play is this speech from? Sparse TF-IDF text into skce
============================================================

Each speech of Shakespeare's plays (the lines after a ``NAME:`` heading)
becomes one document, labelled with the play it comes from.
:class:`~sklearn.feature_extraction.text.TfidfVectorizer` turns the speeches
into a scipy sparse matrix, and :class:`~skce.SparseCEMLPClassifier` trains
on it as it is: the matrix is never densified, each mini-batch reaches the
network as a sparse tensor, and the first layer's work follows the number of
stored values, not the vocabulary.

A :class:`~sklearn.model_selection.GridSearchCV` tunes the vectorizer and the
network together. The figure shows the best model's top-k accuracy on held-out
speeches (from :meth:`~skce.SparseCEMLPClassifier.predict_top_k`) for k = 1
to 5.

The repository ships ``examples/data/shakespeare_slice.txt`` (the first
million characters of the plays: 9 of them), so the script runs anywhere in
about a minute on two CPU cores; ``--path`` reads another file in the same
layout, e.g. all 27 plays.

Run ``python examples/text_shakespeare.py`` to print the search's best
settings and the test accuracy and to write ``text_shakespeare.png``.
"""

import argparse
import re
import sys
import time
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline

from skce import SparseCEMLPClassifier

# The docs gallery runs this script without __file__, from the examples folder.
HERE = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()
SLICE = HERE / "data" / "shakespeare_slice.txt"
_SPEAKER = re.compile(r"^([A-Z][A-Z0-9 .,'&-]*):$")
_DIRECTION = re.compile(r"\[[^\]]*\]")


def load_speeches(path, min_words=5):
    """The speeches of a plays file, with their play and speaker.

    A play starts at an upper-case title line followed by ``ACT I``; a speech
    is a ``NAME:`` line and the lines after it up to a blank line. Stage
    directions (in brackets) are dropped, as are speeches under ``min_words``
    words. Returns three lists: texts, plays and speakers.
    """
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    texts, plays, speakers = [], [], []
    play, speaker, speech = None, None, []

    def flush():
        text = _DIRECTION.sub(" ", " ".join(speech)).strip()
        if play and speaker and len(text.split()) >= min_words:
            texts.append(text)
            plays.append(play)
            speakers.append(speaker)

    for i, line in enumerate(lines):
        following = next((x for x in lines[i + 1 : i + 4] if x.strip()), "")
        if line.isupper() and following.strip() == "ACT I":
            flush()
            play, speaker, speech = line.strip().title(), None, []
        elif match := _SPEAKER.match(line.strip()):
            flush()
            speaker, speech = match.group(1), []
        elif not line.strip():
            flush()
            speaker, speech = None, []
        elif speaker:
            speech.append(line.strip())
    flush()
    return texts, plays, speakers


def top_k_accuracy(clf, X, y, k_max=5):
    """Fraction of samples whose label is among the k most likely, k = 1..k_max."""
    labels, _ = clf.predict_top_k(X, k_max)
    hits = labels == np.asarray(y)[:, None]
    return np.cumsum(hits, axis=1).mean(axis=0)


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Which play is this speech from? TF-IDF text into skce."
    )
    parser.add_argument("--path", type=Path, default=SLICE)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--output", type=Path, default=Path("text_shakespeare.png"))
    args = parser.parse_args(argv)
    if not args.path.exists():
        sys.exit(f"No text at {args.path}; pass --path to a plays file.")

    texts, plays, _ = load_speeches(args.path)
    X_train, X_test, y_train, y_test = train_test_split(
        texts, plays, test_size=0.25, random_state=0, stratify=plays
    )
    print(f"{len(texts)} speeches from {len(set(plays))} plays")

    pipe = make_pipeline(
        TfidfVectorizer(sublinear_tf=True, dtype=np.float32),
        SparseCEMLPClassifier(
            epochs=args.epochs, n_iter_no_change=None, random_state=0
        ),
    )
    grid = {
        "tfidfvectorizer__ngram_range": [(1, 1), (1, 2)],
        "sparsecemlpclassifier__hidden_layer_sizes": [(32,), (128,)],
    }
    start = time.perf_counter()
    search = GridSearchCV(pipe, grid, cv=2).fit(X_train, y_train)
    print(f"search time: {time.perf_counter() - start:.1f} s")
    print(f"best settings: {search.best_params_}")
    print(f"test accuracy: {search.score(X_test, y_test):.3f}")

    pipe = search.best_estimator_
    X_test_tfidf = pipe[0].transform(X_test)
    accuracy = top_k_accuracy(pipe[-1], X_test_tfidf, y_test)
    print("top-5 accuracy: " + f"{accuracy[-1]:.3f}")

    matplotlib.use("Agg")
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ks = np.arange(1, len(accuracy) + 1)
    ax.plot(ks, accuracy, marker="o")
    ax.axhline(1 / len(set(plays)), color="grey", linestyle=":", label="chance")
    ax.set(xlabel="k", ylabel="top-k accuracy", xticks=ks, ylim=(0, 1))
    ax.set_title("Which play? TF-IDF speeches, skce MLP")
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.output, dpi=100)
    print(f"figure: {args.output}")


if __name__ == "__main__":
    main()
