"""The JAX backend agrees with Keras's own training."""

import inspect
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from numpy.testing import assert_allclose

from skce import SparseCEClassifier, SparseCEMLPClassifier
from skce._engine._rows import rows_independent
from skce._layers import SampleKeyedDropout
from tests._helpers import build_lstm, sequence_data


@pytest.mark.usefixtures("current_jax_draws")
def test_sequence_adam_matches_keras_fit_on_jax():
    """With Adam and an Embedding, skce's epochs are Keras fit's, step for step.

    On TensorFlow Keras's own fit differs: see the next test.
    """
    if keras.backend.backend() != "jax":
        pytest.skip("Keras fit runs standard Adam on embeddings on JAX only")
    X, y = sequence_data()
    params = dict(epochs=2, batch_size=16, shuffle=False, dtype="float32")
    clf = SparseCEClassifier(
        build_lstm, optimizer=keras.optimizers.Adam(0.01), **params
    ).fit(X, y)
    reference = build_lstm(5, 9, (12,))
    reference.compile(
        optimizer=keras.optimizers.Adam(0.01),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    reference.fit(X, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    for ours, theirs in zip(
        clf.model_.get_weights(), reference.get_weights(), strict=True
    ):
        assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)


# The repository: tests/engine/ is two folders below it.
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


_CONFIG = """
import sys
sys.path.insert(0, {root!r})
import jax
import skce._engine
skce._engine.active()  # sets the backend up, as a first fit does
print("CONFIG", jax.config.jax_compilation_cache_dir,
      float(jax.config.jax_persistent_cache_min_compile_time_secs))
"""


_FIT = """
import sys
sys.path.insert(0, {root!r})
from sklearn.datasets import make_blobs
from skce import SparseCEMLPClassifier
X, y = make_blobs(60, centers=3, n_features=2, random_state=0)
SparseCEMLPClassifier((4,), epochs=2, n_iter_no_change=None).fit(X, y)
"""


def _run(script, **env):
    environ = {k: v for k, v in os.environ.items() if "CACHE" not in k}
    environ.update(KERAS_BACKEND="jax", **env)
    return subprocess.run(
        [sys.executable, "-c", script.format(root=ROOT)],
        capture_output=True,
        text=True,
        check=True,
        env=environ,
    ).stdout


def _config(**env):
    out = _run(_CONFIG, **env)
    return next(line for line in out.splitlines() if line.startswith("CONFIG")).split()


def test_cache_folder_follows_the_environment():
    """Default under XDG_CACHE_HOME or ~/.cache, a folder given, or off."""
    pytest.importorskip("jax")
    from skce._engine._xla import compilation_cache_dir

    home = str(Path.home() / ".cache" / "skce" / "jax")
    assert compilation_cache_dir({}) == home
    assert compilation_cache_dir({"SKCE_JAX_CACHE": "1"}) == home
    assert compilation_cache_dir({"XDG_CACHE_HOME": "/c"}) == "/c/skce/jax"
    assert compilation_cache_dir({"SKCE_JAX_CACHE": "/d/jax"}) == "/d/jax"
    for off in ("0", "off", "False"):
        assert compilation_cache_dir({"SKCE_JAX_CACHE": off}) is None


def test_cache_is_on_off_and_never_overrides_the_users(tmp_path):
    """A fit fills skce's cache; SKCE_JAX_CACHE=0 or the user's own cache wins."""
    jax = pytest.importorskip("jax")
    from skce._engine import _xla

    if _xla.version() < _xla.CACHE_SINCE:
        pytest.skip(f"skce leaves JAX {jax.__version__}'s persistent cache off")
    _run(_FIT, SKCE_JAX_CACHE=str(tmp_path / "skce"))
    assert any(p.name.startswith("jit_epoch") for p in (tmp_path / "skce").iterdir())
    assert _config(SKCE_JAX_CACHE="0")[1:] == ["None", "1.0"]
    users = str(tmp_path / "users")
    assert _config(JAX_COMPILATION_CACHE_DIR=users)[1:] == [users, "1.0"]
    assert _config(XDG_CACHE_HOME=str(tmp_path))[1:] == [
        str(tmp_path / "skce" / "jax"),
        "0.0",
    ]


pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "jax", reason="the scanned epoch is JAX's"
)


class _OwnDense(keras.layers.Dense):
    """A Dense of the user's own class: skce cannot know it is row-wise."""


def _builder(dense):
    def build(n_features_in_, n_classes_):
        inputs = keras.Input((n_features_in_,))
        x = dense(8, activation="tanh", kernel_initializer="glorot_uniform")(inputs)
        x = SampleKeyedDropout(0.3, seed=3)(x)
        out = dense(n_classes_, kernel_initializer="glorot_uniform")(x)
        return keras.Model(inputs, out)

    return build


def _fit(dense, X, y, sample_weight):
    clf = SparseCEClassifier(
        _builder(dense),
        epochs=4,
        batch_size=16,
        optimizer="adam",
        random_state=0,
        n_iter_no_change=None,
    )
    return clf.fit(X, y, sample_weight=sample_weight)


def _traced_steps(monkeypatch):
    """Count the traces of the training step (each enters ``sample_keys``)."""
    from skce._engine import _jax

    traces = []
    original = _jax.sample_keys

    def counting(keys):
        traces.append(keys.shape)
        return original(keys)

    monkeypatch.setattr(_jax, "sample_keys", counting)
    _jax._EPOCH_CACHE.clear()
    return traces


def test_padded_tail_trains_as_the_short_batch(blobs, monkeypatch):
    """The padded last batch reaches the weights of a short one, in one trace."""
    X, y = blobs  # 90 rows: five batches of 16 and one of 10
    X = X.astype(np.float32)
    weights = np.random.default_rng(0).uniform(0.5, 2.0, len(y))
    traces = _traced_steps(monkeypatch)
    padded = _fit(keras.layers.Dense, X, y, weights)
    assert traces == [(16,)]
    traces.clear()
    short = _fit(_OwnDense, X, y, weights)
    assert sorted(traces) == [(10,), (16,)]
    assert_allclose(padded.history_["loss"], short.history_["loss"], rtol=1e-5)
    for a, b in zip(
        padded.model_.get_weights(), short.model_.get_weights(), strict=True
    ):
        assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_rows_independent_networks():
    """Padding is kept to networks that compute each row from that row alone."""
    inputs = keras.Input((4,))

    def model(*layers):
        x = inputs
        for layer in layers:
            x = layer(x)
        return keras.Model(inputs, x)

    assert rows_independent(model(keras.layers.Dense(3), SampleKeyedDropout(0.5)))
    assert not rows_independent(model(keras.layers.BatchNormalization()))
    assert not rows_independent(model(keras.layers.Dropout(0.5)))
    assert not rows_independent(model(_OwnDense(3)))
    assert not rows_independent(model(keras.layers.Dense(3, activity_regularizer="l2")))
    sequences = keras.Input((5, 2))
    lstm = keras.layers.Bidirectional(keras.layers.LSTM(3))
    assert rows_independent(keras.Model(sequences, lstm(sequences)))


def test_cpu_compiler_options_are_known_to_xla_or_left_out(monkeypatch):
    """On a CPU skce compiles with XLA's classic fusion emitters; options XLA
    refuses are dropped instead of failing every fit."""
    jax = pytest.importorskip("jax")
    from skce._engine import _xla

    if jax.default_backend() != "cpu":
        pytest.skip("the options apply on a CPU only")
    if "compiler_options" not in inspect.signature(jax.jit).parameters:
        assert _xla.compiler_options() == {}
        pytest.skip(f"jax.jit of JAX {jax.__version__} takes no compiler options")
    assert _xla.compiler_options() == _xla.CPU_OPTIONS
    # Programs on sparse X keep XLA's defaults, which run them faster.
    assert _xla.compiler_options(sparse=True) == {}
    # Fails loudly when XLA drops the option: skce's first fits would slow down.
    assert float(_xla.jit(lambda x: x * 2)(np.float32(3))) == 6.0
    assert _xla._REFUSED == []
    monkeypatch.setattr(_xla, "CPU_OPTIONS", {"xla_cpu_no_such_option": True})
    monkeypatch.setattr(_xla, "_REFUSED", [])
    doubled = _xla.jit(lambda x: x * 2)
    assert float(doubled(np.float32(3))) == 6.0
    assert len(_xla._REFUSED) == 1
    assert _xla.compiler_options() == {}
    assert float(doubled(np.float32(4))) == 8.0
    with pytest.raises(AttributeError):
        # Other errors are the caller's: they are raised, not retried.
        _xla.jit(lambda x: x.no_such_method())(np.float32(3))


def test_sparse_epochs_share_compiled_code_across_shuffles(monkeypatch):
    """An epoch whose batches fit the slots of an earlier one reuses its code:
    here 12 shuffles trace the step 3 times (the padded size grows twice),
    where a size chosen anew for each epoch traced it 5 times."""
    if keras.backend.backend() != "jax":
        pytest.skip("JAX pads each batch's stored values to a fixed size")
    sp = pytest.importorskip("scipy.sparse")
    rng = np.random.default_rng(0)
    # Rows of 1 to ~300 stored values: a batch's count varies a lot by shuffle.
    row_nnz = np.minimum(rng.geometric(0.02, 300), 400)
    rows = np.repeat(np.arange(300), row_nnz)
    cols = np.concatenate([rng.choice(500, n, replace=False) for n in row_nnz])
    X = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(300, 500))
    y = rng.integers(0, 3, 300)
    traces = _traced_steps(monkeypatch)
    SparseCEMLPClassifier(
        (8,), epochs=12, batch_size=20, n_iter_no_change=None, random_state=0
    ).fit(X, y)
    assert 1 <= len(traces) <= 3


_BUILD = """
import contextlib, sys
sys.path.insert(0, {root!r})
import jax, keras, numpy as np
from skce import _engine
from skce._optimizers import fit_optimizer
compiles = []
jax.monitoring.register_event_duration_secs_listener(
    lambda name, secs, **kwargs: compiles.append(name)
    if name == "/jax/core/compile/backend_compile_duration" else None
)
keras.optimizers.Adam()  # an optimizer's scalars compile here, not below
model = keras.Sequential(
    [keras.Input((7,)), keras.layers.Dense(13), keras.layers.Dense(5)]
)
def slots(optimizer):
    slots = [v for v in optimizer.variables if "iteration" not in v.path
             and "learning_rate" not in v.path]
    zeros = all(v.dtype == "float32" and not np.asarray(v.value).any() for v in slots)
    return len(slots), zeros
start = len(compiles)
ours = fit_optimizer(model, "adam", 0.001, "float32", continues=False)
print("OURS", len(compiles) - start, *slots(ours))
plain = keras.optimizers.Adam()
weights = [keras.Variable(np.ones(v.shape, "float32"))
           for v in model.trainable_variables]
start = len(compiles)
plain.build(weights)
print("PLAIN", len(compiles) - start, *slots(plain))
with keras.distribution.DataParallel().scope():
    scope = _engine.active().optimizer_scope(keras.optimizers.Adam())
print("DISTRIBUTED", type(scope).__name__)
start = len(compiles)
keras.Variable(jax.device_put(np.zeros((3, 11), "float32")))
print("COPIES", len(compiles) - start)
"""


def test_building_an_optimizer_compiles_nothing():
    """A fit's optimizer gets its zeroed slots without XLA programs: with
    ``jnp.zeros``, building one compiles a program per new weight shape,
    most of a fresh process's first fit after the epoch itself. Under a
    ``keras.distribution`` Keras's own zeros are kept."""
    pytest.importorskip("jax")
    lines = dict(
        (line.split()[0], line.split()[1:])
        for line in _run(_BUILD).splitlines()
        if line.split()[:1] in (["OURS"], ["PLAIN"], ["DISTRIBUTED"], ["COPIES"])
    )
    # The count sees compiles: Keras's own zeros compile one per new shape.
    assert int(lines["PLAIN"][0]) > 0 and lines["PLAIN"][1:] == ["8", "True"]
    assert lines["OURS"][1:] == ["8", "True"]
    assert lines["DISTRIBUTED"] == ["nullcontext"]
    if lines["COPIES"] != ["0"]:
        pytest.skip(
            f"Keras {keras.__version__} copies a variable's initial value "
            "with a compiled program"
        )
    assert lines["OURS"][0] == "0"
