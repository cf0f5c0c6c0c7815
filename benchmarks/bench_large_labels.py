"""Many classes: peak memory of sparse labels (skce) against one-hot labels (Keras).

100 000 samples x 32 random float32 features, random integer labels over
20 000 classes (every class appears). skce's SparseCEClassifier (model=None:
one Dense(32 -> 20 000) layer, logits) trains one epoch at batch 1024, then
predicts labels and the top 5 labels (``predict_top_k``). The "raw backend
loop" does the same math written by hand in the backend: the same Keras
layer and Adam, the crossentropy of the logits, one epoch of shuffled
mini-batches of 1024 through a ``jax.jit`` step on JAX or a ``tf.function``
step on TensorFlow. It is the floor that skce's fit is held to. The
one-hot approach, what keras.wrappers.SKLearnClassifier does,
is the same layer with a softmax, trained with categorical_crossentropy on
``keras.utils.to_categorical`` targets and predicted with ``model.predict``
then argmax. Its n x 20 000 float64 label matrix would alone take 16 GB at
n = 100 000, so it runs at smaller n and its peak memory and time are
extrapolated linearly to 100 000.

Each candidate runs in a fresh process, so the whole-process peak resident
memory (``ru_maxrss``) of one never includes another's.

    python benchmarks/bench_large_labels.py --backend tensorflow,jax
    python benchmarks/bench_large_labels.py --backend tensorflow,jax \
        --skce-n 4000 --onehot-n 1000 2000 --results /tmp/labels-trial  # trial
"""

import time

from _common import (
    bar_plot,
    fmt,
    make_parser,
    peak_during,
    peak_rss_mb,
    per_candidate,
    quiet_environment,
    run,
    write_report,
)

N_FEATURES = 32
N_CLASSES = 20_000
BATCH_SIZE = 1024
LEARNING_RATE = 0.01  # SparseCEClassifier's default, with Adam
TOP_K = 5
TARGET_MB = 3 * 1024  # 3 GiB, in the MiB ru_maxrss reports
TARGET_RAW = 1.5  # skce fit <= 1.5 x the raw backend loop

SKCE = "skce SparseCEClassifier (sparse int labels)"
FLOOR = "skce on a toy problem (runtime floor)"
RAW = "raw backend loop (same layer, loss and Adam, hand-written step)"
ONEHOT = "Keras one-hot (to_categorical + categorical_crossentropy)"
NAMES = {"skce": SKCE, "raw": RAW, "onehot": ONEHOT}


def make_data(n: int, n_classes: int):
    import numpy as np

    rng = np.random.RandomState(0)
    X = rng.standard_normal((n, N_FEATURES)).astype(np.float32)
    y = rng.randint(0, n_classes, n)
    covered = min(n, n_classes)
    y[:covered] = np.arange(covered)
    return X, y


def raw_model(n_classes: int):
    """skce's model=None network: one Dense layer to logits, and its Adam."""
    import keras

    # A seeded initializer, not keras.utils.set_random_seed: that one also
    # imports TensorFlow (when installed) to seed it, which a JAX loop
    # would pay for in time and memory.
    init = keras.initializers.GlorotUniform(seed=0)
    model = keras.Sequential(
        [
            keras.Input((N_FEATURES,)),
            keras.layers.Dense(n_classes, kernel_initializer=init),
        ]
    )
    optimizer = keras.optimizers.Adam(LEARNING_RATE)
    optimizer.build(model.trainable_variables)
    return model, optimizer


def raw_epoch_jax(X, y, n_classes: int) -> float:
    """One epoch through a hand-written ``jax.jit`` step; returns the mean loss."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    model, optimizer = raw_model(n_classes)

    def loss_fn(tv, ntv, x, labels):
        logits, ntv = model.stateless_call(tv, ntv, x)
        picked = jnp.take_along_axis(logits, labels[:, None], axis=-1)[:, 0]
        return jnp.mean(jax.nn.logsumexp(logits, axis=-1) - picked), ntv

    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

    def step(tv, ntv, ov, x_all, y_all, idx):
        (loss, ntv), grads = grad_fn(tv, ntv, x_all[idx], y_all[idx])
        tv, ov = optimizer.stateless_apply(ov, grads, tv)
        return tv, ntv, ov, loss

    step = jax.jit(step, donate_argnums=(0, 1, 2))
    tv = [v.value for v in model.trainable_variables]
    ntv = [v.value for v in model.non_trainable_variables]
    ov = [v.value for v in optimizer.variables]
    x_all, y_all = jnp.asarray(X), jnp.asarray(y, jnp.int32)
    perm = np.random.RandomState(0).permutation(len(X)).astype(np.int32)
    losses = []
    for start in range(0, len(X), BATCH_SIZE):
        idx = jnp.asarray(perm[start : start + BATCH_SIZE])
        tv, ntv, ov, loss = step(tv, ntv, ov, x_all, y_all, idx)
        losses.append(loss)
    jax.block_until_ready(tv)
    return float(np.mean(losses))


def raw_epoch_tensorflow(X, y, n_classes: int) -> float:
    """One epoch through a hand-written ``tf.function`` step; returns the mean loss."""
    import numpy as np
    import tensorflow as tf

    model, optimizer = raw_model(n_classes)
    x_all, y_all = tf.constant(X), tf.constant(y, tf.int32)
    variables = model.trainable_variables

    @tf.function(input_signature=[tf.TensorSpec([None], tf.int32)])
    def step(idx):
        x, labels = tf.gather(x_all, idx), tf.gather(y_all, idx)
        with tf.GradientTape() as tape:
            logits = model(x, training=True)
            loss = tf.reduce_mean(
                tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)
            )
        optimizer.apply(tape.gradient(loss, variables), variables)
        return loss

    perm = np.random.RandomState(0).permutation(len(X)).astype(np.int32)
    losses = [
        step(tf.constant(perm[start : start + BATCH_SIZE]))
        for start in range(0, len(X), BATCH_SIZE)
    ]
    return float(np.mean(tf.stack(losses).numpy()))


def run_candidate(candidate: str) -> dict:
    """Fit one epoch and predict, in this (fresh) process; report time and RSS.

    ``candidate`` is ``"kind:n:n_classes"``, kind being skce, raw or onehot.
    """
    import keras
    import numpy as np

    kind, n, n_classes = candidate.split(":")
    n, n_classes = int(n), int(n_classes)
    X, y = make_data(n, n_classes)
    rss_data = peak_rss_mb()
    backend = keras.backend.backend()
    extra = {}
    start = time.perf_counter()
    if kind == "raw":
        train = raw_epoch_jax if backend == "jax" else raw_epoch_tensorflow
        extra["train_loss"] = train(X, y, n_classes)
        fit_s = time.perf_counter() - start
        rss_fit = peak_rss_mb()
        predict_s, peaks = None, [rss_fit]
    elif kind == "onehot":
        keras.utils.set_random_seed(0)
        model = keras.Sequential(
            [
                keras.Input((N_FEATURES,)),
                keras.layers.Dense(n_classes, activation="softmax"),
            ]
        )
        model.compile(
            optimizer=keras.optimizers.Adam(0.01), loss="categorical_crossentropy"
        )
        targets = keras.utils.to_categorical(y, n_classes)
        model.fit(X, targets, epochs=1, batch_size=BATCH_SIZE, verbose=0)
        fit_s = time.perf_counter() - start
        rss_fit = peak_rss_mb()

        def predict():
            return np.argmax(model.predict(X, batch_size=BATCH_SIZE, verbose=0), 1)

        predicted, predict_s, peaks = _timed_inference(predict, extra, "predict")
        extra["train_accuracy"] = float((predicted == y).mean())
        peaks.append(rss_fit)
    else:
        from skce import SparseCEClassifier

        clf = SparseCEClassifier(epochs=1, batch_size=BATCH_SIZE, random_state=0)
        clf.fit(X, y)
        fit_s = time.perf_counter() - start
        rss_fit = peak_rss_mb()
        predicted, predict_s, peaks = _timed_inference(
            lambda: clf.predict(X), extra, "predict"
        )
        extra["train_accuracy"] = float((predicted == y).mean())
        if n_classes >= TOP_K:
            (labels, _), _, more = _timed_inference(
                lambda: clf.predict_top_k(X, k=TOP_K), extra, "top_k"
            )
            peaks += more
            # The top-1 label is predict's label: a check that both agree.
            extra["top_k_agrees"] = bool((labels[:, 0] == predicted).all())
        peaks.append(rss_fit)
    return {
        "backend": backend,
        "kind": kind,
        "candidate": NAMES[kind] if n_classes == N_CLASSES else FLOOR,
        "n": n,
        "n_classes": n_classes,
        "fit_s": fit_s,
        "predict_s": predict_s,
        "rss_data_mb": rss_data,
        "rss_fit_mb": rss_fit,
        # Inference resets the peak to measure itself; the process's peak is
        # the largest of the stretches measured.
        "peak_rss_mb": max(peaks),
        **extra,
    }


def _timed_inference(fn, extra: dict, name: str) -> tuple:
    """Time ``fn()`` and record its peak memory in ``extra`` under ``name``.

    Returns ``(result, seconds, [peak MB])``.
    """
    start = time.perf_counter()
    result, before, peak, exact = peak_during(fn)
    seconds = time.perf_counter() - start
    extra[f"{name}_s"] = seconds
    extra[f"{name}_rss_before_mb"] = before
    extra[f"{name}_peak_mb"] = peak
    extra[f"{name}_peak_exact"] = exact
    return result, seconds, [peak]


def measure(args) -> list:
    plan = ["skce:1000:2"]
    plan += [f"skce:{n}:{N_CLASSES}" for n in args.skce_n]
    plan += [f"raw:{n}:{N_CLASSES}" for n in args.raw_n or (max(args.skce_n),)]
    plan += [f"onehot:{n}:{N_CLASSES}" for n in args.onehot_n]
    rows = per_candidate(args, plan, run_candidate)
    if args.candidate is None:
        for row in rows:
            print(
                f"{row['backend']:<10} {row['candidate']:<58} n={row['n']:>6}  "
                f"fit {row['fit_s']:7.1f} s  predict {fmt(row['predict_s'])} s  "
                f"peak RSS {row['peak_rss_mb']:7.0f} MB",
                flush=True,
            )
    return rows


def _extrapolate(rows, key, n):
    """Least-squares line through (row n, row key), evaluated at ``n``."""
    import numpy as np

    xs = np.array([r["n"] for r in rows], dtype=float)
    ys = np.array([r[key] for r in rows], dtype=float)
    slope, intercept = np.polyfit(xs, ys, 1)
    return float(slope * n + intercept), float(slope)


def report(rows) -> None:
    table, targets, bars, inference = [], [], [], []
    n_target = max(r["n"] for r in rows if r["kind"] == "skce")
    for backend in dict.fromkeys(r["backend"] for r in rows):
        mine = [r for r in rows if r["backend"] == backend]
        for r in mine:
            table.append(
                [
                    backend,
                    r["candidate"],
                    f"{r['n']:,}",
                    f"{r['n_classes']:,}",
                    f"{r['fit_s']:.1f}",
                    "—" if r["predict_s"] is None else f"{r['predict_s']:.1f}",
                    f"{r['rss_data_mb']:.0f}",
                    f"{r['rss_fit_mb']:.0f}",
                    f"**{r['peak_rss_mb']:.0f}**",
                    "measured",
                ]
            )
            bars.append(
                (
                    f"{r['candidate'].split(' (')[0]}, n={r['n']:,}",
                    r["peak_rss_mb"],
                    backend,
                )
            )
        onehot = [r for r in mine if r["kind"] == "onehot"]
        if len(onehot) >= 2:
            peak, slope = _extrapolate(onehot, "peak_rss_mb", n_target)
            fit_s, _ = _extrapolate(onehot, "fit_s", n_target)
            predict_s, _ = _extrapolate(onehot, "predict_s", n_target)
            sizes = ", ".join(f"{r['n']:,}" for r in onehot)
            table.append(
                [
                    backend,
                    f"{ONEHOT}, *extrapolated*",
                    f"{n_target:,}",
                    f"{N_CLASSES:,}",
                    f"*{fit_s:.0f}*",
                    f"*{predict_s:.0f}*",
                    "—",
                    "—",
                    f"***{peak:.0f}***",
                    f"linear fit over n = {sizes} "
                    f"({slope * 1000:.0f} MB per 1000 samples)",
                ]
            )
            bars.append(
                (f"one-hot, n={n_target:,} (extrapolated)", peak, backend, True)
            )
        skce = [r for r in mine if r["candidate"] == SKCE and r["n"] == n_target]
        if skce:
            peak = skce[0]["peak_rss_mb"]
            targets.append(
                [
                    backend,
                    f"skce whole-process peak RSS <= 3 GiB at n={n_target:,}",
                    f"{peak:.0f} MB ({peak / TARGET_MB:.2f} of the bound)",
                    "met" if peak <= TARGET_MB else "missed",
                ]
            )
            print(f"[{backend}] skce peak RSS / 3 GiB: {peak / TARGET_MB:.2f}")
        raw = [r for r in mine if r["kind"] == "raw" and r["n"] == n_target]
        if skce and raw:
            ratio = skce[0]["fit_s"] / raw[0]["fit_s"]
            targets.append(
                [
                    backend,
                    f"skce fit <= {TARGET_RAW} x raw backend loop at n={n_target:,}",
                    f"{ratio:.2f} ({skce[0]['fit_s']:.1f} s against "
                    f"{raw[0]['fit_s']:.1f} s)",
                    "met" if ratio <= TARGET_RAW else "missed",
                ]
            )
            print(f"[{backend}] skce fit / raw backend loop: {ratio:.2f}")
        for r in mine:
            if r["kind"] == "skce" and "top_k_s" in r:
                inference.append(_inference_row(r))
    label_gb = n_target * N_CLASSES * 8 / 1e9
    notes = [
        "Times are wall-clock seconds of one `fit` (1 epoch, batch "
        f"{BATCH_SIZE}, including building the model and compiling) and of "
        "one `predict` over the training set; one run each, in a fresh "
        "process, so both include tracing/compilation.",
        "The raw backend loop is timed the same way, from building the model "
        "to the end of its epoch: Keras's Dense layer and "
        f"Adam({LEARNING_RATE}) (SparseCEClassifier's defaults), the mean "
        "crossentropy of the logits at each label (`logsumexp - logit[y]` "
        "on JAX, `tf.nn.sparse_softmax_cross_entropy_with_logits` on "
        "TensorFlow), one shuffled epoch of mini-batches of "
        f"{BATCH_SIZE} (the last one smaller), one compiled call per "
        "mini-batch. skce does the same arithmetic and also counts correct "
        "predictions and weighs samples.",
        f"`predict_top_k(X, k={TOP_K})` never holds an n x {N_CLASSES:,} "
        "array: it computes the softmax and the top k chunk by chunk "
        "(1,024 rows at a time) and keeps only the k labels and "
        f"probabilities of each row; n x {N_CLASSES:,} float32 would be "
        f"{n_target * N_CLASSES * 4 / 1e9:.1f} GB at n={n_target:,}. "
        "`predict` keeps only the argmax, the same way.",
        "Inference memory: each `predict` and `predict_top_k` call is "
        "measured alone, by resetting the process's peak RSS just before it "
        "(Linux `/proc/self/clear_refs`); *peak during* is the peak while "
        "the call ran, *RSS before* the resident memory when it started.",
        "RSS columns are the process's peak resident memory in MB (MiB, from "
        "`resource.getrusage(...).ru_maxrss`) after creating the data, after "
        "fit, and at the end (the whole-process peak), each candidate in its "
        "own process. The floor row shows what the Python process, Keras and "
        "the backend take before any large array exists.",
        f"*Extrapolated* rows are not measurements: a straight line fitted to "
        f"the one-hot runs at smaller n, evaluated at n={n_target:,}. The "
        f"one-hot label matrix alone (n x {N_CLASSES:,} float64, what "
        f"to_categorical and SKLearnClassifier's OneHotEncoder return) is "
        f"{label_gb:.1f} GB at n={n_target:,}, and model.predict adds an "
        f"n x {N_CLASSES:,} float32 probability matrix "
        f"({n_target * N_CLASSES * 4 / 1e9:.1f} GB) before the argmax.",
        "The one-hot runs below n=20,000 cannot contain every class; the "
        "network still has 20,000 outputs and the label matrix 20,000 "
        "columns, so memory and time are those of the 20,000-class problem.",
        "Labels are random, so the accuracy of either model is near chance; "
        "only time and memory are compared.",
    ]
    write_report(
        "large_labels",
        f"{N_CLASSES:,} classes: time and whole-process peak memory",
        [
            (
                "Time and peak resident memory",
                [
                    "backend",
                    "candidate",
                    "n",
                    "classes",
                    "fit (s)",
                    "predict (s)",
                    "RSS after data (MB)",
                    "peak after fit (MB)",
                    "peak RSS (MB)",
                    "how",
                ],
                table,
            ),
            (
                f"Inference on the skce model: predict against "
                f"predict_top_k(k={TOP_K})",
                [
                    "backend",
                    "n",
                    "predict (s)",
                    f"top-{TOP_K} (s)",
                    "top-k ÷ predict",
                    "RSS before (MB)",
                    "peak during predict (MB)",
                    f"peak during top-{TOP_K} (MB)",
                    "top-1 = predict",
                ],
                inference,
            ),
            ("Targets", ["backend", "target", "measured", "verdict"], targets),
        ],
        notes,
        rows,
    )
    bar_plot(
        "large_labels",
        f"{N_CLASSES:,} classes, 1 epoch + predict: whole-process peak RSS",
        "MB (log scale)",
        bars,
        log=True,
    )


def _inference_row(r) -> list:
    def peak(name):
        mark = "" if r[f"{name}_peak_exact"] else " (peak since start)"
        return f"{r[f'{name}_peak_mb']:.0f}{mark}"

    return [
        r["backend"],
        f"{r['n']:,}",
        f"{r['predict_s']:.2f}",
        f"{r['top_k_s']:.2f}",
        fmt(r["top_k_s"] / r["predict_s"]),
        f"{r['predict_rss_before_mb']:.0f}",
        peak("predict"),
        peak("top_k"),
        "yes" if r["top_k_agrees"] else "no",
    ]


def main() -> None:
    quiet_environment()
    parser = make_parser(__doc__.splitlines()[0], repeats=None)
    parser.add_argument(
        "--skce-n",
        type=int,
        nargs="+",
        default=(50_000, 100_000),
        help="Sample counts to run skce at (default 50000 100000).",
    )
    parser.add_argument(
        "--raw-n",
        type=int,
        nargs="+",
        default=None,
        help="Sample counts to run the raw backend loop at (default: the "
        "largest --skce-n, where the target compares them).",
    )
    parser.add_argument(
        "--onehot-n",
        type=int,
        nargs="+",
        default=(2_000, 4_000, 8_000),
        help="Sample counts to run the one-hot approach at (default 2000 4000 "
        "8000); its memory is extrapolated from them.",
    )
    args = parser.parse_args()
    run(args, "large_labels", measure, report)


if __name__ == "__main__":
    main()
