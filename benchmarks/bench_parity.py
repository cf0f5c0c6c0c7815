"""Accuracy parity with MLPClassifier at MLPClassifier's own settings.

Wine, breast cancer and digits, each in a ``StandardScaler`` pipeline; one
hidden layer of 32 ReLU units, 60 epochs, Adam at learning rate 0.001, alpha
1e-4, batch ``min(200, n_samples)``, stopping on the training loss after 10
epochs without improvement (``tol=1e-4``): ``MLPClassifier``'s defaults,
which ``SparseCEMLPClassifier`` shares. The score is the mean accuracy of a
3-fold stratified cross-validation (the same folds for every seed), averaged
over ``--seeds`` values of ``random_state``.

    python benchmarks/bench_parity.py --backend tensorflow,jax
    python benchmarks/bench_parity.py --backend tensorflow --seeds 4 \\
        --results /tmp/parity-trial                   # a quick trial run
"""

import math
import statistics
import warnings

from _common import (
    current_backend,
    make_parser,
    quiet_environment,
    run,
    source_state,
    write_report,
)

HIDDEN = (32,)
EPOCHS = 60
DATASETS = ("wine", "breast_cancer", "digits")
#: The issue's target: skce's mean within this of MLPClassifier's.
TOLERANCE = 0.01


def load(name):
    from sklearn import datasets

    return getattr(datasets, f"load_{name}")(return_X_y=True)


def scores(make, X, y, seeds) -> list:
    """Mean 3-fold CV accuracy of ``make(seed)`` for each seed."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    out = []
    for seed in seeds:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            pipe = make_pipeline(StandardScaler(), make(seed))
            out.append(float(cross_val_score(pipe, X, y, cv=3).mean()))
    return out


def measure(args) -> list:
    from sklearn.neural_network import MLPClassifier

    from skce import SparseCEMLPClassifier

    backend = current_backend()
    seeds = range(args.seeds)
    rows = []
    for dataset in DATASETS:
        X, y = load(dataset)
        for name, make in (
            (
                "sklearn MLPClassifier",
                lambda s: MLPClassifier(HIDDEN, max_iter=EPOCHS, random_state=s),
            ),
            (
                "skce SparseCEMLPClassifier",
                lambda s: SparseCEMLPClassifier(HIDDEN, epochs=EPOCHS, random_state=s),
            ),
        ):
            got = scores(make, X, y, seeds)
            rows.append(
                {
                    "dataset": dataset,
                    "estimator": name,
                    "backend": backend if name.startswith("skce") else "—",
                    "seeds": len(got),
                    "mean": statistics.mean(got),
                    "sd": statistics.stdev(got) if len(got) > 1 else 0.0,
                    "scores": got,
                    "source": source_state(),
                }
            )
            print(f"[{backend}] {dataset} {name}: {rows[-1]['mean']:.4f}", flush=True)
    return rows


def report(rows) -> None:
    # MLPClassifier gives the same numbers in every backend's process: keep one.
    reference = {}
    for r in rows:
        if r["estimator"].startswith("sklearn"):
            reference.setdefault(r["dataset"], r)
    rows = [r for r in rows if r["estimator"].startswith("skce")]
    rows = [*reference.values(), *rows]
    table = []
    for r in rows:
        ref = reference[r["dataset"]]
        skce = r["estimator"].startswith("skce")
        paired = [a - b for a, b in zip(r["scores"], ref["scores"], strict=True)]
        gap = statistics.mean(paired)
        # Standard error of the mean of the per-seed differences: each seed
        # gives both estimators the same initial weights and folds.
        se = statistics.stdev(paired) / math.sqrt(len(paired)) if skce else 0.0
        table.append(
            [
                r["dataset"],
                r["estimator"],
                r["backend"],
                str(r["seeds"]),
                f"{r['mean']:.4f} ± {r['sd']:.4f}",
                f"{gap:+.4f} ± {se:.4f}" if skce else "—",
                f"{max(abs(d) for d in paired):.4f}" if skce else "—",
                ("**yes**" if abs(gap) <= TOLERANCE else "no") if skce else "—",
            ]
        )
    write_report(
        "parity",
        "Accuracy parity with MLPClassifier at its own settings",
        [
            (
                "Mean 3-fold CV accuracy over seeds (± standard deviation over seeds)",
                [
                    "dataset",
                    "estimator",
                    "backend",
                    "seeds",
                    "accuracy",
                    "skce − MLPClassifier (± standard error)",
                    "largest difference on one seed",
                    f"within {TOLERANCE}",
                ],
                table,
            )
        ],
        [
            f"Both estimators: hidden_layer_sizes={HIDDEN}, {EPOCHS} epochs "
            "(max_iter for MLPClassifier), every other parameter at its "
            "default (the two share them); StandardScaler first; "
            "cross_val_score(cv=3).",
            "Initial weights: for an integer random_state, skce's MLP draws "
            "MLPClassifier's own initial weights (kernels and biases, from "
            "RandomState(random_state) in MLPClassifier's order), and its "
            "'adam' takes MLPClassifier's epsilon (1e-8), so each seed starts "
            "both estimators from the same network. Before, Keras's zero "
            "biases left skce 0.01 to 0.03 below MLPClassifier on wine, and "
            "with the biases drawn but from another generator the 24-seed "
            "means still differed by up to 0.03 on wine, whose accuracy varies "
            "by about 0.05 from seed to seed.",
            "The last column compares means; the paired column gives, seed by "
            "seed, the largest difference of the two cross-validated "
            "accuracies.",
            "Accuracy does not depend on the machine's load.",
        ],
        rows,
    )


def main() -> None:
    parser = make_parser(__doc__.splitlines()[0], repeats=None)
    parser.add_argument(
        "--seeds", type=int, default=24, help="random_state values (default 24)."
    )
    args = parser.parse_args()
    quiet_environment()
    run(args, "parity", measure, report)


if __name__ == "__main__":
    main()
