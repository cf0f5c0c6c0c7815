"""The TensorFlow backend: executors and gradients of embeddings."""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from numpy.testing import assert_allclose

from skce import SparseCEMLPClassifier


def test_small_networks_train_on_the_single_threaded_executor(blobs, monkeypatch):
    """On TensorFlow's CPU a small network's epochs run on the single-threaded
    executor (faster for its many small operations), to the same weights."""
    if keras.backend.backend() != "tensorflow":
        pytest.skip("TensorFlow's executors")
    from skce._engine import _tensorflow as engine

    X, y = blobs
    X = X.astype(np.float32)

    def fit(hidden=(8,)):
        engine._EPOCH_CACHE.clear()
        clf = SparseCEMLPClassifier(hidden, epochs=3, random_state=0).fit(X, y)
        (key,) = list(engine._EPOCH_CACHE)
        return clf, key[-1]

    small, executor = fit()
    assert executor == engine.SINGLE_THREADED
    assert fit((8192,))[1] == ""  # 65,563 weights x 90 rows > SMALL_STEP
    monkeypatch.setattr(engine, "SMALL_STEP", 0)
    default, executor = fit()
    assert executor == ""
    for a, b in zip(
        small.model_.get_weights(), default.model_.get_weights(), strict=True
    ):
        assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    # Images and token ids keep the default executor whatever their size.
    model, optimizer = small.model_, small.model_.optimizer
    for x in (np.zeros((2, 4, 4, 1)), np.zeros((2, 4), int)):
        assert engine._executor_for(model, optimizer, x, 1, own_network=True) == ""
    # So do a user's network, and an optimizer skce does not name.
    x = np.zeros((2, 4), np.float32)
    assert engine._executor_for(model, optimizer, x, 1, own_network=False) == ""
    scaled = keras.optimizers.LossScaleOptimizer(optimizer)
    assert engine._executor_for(model, scaled, x, 1, own_network=True) == ""


def test_single_threaded_epochs_run_on_one_thread(blobs):
    """A small network's epoch really runs on the single-threaded executor:
    four independent branches per step all run on one thread, where
    TensorFlow's default executor spreads them over its thread pool."""
    if keras.backend.backend() != "tensorflow":
        pytest.skip("TensorFlow's executors")
    import threading
    import time

    import tensorflow as tf

    from skce import _engine
    from skce._engine import _tensorflow as engine

    threads = []

    def record(x):
        threads.append(threading.get_ident())
        time.sleep(0.002)  # releases the GIL: a pool would run a sibling now
        return x

    class Branches(keras.layers.Layer):
        def call(self, x):
            parts = [
                tf.ensure_shape(tf.py_function(record, [x * (i + 1)], x.dtype), x.shape)
                for i in range(4)
            ]
            return tf.add_n(parts)

    X, y = blobs
    X = X.astype(np.float32)
    inputs = keras.Input((X.shape[1],))
    out = keras.layers.Dense(3)(Branches()(keras.layers.Dense(4)(inputs)))
    model = keras.Model(inputs, out)
    optimizer = keras.optimizers.Adam()
    optimizer.build(model.trainable_variables)
    loss = _engine.SparseCELoss(from_logits=True, alpha=0.0, kernel_index=())
    data = (
        X,
        y.astype(np.int32),
        np.ones(len(X), np.float32),
        np.zeros(len(X), np.int32),
    )
    engine._EPOCH_CACHE.clear()
    with _engine.make_trainer(model, optimizer, loss, data, 10, ("branches",)) as t:
        assert t._executor == engine.SINGLE_THREADED
        t.epoch_on(t._device_data, np.arange(len(X)))
    assert len(threads) == 4 * 9 and len(set(threads)) == 1
    if tf.config.threading.get_inter_op_parallelism_threads() == 1:
        return  # a pool of one thread: nothing to contrast the executor with
    threads.clear()
    with _engine.make_trainer(model, optimizer, loss, data, 10, None) as t:
        assert t._executor == ""
        t.epoch_on(t._device_data, np.arange(len(X)))
    assert len(set(threads)) > 1


def test_short_epochs_run_several_per_call(blobs, monkeypatch):
    """On TensorFlow a fit's short epochs run up to 32 per call of the traced
    function, unless something watches each epoch (a callback of the user's,
    a progress bar, validation, a learning-rate schedule, early stopping that
    restores the best epoch) or an epoch is large (many rows, or many rows
    times weights)."""
    if keras.backend.backend() != "tensorflow":
        pytest.skip("TensorFlow's trainer")
    from skce._engine import _tensorflow as engine

    calls = []
    for name in ("train_epochs", "epoch_on"):
        original = getattr(engine.TensorFlowTrainer, name)

        def spy(self, *args, _name=name, _original=original):
            calls.append(_name)
            return _original(self, *args)

        monkeypatch.setattr(engine.TensorFlowTrainer, name, spy)
    X, y = blobs

    def fit(**params):
        calls.clear()
        params = {"epochs": 70, "n_iter_no_change": None, **params}
        SparseCEMLPClassifier((8,), **params).fit(X, y)
        return calls

    assert fit() == ["train_epochs"] * 3  # 32 + 32 + 6 epochs
    assert fit(callbacks=[keras.callbacks.Callback()]) == ["epoch_on"] * 70
    assert fit(verbose=1) == ["epoch_on"] * 70
    assert fit(validation_split=0.2) == ["epoch_on"] * 70
    assert fit(epochs="auto") == ["epoch_on"] * len(calls)  # annealed
    assert fit(early_stopping=True, n_iter_no_change=100) == ["epoch_on"] * 70
    monkeypatch.setattr(engine, "ROWS_PER_CALL", 20 * len(X))
    assert fit() == ["train_epochs"] * 4  # 20 + 20 + 20 + 10
    monkeypatch.setattr(engine, "ROWS_PER_CALL", len(X) - 1)
    assert fit() == ["epoch_on"] * 70
    monkeypatch.setattr(engine, "ROWS_PER_CALL", 1 << 16)
    weights = 4 * 8 + 8 + 8 * 3 + 3  # the (8,) network on 4 features, 3 classes
    monkeypatch.setattr(engine, "WORK_PER_CALL", 20 * len(X) * weights)
    assert fit() == ["train_epochs"] * 4
    monkeypatch.setattr(engine, "WORK_PER_CALL", len(X) * weights - 1)
    assert fit() == ["epoch_on"] * 70


def test_the_compiled_stopping_rule_decides_as_the_callback():
    """The rule TensorFlow's traced epochs apply between epochs keeps the
    count, the best loss and the decision of ``ConvergenceStopping``, at the
    edges too: an improvement of exactly ``tol``, a tie with the best, an
    epoch of zero weight, a loss that is not finite."""
    if keras.backend.backend() != "tensorflow":
        pytest.skip("TensorFlow's trainer")
    import tensorflow as tf

    from skce._engine import ConvergenceStopping
    from skce._engine._loop import StopRule
    from skce._engine._tensorflow_epochs import _stops
    from skce._engine._trainer import logs_from_totals

    tol, limit = 0.25, 2
    # (loss, weight sum) per epoch; float32 totals, as a fit's are.
    curve = [(4.0, 3), (3.75, 3), (3.5, 3), (3.0, 3), (3.0, 3), (2.9, 2), (2.8, 2)]
    curve += [(0.0, 0)]
    callback = ConvergenceStopping("loss", tol, limit, restore_best=False)
    callback.set_model(keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)]))
    best, count = StopRule().best, 0
    decisions = []
    for epoch, (loss, weight) in enumerate(curve):
        callback.model.stop_training = False
        totals = tf.constant([loss * weight, weight, 0.0], tf.float32)
        stop, best, count = _stops(totals, best, count, (None, None, tol, limit))
        callback.on_epoch_end(epoch, logs_from_totals(totals.numpy()))
        assert float(best) == callback.best
        assert int(count) == callback.no_improvement
        assert bool(stop) == callback.model.stop_training
        decisions.append(bool(stop))
    assert decisions == [False] * 6 + [True, False]
    # A loss that is not finite stops, as the host raises on it; so does a
    # NaN weight sum, whose loss the host's logs make NaN.
    for totals in ([np.nan, 1.0, 0.0], [1.0, np.nan, 0.0]):
        totals = tf.constant(totals, tf.float32)
        assert np.isnan(logs_from_totals(totals.numpy())["loss"])
        assert bool(_stops(totals, 1.0, 0, (None, None, tol, limit))[0])


def test_keras_tensorflow_optimizers_square_embedding_slices_one_by_one():
    """Why skce sums an Embedding's gradient slices on TensorFlow before Adam.

    Keras's TensorFlow optimizers square a tf.IndexedSlices gradient slice by
    slice, so a token seen twice in a batch adds g**2 + g**2 to Adam's second
    moment instead of (2 g)**2. If this starts failing, Keras has changed: the
    summing in skce/_engine/_tensorflow.py may then be unnecessary.
    """
    if keras.backend.backend() != "tensorflow":
        pytest.skip("tf.IndexedSlices exist on the TensorFlow backend only")
    import tensorflow as tf

    from skce._engine._tensorflow_epochs import _summed

    def second_moment(gradient):
        variable = keras.Variable(np.zeros((3, 2), dtype="float32"))
        optimizer = keras.optimizers.Adam(beta_2=0.5)
        optimizer.build([variable])
        optimizer.apply([gradient], [variable])
        # Adam's second moments are private; read the one of this variable.
        return keras.ops.convert_to_numpy(optimizer._velocities[0])[0, 0]

    twice = tf.IndexedSlices(
        tf.ones((2, 2)), tf.constant([0, 0]), dense_shape=tf.constant([3, 2])
    )
    assert second_moment(twice) == pytest.approx(0.5 * (1 + 1))  # Keras
    assert second_moment(_summed(twice)) == pytest.approx(0.5 * 2**2)  # skce


# The repository: tests/engine/ is two folders below it.
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


_SCRIPT = """
import pickle, sys, warnings
sys.path.insert(0, {root!r})
import numpy as np
from sklearn.datasets import make_classification
from sklearn.model_selection import GridSearchCV
from skce import SparseCEMLPClassifier

warnings.simplefilter("ignore")
X, y = make_classification(150, 8, n_classes=3, n_informative=5, random_state=0)
params = dict(epochs=1, n_iter_no_change=None, random_state=0)
for h in range(4, 12):  # eight architectures in a row
    SparseCEMLPClassifier((h,), **params).fit(X, y).predict_proba(X)
grid = {{"hidden_layer_sizes": [(3,), (5,), (6,), (7,), (3, 3), (5, 2)]}}
search = GridSearchCV(SparseCEMLPClassifier(**params), grid, cv=3).fit(X, y)
for h in range(12, 18):
    clf = SparseCEMLPClassifier((h,), **params).fit(X, y)
    pickle.loads(pickle.dumps(clf)).predict(X)
try:
    import skops.io as sio
except ImportError:
    sio = None
for h in range(18, 24) if sio is not None else ():
    dumped = sio.dumps(SparseCEMLPClassifier((h,), **params).fit(X, y))
    sio.loads(dumped, trusted=sio.get_untrusted_types(data=dumped)).predict(X)
print("DONE")
"""


def test_many_architectures_searches_and_round_trips_warn_nothing():
    """Fits of 8 architectures, a search, pickle and skops: no WARNING:tensorflow.

    TensorFlow warns when one function retraces often; skce's one function
    per architecture and per fitted model must not read as such.
    """
    result = subprocess.run(
        [sys.executable, "-c", _SCRIPT.format(root=ROOT)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "DONE" in result.stdout
    warned = [
        line for line in result.stderr.splitlines() if "WARNING:tensorflow" in line
    ]
    assert not warned, warned


def test_large_networks_are_traced_on_themselves(blobs, monkeypatch):
    """A network over SHARED_TRACE_BYTES trains without a cached private copy,
    to the weights of the cached path."""
    if keras.backend.backend() != "tensorflow":
        pytest.skip("TensorFlow's trace cache")
    from skce._engine import _tensorflow as engine

    X, y = blobs
    X = X.astype(np.float32)

    def fit():
        engine._EPOCH_CACHE.clear()
        clf = SparseCEMLPClassifier((8,), epochs=3, random_state=0).fit(X, y)
        return clf, len(engine._EPOCH_CACHE)

    cached, entries = fit()
    assert entries == 1
    monkeypatch.setattr(engine, "SHARED_TRACE_BYTES", 0)
    large, entries = fit()
    assert entries == 0
    for a, b in zip(
        cached.model_.get_weights(), large.model_.get_weights(), strict=True
    ):
        assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_sparse_fits_are_traced_on_a_copy_that_takes_sparse_input():
    """The private copy an MLP's epoch is traced on keeps its sparse Input, so
    sparse batches reach the first layer undensified."""
    if keras.backend.backend() != "tensorflow":
        pytest.skip("TensorFlow's trace cache")
    import scipy.sparse as sp

    from skce._engine import _tensorflow as engine

    X = sp.random(60, 40, density=0.1, format="csr", random_state=0)
    y = np.arange(60) % 3
    engine._EPOCH_CACHE.clear()
    SparseCEMLPClassifier((8,), epochs=1, random_state=0).fit(X, y)
    (traced,) = engine._EPOCH_CACHE.values()
    assert traced.shared
    assert [t.sparse for t in traced.model.inputs] == [True]


def test_a_sparse_batch_takes_its_kernel_gradient_as_one_product():
    """The Dense layer skce traces a sparse fit on computes Keras's product
    (equal values) and the kernel's gradient Keras's tape gives (densified),
    to rounding: with empty rows (the last among them) and terms shared by
    rows, in float32 and float64."""
    if keras.backend.backend() != "tensorflow":
        pytest.skip("TensorFlow's gradients")
    import scipy.sparse as sp
    import tensorflow as tf

    from skce._engine._tensorflow_sparse import product_gradient_layer

    for dtype in ("float32", "float64"):
        X = sp.random(12, 30, density=0.2, format="csr", random_state=1, dtype=dtype)
        X.data[:] = np.random.default_rng(2).normal(size=X.nnz)
        X.data[X.indptr[3] : X.indptr[4]] = 0  # Empty rows, one the last.
        X.data[X.indptr[11] :] = 0
        X.eliminate_zeros()
        X = X.tocoo()
        assert X.getnnz(axis=1)[[3, 11]].max() == 0 and X.getnnz(axis=0).max() > 1
        x = tf.SparseTensor(np.stack([X.row, X.col], 1), X.data, X.shape)
        dense = keras.layers.Dense(5, activation="tanh", dtype=dtype)
        dense.build((None, 30))
        ours = product_gradient_layer(dense)
        ours.build((None, 30))
        ours.set_weights(dense.get_weights())
        assert type(ours) is not keras.layers.Dense
        upstream = np.random.default_rng(3).normal(size=(12, 5)).astype(dtype)
        found = []
        for layer in (dense, ours):
            with tf.GradientTape() as tape:
                out = layer(x)
                loss = tf.reduce_sum(out * upstream)
            grads = tape.gradient(loss, [v.value for v in layer.trainable_weights])
            found.append([out.numpy(), *(tf.convert_to_tensor(g) for g in grads)])
        (out, kernel, bias), (our_out, our_kernel, our_bias) = found
        np.testing.assert_array_equal(our_out, out)
        assert isinstance(our_kernel, tf.Tensor)
        assert_allclose(our_kernel, kernel, rtol=1e-6, atol=1e-6)
        assert_allclose(our_bias, bias, rtol=1e-6, atol=1e-6)
        # Dense input takes Keras's own path.
        np.testing.assert_array_equal(ours(X.toarray()), dense(X.toarray()))


def test_sparse_fits_take_the_product_gradient_where_the_kernel_is_narrow(
    monkeypatch,
):
    """A sparse fit traces its Dense layers with the product gradient where
    the kernel has at most PRODUCT_GRADIENT_ROWS rows per stored value of a
    mini-batch (a user's functional network too), and keeps Keras's Dense
    layers for a wider kernel and for dense X; both ways train alike, each
    bit for bit again."""
    if keras.backend.backend() != "tensorflow":
        pytest.skip("TensorFlow's trace cache")

    from skce import SparseCEClassifier
    from skce._engine import _tensorflow as engine
    from skce._engine import _tensorflow_sparse as sparse

    def layer_types():
        (traced,) = engine._EPOCH_CACHE.values()
        return [type(layer) for layer in traced.model.layers[1:]]

    ours = sparse._ProductGradientDense
    X, fit = _penalised_fits("adam")  # 90 x 40, 4 values a row, batches of 32
    assert sparse.product_gradient(engine.SparseRows(X), 32, on_cpu=True)
    assert not sparse.product_gradient(engine.SparseRows(X), 32, on_cpu=False)
    assert not sparse.product_gradient(X.toarray(), 32, on_cpu=True)
    product = fit(X)[0]
    assert layer_types() == [ours, ours]
    _assert_close(product, fit(X.toarray())[0])
    _assert_equal(product, fit(X)[0])
    assert layer_types() == [ours, ours]
    fit(X.toarray())
    assert layer_types() == [keras.layers.Dense, keras.layers.Dense]
    # 40 rows > 0.25 x 128 values a mini-batch: Keras's gradient.
    monkeypatch.setattr(sparse, "PRODUCT_GRADIENT_ROWS", 0.25)
    slices = fit(X)[0]
    assert layer_types() == [keras.layers.Dense, keras.layers.Dense]
    _assert_close(slices, product)
    _assert_equal(slices, fit(X)[0])
    monkeypatch.undo()

    def build(meta):
        inputs = keras.Input((meta["n_features_in_"],), sparse=True)
        hidden = keras.layers.Dense(8, activation="relu")(inputs)
        return keras.Model(inputs, keras.layers.Dense(meta["n_classes_"])(hidden))

    engine._EPOCH_CACHE.clear()
    SparseCEClassifier(build, epochs=1, random_state=0).fit(X, np.arange(90) % 3)
    assert layer_types() == [ours, ours]


def _assert_close(found, expected):
    for a, b in zip(found, expected, strict=True):
        assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def _assert_equal(found, expected):
    for a, b in zip(found, expected, strict=True):
        np.testing.assert_array_equal(a, b)


def _penalised_fits(optimizer):
    """A fit of sparse X, under ``optimizer``: ``fit(X)`` returns the weights,
    the last epoch's loss and whether the update was compiled."""
    import scipy.sparse as sp

    from skce._engine import _tensorflow as engine

    X = sp.random(90, 40, density=0.1, format="csr", random_state=0, dtype=np.float32)
    y = np.arange(90) % 3

    def fit(X):
        engine._EPOCH_CACHE.clear()
        clf = SparseCEMLPClassifier(
            (8,),
            epochs=3,
            batch_size=32,
            n_iter_no_change=None,
            alpha=0.5,
            optimizer=optimizer,
            random_state=0,
        ).fit(X, y)
        (traced,) = engine._EPOCH_CACHE.values()
        weights = [*clf.model_.get_weights(), clf.history_["loss"][-1]]
        return weights, traced.update is not None

    return X, fit


@pytest.mark.parametrize(
    "optimizer, fused",
    [("adam", True), ("sgd", True), (keras.optimizers.SGD(0.1, 0.9, True), True)]
    + [("nadam", False), (keras.optimizers.Adam(amsgrad=True), False)],
    ids=["adam", "sgd", "nesterov", "nadam", "amsgrad"],
)
def test_sparse_fits_update_in_one_pass_and_train_as_dense_ones(optimizer, fused):
    """On sparse X the optimizer update runs as TensorFlow's fused training op
    (Adam, SGD) or XLA-compiled (the others), the L2 penalty added by hand;
    the fit repeats bit for bit and ends at the weights and loss of the same
    fit on dense X."""
    if keras.backend.backend() != "tensorflow":
        pytest.skip("TensorFlow's trace cache")
    from skce._engine import _tensorflow as engine

    X, fit = _penalised_fits(optimizer)
    first, compiled = fit(X)
    (traced,) = engine._EPOCH_CACHE.values()
    assert traced.fused == fused
    again, _ = fit(X)
    dense, dense_compiled = fit(X.toarray())
    assert compiled and not dense_compiled
    for a, b, c in zip(first, again, dense, strict=True):
        np.testing.assert_array_equal(a, b)
        assert_allclose(a, c, rtol=1e-5, atol=1e-6)


def test_a_loss_scaling_optimizer_keeps_the_taped_penalty():
    """With loss_scale_factor the update is not compiled (the penalty added by
    hand would be scaled down with the gradients) and the fit trains as on
    dense X."""
    if keras.backend.backend() != "tensorflow":
        pytest.skip("TensorFlow's trace cache")
    X, fit = _penalised_fits(keras.optimizers.Adam(1e-3, loss_scale_factor=128.0))
    sparse, compiled = fit(X)
    dense, _ = fit(X.toarray())
    assert not compiled
    for a, b in zip(sparse, dense, strict=True):
        assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def _keras_update(optimizer, weights):
    return lambda grads: optimizer.apply(grads, weights)


def _keras_and_fused_steps(make_optimizer, n_steps=6):
    """The weights and optimizer variables after ``n_steps`` of one optimizer
    on a kernel and a bias, updated by Keras's own step and by skce's fused
    one, from the same weights and gradients."""
    import tensorflow as tf

    from skce._engine._tensorflow_sparse import fused_update

    rng = np.random.default_rng(0)
    start = [rng.normal(size=(30, 4)), rng.normal(size=4)]
    # Small gradients, so that Adam's epsilon counts in its step.
    grads = [
        [tf.constant(1e-4 * rng.normal(size=w.shape), tf.float32) for w in start]
        for _ in range(n_steps)
    ]
    results = []
    for fused in (False, True):
        weights = [keras.Variable(w.astype(np.float32)) for w in start]
        optimizer = make_optimizer()
        optimizer.build(weights)
        update = fused_update(optimizer, weights)
        assert update is not None

        step = tf.function(
            update if fused else _keras_update(optimizer, weights), autograph=False
        )
        for g in grads:
            step(g)
        results.append(
            [v.numpy() for v in (*weights, *optimizer.variables)]
            + [int(optimizer.iterations.numpy())]
        )
    return results


@pytest.mark.parametrize(
    "make_optimizer",
    [
        lambda: keras.optimizers.Adam(0.01),
        lambda: keras.optimizers.Adam(
            keras.optimizers.schedules.ExponentialDecay(0.01, 2, 0.5),
            beta_1=0.8,
            beta_2=0.99,
            epsilon=1e-5,
        ),
        lambda: keras.optimizers.SGD(0.1),
        lambda: keras.optimizers.SGD(0.1, momentum=0.9),
        lambda: keras.optimizers.SGD(0.1, momentum=0.9, nesterov=True),
    ],
    ids=["adam", "adam-schedule", "sgd", "momentum", "nesterov"],
)
def test_the_fused_update_steps_as_keras_optimizers_do(make_optimizer):
    """TensorFlow's fused training ops give Keras's own Adam and SGD steps:
    weights, moments and step count, with a learning-rate schedule too. This
    also guards the private names the fused update reads the moments by
    (``_get_variable_index``, Adam's ``_momentums`` and ``_velocities``,
    SGD's ``momentums``)."""
    if keras.backend.backend() != "tensorflow":
        pytest.skip("TensorFlow's training ops")
    keras_steps, fused_steps = _keras_and_fused_steps(make_optimizer)
    assert keras_steps[-1] == fused_steps[-1] == 6
    for a, b in zip(keras_steps[:-1], fused_steps[:-1], strict=True):
        # TensorFlow computes 1 - beta_2 in float32: ~1e-5 apart in Adam's v.
        assert_allclose(b, a, rtol=2e-5, atol=1e-6)


@pytest.mark.parametrize(
    "optimizer",
    [
        keras.optimizers.Adam(clipnorm=1.0),
        keras.optimizers.Adam(clipvalue=1.0),
        keras.optimizers.Adam(global_clipnorm=1.0),
        keras.optimizers.Adam(weight_decay=0.01),
        keras.optimizers.Adam(use_ema=True),
        keras.optimizers.Adam(amsgrad=True),
        keras.optimizers.Adam(gradient_accumulation_steps=2),
        keras.optimizers.Adam(loss_scale_factor=8.0),
        keras.optimizers.SGD(weight_decay=0.01),
        keras.optimizers.AdamW(),
        keras.optimizers.Nadam(),
        keras.optimizers.RMSprop(),
    ],
    ids=lambda o: type(o).__name__,
)
def test_the_fused_update_takes_only_plain_adam_and_sgd(optimizer):
    """An optimizer that does more than its step (clipping, weight decay,
    moving average, accumulation, loss scaling, AMSGrad) or that has no fused
    op keeps Keras's own update."""
    if keras.backend.backend() != "tensorflow":
        pytest.skip("TensorFlow's training ops")
    from skce._engine._tensorflow_sparse import fused_update

    weights = [keras.Variable(np.zeros((3, 2), np.float32))]
    optimizer.build(weights)
    assert fused_update(optimizer, weights) is None


def test_the_fused_update_leaves_constrained_and_half_weights_to_keras():
    """A weight with a constraint (Keras applies it after the step) or in
    float16 (where TensorFlow's ``1 - beta_2`` is 2 % off Keras's) keeps
    Keras's own update; float32 and float64 weights take the fused one."""
    if keras.backend.backend() != "tensorflow":
        pytest.skip("TensorFlow's training ops")
    from skce._engine._tensorflow_sparse import fused_update

    def fused(dtype, constraint=None):
        weights = [keras.Variable(np.zeros((3, 2)), dtype=dtype)]
        weights[0].constraint = constraint
        optimizer = keras.optimizers.Adam()
        optimizer.build(weights)
        return fused_update(optimizer, weights) is not None

    assert fused("float32") and fused("float64")
    assert not fused("float16")
    assert not fused("float32", keras.constraints.NonNeg())


def test_a_constrained_network_on_sparse_x_keeps_its_constraint():
    """Your network's weight constraint holds after a fit on sparse X (its
    update is Keras's, not the fused one)."""
    if keras.backend.backend() != "tensorflow":
        pytest.skip("TensorFlow's trace cache")
    import scipy.sparse as sp

    from skce import SparseCEClassifier
    from skce._engine import _tensorflow as engine

    def build(n_features_in_, n_classes_, X_sparse_):
        inputs = keras.Input((n_features_in_,), sparse=X_sparse_)
        hidden = keras.layers.Dense(
            8, activation="relu", kernel_constraint=keras.constraints.NonNeg()
        )(inputs)
        return keras.Model(inputs, keras.layers.Dense(n_classes_)(hidden))

    X = sp.random(90, 40, density=0.1, format="csr", random_state=0, dtype=np.float32)
    y = np.arange(90) % 3
    engine._EPOCH_CACHE.clear()
    clf = SparseCEClassifier(
        model=build, epochs=3, n_iter_no_change=None, random_state=0
    ).fit(X, y)
    (traced,) = engine._EPOCH_CACHE.values()
    assert traced.update is not None and not traced.fused
    assert clf.model_.layers[1].kernel.numpy().min() >= 0


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(40, 300), (6, 5, 70)])
def test_the_crossentropy_of_many_logits_is_the_fused_kernels(dtype, shape):
    """TensorFlow's ``crossentropy_of_logits`` gives the fused kernel's loss
    and gradient to rounding, for labels per sample and per position, with
    logits far from zero (their largest is subtracted first)."""
    if keras.backend.backend() != "tensorflow":
        pytest.skip("TensorFlow's fused crossentropy")
    import tensorflow as tf

    from skce._engine._tensorflow_epochs import crossentropy_of_logits

    rng = np.random.default_rng(0)
    logits = tf.constant(rng.normal(scale=30.0, size=shape).astype(dtype))
    y = tf.constant(rng.integers(0, shape[-1], size=shape[:-1]).astype("int32"))
    upstream = tf.constant(rng.normal(size=shape[:-1]).astype(dtype))
    found = []
    for crossentropy in (
        crossentropy_of_logits,
        lambda y, out: keras.ops.sparse_categorical_crossentropy(y, out, True),
    ):
        with tf.GradientTape() as tape:
            tape.watch(logits)
            loss = crossentropy(y, logits)
            weighted = tf.reduce_sum(loss * upstream)
        found.append((loss.numpy(), tape.gradient(weighted, logits).numpy()))
    (loss, gradient), (fused_loss, fused_gradient) = found
    assert loss.shape == shape[:-1] and loss.dtype == dtype
    tol = 1e-5 if dtype == "float32" else 1e-12
    assert_allclose(loss, fused_loss, rtol=tol, atol=tol)
    assert_allclose(gradient, fused_gradient, rtol=tol, atol=tol)


def test_fits_of_many_logits_a_batch_leave_the_fused_crossentropy(monkeypatch):
    """On the CPU a fit whose mini-batches hold more than
    FUSED_CROSSENTROPY_LOGITS logits traces ``crossentropy_of_logits``, one
    of fewer keeps TensorFlow's fused kernel; both ways train alike."""
    if keras.backend.backend() != "tensorflow":
        pytest.skip("TensorFlow's trace cache")
    from skce._engine import _tensorflow as engine
    from skce._engine import _tensorflow_epochs as epochs
    from skce._engine._loss import SparseCELoss

    X = np.random.default_rng(0).normal(size=(600, 6)).astype(np.float32)
    y = np.arange(600) % 40

    def fit(batch_size):
        engine._EPOCH_CACHE.clear()
        clf = SparseCEMLPClassifier(
            (8,),
            epochs=3,
            batch_size=batch_size,
            n_iter_no_change=None,
            random_state=0,
        ).fit(X, y)
        (traced,) = engine._EPOCH_CACHE.values()
        function = traced.epochs._list_all_concrete_functions_for_serialization()[0]
        graph = function.graph.as_graph_def()
        ops = {n.op for f in graph.library.function for n in f.node_def}
        kernel = "SparseSoftmaxCrossEntropyWithLogits" in ops
        assert kernel == traced.loss.fused
        return clf, kernel

    assert 40 * 200 <= epochs.FUSED_CROSSENTROPY_LOGITS < 40 * 300
    assert fit(200)[1]
    ours, kernel = fit(300)
    assert not kernel
    monkeypatch.setattr(epochs, "FUSED_CROSSENTROPY_LOGITS", 40 * 300)
    fused, kernel = fit(300)
    assert kernel
    assert_allclose(ours.history_["loss"], fused.history_["loss"], rtol=1e-6)
    for a, b in zip(ours.model_.get_weights(), fused.model_.get_weights(), strict=True):
        assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    monkeypatch.undo()
    # The rule: on the CPU only, and where the model's outputs are known.
    loss, model = SparseCELoss(True, 0.0, ()), ours.model_
    assert not epochs.crossentropy_for(loss, model, 300, on_cpu=True).fused
    assert epochs.crossentropy_for(loss, model, 200, on_cpu=True).fused
    assert epochs.crossentropy_for(loss, model, 300, on_cpu=False).fused
    assert epochs.crossentropy_for(loss, object(), 300, on_cpu=True).fused


def test_the_private_copy_a_fit_is_traced_on_draws_no_weights():
    """The copy a fit is traced on is made with zeros for initializers, as
    each call overwrites its weights: Sequential and functional models
    (subclassed ones are cloned as Keras clones them), and a layer whose
    config takes no "zeros" is copied as it is."""
    from skce._engine._cache import blank_layer
    from skce._engine._fixes import clone_model

    def zero(model):
        return all(not np.any(w) for w in model.get_weights())

    dense = keras.layers.Dense(4, kernel_initializer="glorot_uniform")
    sequential = keras.Sequential([keras.Input((3,)), dense, keras.layers.Dense(2)])
    inputs = keras.Input((3,))
    functional = keras.Model(
        inputs, keras.layers.Dense(2, bias_initializer="ones")(inputs)
    )
    for model in (sequential, functional):
        assert not zero(model)
        copy = clone_model(model, blank_layer)
        assert zero(copy) and len(copy.weights) == len(model.weights)
        assert [type(layer) for layer in copy.layers] == [
            type(layer) for layer in model.layers
        ]

    class Scaled(keras.layers.Layer):
        def __init__(self, scale_initializer=2.0, **kwargs):
            super().__init__(**kwargs)
            if not isinstance(scale_initializer, float):
                raise TypeError("scale_initializer must be a float")
            self.scale_initializer = scale_initializer

        def get_config(self):
            return {**super().get_config(), "scale_initializer": self.scale_initializer}

    assert blank_layer(Scaled(3.0)).scale_initializer == 3.0

    class Subclassed(keras.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = keras.layers.Dense(2)

        def call(self, x):
            return self.dense(x)

    subclassed = Subclassed()
    subclassed(np.ones((1, 3)))
    assert isinstance(clone_model(subclassed, blank_layer), Subclassed)


def test_a_fit_of_one_epoch_a_call_binds_the_function_of_one_epoch(monkeypatch):
    """Where a call runs one epoch (``epochs_per_call() == 1``), the trainer
    binds the traced function of one epoch, without the loop over epochs;
    it trains the weights the function of several epochs a call does, bit
    for bit, and repeats them."""
    if keras.backend.backend() != "tensorflow":
        pytest.skip("TensorFlow's traced epochs")
    from skce._engine import _tensorflow as engine

    X = np.random.default_rng(0).normal(size=(120, 5)).astype(np.float32)
    y = np.arange(120) % 3
    bound = []
    init = engine.TensorFlowTrainer.__init__

    def record(self, *args, **kwargs):
        init(self, *args, **kwargs)
        bound.append((self._epoch_fn is not None, self._epochs_fn is not None))

    monkeypatch.setattr(engine.TensorFlowTrainer, "__init__", record)

    def fit():
        clf = SparseCEMLPClassifier(
            (8,), epochs=4, n_iter_no_change=None, random_state=0
        )
        return [*clf.fit(X, y).model_.get_weights(), clf.history_["loss"]]

    several = fit()
    monkeypatch.setattr(engine, "ROWS_PER_CALL", 1)
    one, again = fit(), fit()
    assert bound == [(False, True), (True, False), (True, False)]
    _assert_equal(one, several)
    _assert_equal(again, one)
