"""Sparse TF-IDF text: skce against MLPClassifier, and memory against the dense path.

Speeches of Shakespeare's plays (``../shared/data/shakespeare.txt``), as TF-IDF:

- which play a speech comes from: skce's MLP on the sparse matrix against
  ``MLPClassifier`` on the same matrix, at equal hidden units, epochs and
  batch size (fit time, test accuracy), and skce on ``X.toarray()`` for the
  peak memory of the dense path;
- who speaks it (the speakers with at least 20 speeches): top-1 and top-5
  accuracy from ``predict_top_k``, against ``MLPClassifier``;
- both tasks' skce fits also on JAX (its compilation cache in a fresh
  folder: the first round compiles, later ones read it), beside the
  backend the script runs on (``KERAS_BACKEND``, TensorFlow by default);
- each timed fit twice: the first in a fresh process (with skce's tracing
  and compiling), and later fits of new estimators in that process, as a
  search runs them;
- on TensorFlow, who speaks it with the first layer's kernel gradient as
  skce's one dense product and as Keras gives it (gathered rows,
  ``PRODUCT_GRADIENT_ROWS = 0``), fitted in turn in one process, for what
  the product saves;
- ``HashingVectorizer(n_features=2**20)`` on the same speeches: the growth of
  peak RSS while skce trains on it (dense, X would take n_samples * 4 MiB).
  It has 32 hidden units (``HASHING_HIDDEN``): a network on 2**20 inputs is
  itself 16 MiB per hidden unit with its gradient and Adam moments.

Peak memory is the growth of the process's peak RSS over each step, measured
in a fresh child process per step. The script skips cleanly (exit 0) when the
data file is missing. Run ``python benchmarks/bench_sparse.py``.
"""

import importlib.util
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import (  # noqa: E402
    RESULTS,
    current_backend,
    load_average,
    load_note,
    machine_lines,
    quiet_environment,
    source_state,
)

DATA = HERE.parents[1] / "shared" / "data" / "shakespeare.txt"
HIDDEN, EPOCHS, BATCH = 128, 8, 200
#: Hidden units of the hashed run: its 2**20-row kernel, gradient and Adam
#: moments take 16 MiB per unit in float32.
HASHING_HIDDEN = 32
HASHING_SAMPLES = 5000
#: Fits after the first in each timed process (their median is reported).
LATER_FITS = 2


def _speeches():
    spec = importlib.util.spec_from_file_location(
        "text_shakespeare", HERE.parent / "examples" / "text_shakespeare.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.load_speeches(DATA)


def _split(texts, labels):
    from sklearn.model_selection import train_test_split

    return train_test_split(
        texts, labels, test_size=0.25, random_state=0, stratify=labels
    )


def _peak_kib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _skce(**params):
    from skce import SparseCEMLPClassifier

    params = {
        "hidden_layer_sizes": (HIDDEN,),
        "epochs": EPOCHS,
        "batch_size": BATCH,
        "n_iter_no_change": None,
        "random_state": 0,
        **params,
    }
    return SparseCEMLPClassifier(**params)


def _mlp():
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    warnings.simplefilter("ignore", ConvergenceWarning)
    return MLPClassifier(
        hidden_layer_sizes=(HIDDEN,),
        max_iter=EPOCHS,
        batch_size=BATCH,
        n_iter_no_change=EPOCHS + 1,
        random_state=0,
    )


def _tfidf(task):
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts, plays, speakers = _speeches()
    labels = plays
    if task == "speaker":
        # A speaker is a character of one play: names recur across plays.
        who = [
            f"{play}/{speaker}" for play, speaker in zip(plays, speakers, strict=True)
        ]
        names, counts = np.unique(who, return_counts=True)
        keep = set(names[counts >= 20])
        chosen = [i for i, s in enumerate(who) if s in keep]
        texts = [texts[i] for i in chosen]
        labels = [who[i] for i in chosen]
    Xtr, Xte, ytr, yte = _split(texts, labels)
    vec = TfidfVectorizer(sublinear_tf=True, min_df=2, dtype=np.float32)
    return vec.fit_transform(Xtr), vec.transform(Xte), np.array(ytr), np.array(yte)


def _timed_fit(clf, X, y):
    """Seconds ``clf.fit(X, y)`` took. (``_common.time_runs`` times a cold
    call and warm ones together; here peak memory is read after the first
    fit, before the later ones.)"""
    start = time.perf_counter()
    clf.fit(X, y)
    return time.perf_counter() - start


def _product_and_rows(X, y):
    """Fit times with the first layer's kernel gradient as one product and
    as Keras's gathered rows, in turn in this process: the first fit of each
    (which traces it), then the median of the later ones."""
    from skce._engine import _tensorflow_sparse

    limit = _tensorflow_sparse.PRODUCT_GRADIENT_ROWS
    times = {limit: [], 0: []}
    for _ in range(LATER_FITS + 2):
        for rows in times:
            _tensorflow_sparse.PRODUCT_GRADIENT_ROWS = rows
            times[rows].append(_timed_fit(_skce(), X, y))
    _tensorflow_sparse.PRODUCT_GRADIENT_ROWS = limit
    later = float(np.median(times[limit][1:]))
    rows_later = float(np.median(times[0][1:]))
    return {
        "fit_s": times[limit][0],
        "rows_fit_s": times[0][0],
        "later_fit_s": later,
        "rows_later_fit_s": rows_later,
        "later_ratio": later / rows_later,
    }


def _top_k(labels, y, k):
    return float((labels[:, :k] == y[:, None]).any(axis=1).mean())


def run_step(step):
    """One measurement, in this (fresh) process: a dict of results."""
    quiet_environment()
    # Import skce (and the backend) first: their code is not the data's memory.
    import skce  # noqa: F401

    task = "speaker" if step.startswith("speaker") else "play"
    if step == "hashing":
        from sklearn.feature_extraction.text import HashingVectorizer

        texts, plays, _ = _speeches()
        # Thousands of speeches, two epochs: every step updates the whole
        # 2**20-row kernel and its Adam moments, whatever the batch holds.
        texts, plays = texts[:HASHING_SAMPLES], plays[:HASHING_SAMPLES]
        X = HashingVectorizer(n_features=2**20, dtype=np.float32).transform(texts)
        before = _peak_kib()
        clf = _skce(hidden_layer_sizes=(HASHING_HIDDEN,), epochs=2)
        seconds = _timed_fit(clf, X, plays)
        clf.predict(X)
        return {
            "n_samples": X.shape[0],
            "n_features": X.shape[1],
            "nnz": int(X.nnz),
            "dense_gib": X.shape[0] * X.shape[1] * 4 / 2**30,
            "fit_s": seconds,
            "peak_rss_growth_mib": (_peak_kib() - before) / 1024,
        }
    Xtr, Xte, ytr, yte = _tfidf(task)
    if step.endswith("_rows"):
        return _product_and_rows(Xtr, ytr) if current_backend() == "tensorflow" else {}
    if step.endswith("dense"):
        Xtr, Xte = Xtr.toarray(), Xte.toarray()
    make = _mlp if "sklearn" in step else _skce
    clf = make()
    before = _peak_kib()
    seconds = _timed_fit(clf, Xtr, ytr)
    row = {
        "n_samples": Xtr.shape[0],
        "n_features": Xtr.shape[1],
        "n_classes": len(np.unique(ytr)),
        "fit_s": seconds,
        "accuracy": float(clf.score(Xte, yte)),
        "peak_rss_growth_mib": (_peak_kib() - before) / 1024,
    }
    if not step.endswith("dense"):
        # Later fits in the same process, as in a search: a new estimator
        # each, the same data and settings.
        later = [_timed_fit(make(), Xtr, ytr) for _ in range(LATER_FITS)]
        row["later_fit_s"] = float(np.median(later))
    if task == "speaker":
        if hasattr(clf, "predict_top_k"):
            labels, _ = clf.predict_top_k(Xte, 5)
        else:
            order = np.argsort(-clf.predict_proba(Xte), axis=1)[:, :5]
            labels = clf.classes_[order]
        row["top5_accuracy"] = _top_k(labels, yte, 5)
    return row


STEPS = (
    "hashing",
    "play_skce",
    "play_sklearn",
    "play_skce_jax",
    "play_skce_dense",
    "speaker_skce",
    "speaker_sklearn",
    "speaker_skce_jax",
    "speaker_skce_rows",
)


#: Rounds of the timed steps; the memory steps run once.
ROUNDS = 5
ONCE = ("hashing", "play_skce_dense")


def _median_row(found):
    """The first run's row, with the median of each fit time over all runs."""
    row = dict(found[0])
    for key, value in found[0].items():
        if key.endswith(("fit_s", "_ratio")) and isinstance(value, float):
            row[key] = float(np.median([r[key] for r in found]))
    if "fit_s" in row:
        row["fit_s_runs"] = [r["fit_s"] for r in found]
    return row


def _child(step, jax_cache):
    """Run ``step`` in a fresh process: a ``_jax`` step on JAX, with skce's
    compilation cache in ``jax_cache`` (empty at the first round)."""
    env = dict(os.environ)
    if step.endswith("_jax"):
        env.update(KERAS_BACKEND="jax", SKCE_JAX_CACHE=jax_cache)
    out = subprocess.run(
        [sys.executable, __file__, "--step", step],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _later(skce_row, mlp_row):
    return f"{skce_row['later_fit_s'] / mlp_row['later_fit_s']:.2f}x"


def _rows_lines(both, env):
    """The product gradient against Keras's gathered rows (TensorFlow only)."""
    if env["backend"] != "tensorflow":
        return []
    return [
        "On TensorFlow the first layer's kernel gradient is one dense product, "
        "`X_batch.T @ upstream`. Fitted in turn in one process against it as "
        "Keras gives it (gathered rows, `PRODUCT_GRADIENT_ROWS = 0`), in each "
        f"of {ROUNDS} processes, the product's later fits took "
        f"**{both['later_ratio']:.2f}x** the gathered rows' time (the median of "
        f"the processes' ratios, each of two medians of {LATER_FITS + 1} fits; "
        f"medians {both['later_fit_s']:.2f} s and {both['rows_later_fit_s']:.2f} s). "
        "Each way's first fit in the process (which traces it) took "
        f"{both['fit_s']:.2f} s and {both['rows_fit_s']:.2f} s.",
        "",
    ]


def _report(rows, env):
    play, mlp, dense = rows["play_skce"], rows["play_sklearn"], rows["play_skce_dense"]
    play_jax, spk_jax = rows["play_skce_jax"], rows["speaker_skce_jax"]
    spk, spk_mlp, spk_rows, hashing = (
        rows["speaker_skce"],
        rows["speaker_sklearn"],
        rows["speaker_skce_rows"],
        rows["hashing"],
    )
    lines = [
        "# Sparse TF-IDF text: skce against MLPClassifier",
        "",
        f"Code: {env['source']}. Machine: {env['machine']}. "
        f"{load_note(env['load'], env['load'])} The load average is read at "
        "the end; skce and MLPClassifier ran in turn, so read the ratios.",
        f"Backend: {env['backend']}. One hidden layer of {HIDDEN} units, "
        f"{EPOCHS} epochs, batch {BATCH}, TF-IDF (sublinear tf, min_df=2, float32).",
        "",
        f"## Which play ({play['n_classes']} plays in the training split)",
        "",
        f"{play['n_samples']} training speeches x {play['n_features']} terms.",
        "",
        f"Fit times are medians of {ROUNDS} runs, skce and MLPClassifier in turn: "
        "the first fit in a fresh process, and (later fit) the median of the "
        f"{LATER_FITS} fits that follow it in that process, as in a search.",
        "",
        "| | fit (s) | later fit (s) | test accuracy | peak RSS growth (MiB) |",
        "|---|---|---|---|---|",
        f"| skce, sparse X | {play['fit_s']:.2f} | {play['later_fit_s']:.2f} | "
        f"{play['accuracy']:.3f} | {play['peak_rss_growth_mib']:.0f} |",
        f"| MLPClassifier, sparse X | {mlp['fit_s']:.2f} | {mlp['later_fit_s']:.2f} | "
        f"{mlp['accuracy']:.3f} | {mlp['peak_rss_growth_mib']:.0f} |",
        f"| skce on JAX, sparse X | {play_jax['fit_s']:.2f} | "
        f"{play_jax['later_fit_s']:.2f} | {play_jax['accuracy']:.3f} | "
        f"{play_jax['peak_rss_growth_mib']:.0f} |",
        f"| skce, X.toarray() | {dense['fit_s']:.2f} | | {dense['accuracy']:.3f} | "
        f"{dense['peak_rss_growth_mib']:.0f} |",
        "",
        f"skce / MLPClassifier fit time: **{play['fit_s'] / mlp['fit_s']:.2f}x** "
        f"on {env['backend']}, **{play_jax['fit_s'] / mlp['fit_s']:.2f}x** on JAX "
        f"(later fits: {_later(play, mlp)} and {_later(play_jax, mlp)}); "
        f"accuracy difference {play['accuracy'] - mlp['accuracy']:+.3f} "
        f"({play_jax['accuracy'] - mlp['accuracy']:+.3f} on JAX). "
        f"Peak memory, sparse / dense path: "
        f"{play['peak_rss_growth_mib'] / max(dense['peak_rss_growth_mib'], 1):.2f}x.",
        "",
        f"## Who speaks it ({spk['n_classes']} speakers with 20+ speeches)",
        "",
        "| | fit (s) | later fit (s) | top-1 | top-5 |",
        "|---|---|---|---|---|",
        f"| skce (predict_top_k) | {spk['fit_s']:.2f} | {spk['later_fit_s']:.2f} | "
        f"{spk['accuracy']:.3f} | {spk['top5_accuracy']:.3f} |",
        f"| MLPClassifier | {spk_mlp['fit_s']:.2f} | {spk_mlp['later_fit_s']:.2f} | "
        f"{spk_mlp['accuracy']:.3f} | {spk_mlp['top5_accuracy']:.3f} |",
        f"| skce on JAX (predict_top_k) | {spk_jax['fit_s']:.2f} | "
        f"{spk_jax['later_fit_s']:.2f} | {spk_jax['accuracy']:.3f} | "
        f"{spk_jax['top5_accuracy']:.3f} |",
        "",
        f"skce / MLPClassifier fit time: **{spk['fit_s'] / spk_mlp['fit_s']:.2f}x** "
        f"on {env['backend']}, **{spk_jax['fit_s'] / spk_mlp['fit_s']:.2f}x** on JAX "
        f"(later fits: {_later(spk, spk_mlp)} and {_later(spk_jax, spk_mlp)}).",
        "",
        *_rows_lines(spk_rows, env),
        "Each first fit runs in a fresh process, so its skce time includes "
        "tracing and compiling; later fits reuse what the first traced. "
        "On JAX, skce's persistent compilation cache starts empty: the first "
        "round compiles (seconds per run, in order: "
        f"{', '.join(f'{t:.2f}' for t in play_jax['fit_s_runs'])} and "
        f"{', '.join(f'{t:.2f}' for t in spk_jax['fit_s_runs'])}), later "
        "rounds read what it wrote, as every later process does by default.",
        "",
        "## HashingVectorizer(n_features=2**20)",
        "",
        f"{hashing['n_samples']} speeches, {hashing['nnz']} stored values; dense "
        f"float32 X would take {hashing['dense_gib']:.1f} GiB. skce's fit took "
        f"{hashing['fit_s']:.1f} s with peak RSS growth "
        f"**{hashing['peak_rss_growth_mib']:.0f} MiB**, with {HASHING_HIDDEN} "
        f"hidden units: the 2**20 x {HASHING_HIDDEN} kernel, its gradient and "
        "its two Adam moments take 512 MiB of it.",
    ]
    return "\n".join(lines) + "\n"


def main():
    if "--step" in sys.argv:
        print(json.dumps(run_step(sys.argv[sys.argv.index("--step") + 1])))
        return
    if not DATA.exists():
        print(f"skipped: no {DATA}")
        return
    quiet_environment()
    runs = {step: [] for step in STEPS}
    jax_cache = tempfile.mkdtemp(prefix="skce-jax-cache-")
    # The timed pairs run in turn, ROUNDS times, so that a change in the
    # machine's load falls on both sides of each ratio.
    for round_ in range(ROUNDS):
        for step in STEPS:
            if round_ and step in ONCE:
                continue
            runs[step].append(_child(step, jax_cache))
            print(step, runs[step][-1], flush=True)
    rows = {step: _median_row(found) for step, found in runs.items()}
    env = {
        "source": source_state(),
        "machine": "; ".join(machine_lines()),
        "backend": current_backend(),
        "load": load_average(),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "sparse.json").write_text(
        json.dumps({"environment": env, "rows": rows}, indent=2) + "\n"
    )
    (RESULTS / "sparse.md").write_text(_report(rows, env))
    print(_report(rows, env))


if __name__ == "__main__":
    main()
