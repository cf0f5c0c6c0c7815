"""The scripts in examples/ run end to end and reach their stated accuracies."""

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


# A warning line of a backend's C++ logging (absl format), such as the
# ``Not handling type DT_DOUBLE`` TensorFlow prints for float64 training.
# (TensorFlow's oneDNN notices about bool ops on some CPUs are E-level lines a
# user cannot act on either, but they come from Keras's masked recurrent layers
# and skce cannot avoid them; they are not what this guards.)
_NATIVE_WARNING = re.compile(r"^W\d{4} .*$", flags=re.MULTILINE)


def _run_example(script, *args, cwd):
    """Run an example in a fresh interpreter and return its stdout.

    Its output must hold none of the backend's native warnings (TensorFlow's
    ``Not handling type DT_DOUBLE`` when an example trains in float64), which
    a reader of the example can do nothing about.
    """
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    assert not _NATIVE_WARNING.findall(result.stderr), result.stderr[-4000:]
    return result.stdout


def _printed_accuracy(stdout, split="test"):
    match = re.search(rf"^{split} accuracy: ([0-9.]+)$", stdout, flags=re.MULTILINE)
    assert match, f"no '{split} accuracy:' line in:\n{stdout}"
    return float(match.group(1))


@pytest.fixture(scope="module")
def mnist_example():
    # examples/ is not a package: load the script as a module from its path.
    spec = importlib.util.spec_from_file_location(
        "skce_example_mnist", EXAMPLES / "mnist.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def small_mnist(tmp_path):
    """A tiny file in mnist.npz's format: random 28x28 uint8 images."""
    rng = np.random.RandomState(0)
    arrays = {}
    for split, n in (("train", 200), ("test", 60)):
        arrays[f"x_{split}"] = rng.randint(0, 256, size=(n, 28, 28), dtype=np.uint8)
        arrays[f"y_{split}"] = (np.arange(n) % 10).astype(np.uint8)
    path = tmp_path / "mnist.npz"
    np.savez(path, **arrays)
    return path, arrays


def test_blobs_reaches_seed_accuracy(tmp_path):
    """blobs.py exits cleanly, scores >= 0.80 on the test half, writes its PNG."""
    output = tmp_path / "history.png"
    stdout = _run_example("blobs.py", "--output", output, cwd=tmp_path)
    assert _printed_accuracy(stdout, "test") >= 0.80
    assert _printed_accuracy(stdout, "train") >= 0.75
    assert output.stat().st_size > 0
    assert str(output) in stdout


def test_blobs_runs_without_matplotlib(monkeypatch, tmp_path, capsys):
    """Without matplotlib, blobs.py prints its accuracies and how to get the plot."""
    spec = importlib.util.spec_from_file_location(
        "skce_example_blobs", EXAMPLES / "blobs.py"
    )
    blobs = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(blobs)
    # None in sys.modules makes `import matplotlib` raise ImportError.
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    output = tmp_path / "history.png"
    blobs.main(["--output", str(output)])
    stdout = capsys.readouterr().out
    assert _printed_accuracy(stdout, "test") >= 0.80
    assert "pip install matplotlib" in stdout
    assert not output.exists()


def test_digits_cnn_reaches_98_percent(tmp_path):
    """digits_cnn.py scores >= 0.98 on its test split and writes its PNG."""
    output = tmp_path / "digits.png"
    stdout = _run_example("digits_cnn.py", "--output", output, cwd=tmp_path)
    assert _printed_accuracy(stdout, "test") >= 0.98
    assert "confusion matrix" in stdout
    assert output.stat().st_size > 0


def test_load_mnist_reads_a_local_file(mnist_example, small_mnist):
    """load_mnist returns the four arrays of the file it is given, unchanged."""
    path, arrays = small_mnist
    (x_train, y_train), (x_test, y_test) = mnist_example.load_mnist(path)
    np.testing.assert_array_equal(x_train, arrays["x_train"])
    np.testing.assert_array_equal(y_train, arrays["y_train"])
    np.testing.assert_array_equal(x_test, arrays["x_test"])
    np.testing.assert_array_equal(y_test, arrays["y_test"])


def test_load_mnist_defaults_to_the_keras_cache(
    mnist_example, small_mnist, tmp_path, monkeypatch
):
    """Without a path, load_mnist reads ~/.keras/datasets/mnist.npz."""
    path, arrays = small_mnist
    home = tmp_path / "home"
    (home / ".keras" / "datasets").mkdir(parents=True)
    path.rename(home / ".keras" / "datasets" / "mnist.npz")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("KERAS_HOME", raising=False)
    (x_train, _), _ = mnist_example.load_mnist()
    np.testing.assert_array_equal(x_train, arrays["x_train"])


def test_load_mnist_without_a_file_says_how_to_get_one(
    mnist_example, tmp_path, monkeypatch
):
    """With no cached file, load_mnist explains how to fetch it, not download."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("KERAS_HOME", raising=False)
    with pytest.raises(FileNotFoundError, match="never downloads") as info:
        mnist_example.load_mnist()
    message = str(info.value)
    assert str(tmp_path / ".keras" / "datasets" / "mnist.npz") in message
    assert "keras.datasets.mnist.load_data()" in message
    assert "--path" in message


def test_load_mnist_rejects_a_file_without_the_mnist_arrays(mnist_example, tmp_path):
    """An npz lacking x_train/y_train/x_test/y_test is named in the error."""
    path = tmp_path / "other.npz"
    np.savez(path, images=np.zeros((2, 28, 28), dtype=np.uint8))
    with pytest.raises(ValueError, match=r"lacks the arrays \['x_train'"):
        mnist_example.load_mnist(path)


def test_mnist_script_exits_with_the_message_when_the_file_is_missing(
    mnist_example, tmp_path, capsys
):
    """mnist.py exits with status 1 and the explanation, without a traceback."""
    missing = tmp_path / "nowhere" / "mnist.npz"
    with pytest.raises(SystemExit) as info:
        mnist_example.main(
            ["--path", str(missing), "--output", str(tmp_path / "m.png")]
        )
    assert info.value.code == 1
    assert "keras.datasets.mnist.load_data()" in capsys.readouterr().err
    assert not (tmp_path / "m.png").exists()


def test_mnist_script_smoke_run(small_mnist, tmp_path):
    """mnist.py trains one epoch on a small local file and writes its PNG."""
    path, _ = small_mnist
    output = tmp_path / "mnist.png"
    stdout = _run_example(
        "mnist.py",
        "--path",
        path,
        "--limit",
        100,
        "--epochs",
        1,
        "--output",
        output,
        cwd=tmp_path,
    )
    assert "100 training and 60 test images" in stdout
    assert 0.0 <= _printed_accuracy(stdout, "test") <= 1.0
    assert output.stat().st_size > 0


SHARED_TEXT = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "shakespeare.txt"
)


def test_char_lstm_beats_the_bigram_baseline(tmp_path):
    """char_lstm.py, run as the gallery runs it, beats the bigram baseline."""
    import sys as _sys

    _sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "docs"))
    try:
        from gallery_argv import ARGV
    finally:
        _sys.path.pop(0)
    output = tmp_path / "char.png"
    stdout = _run_example(
        "char_lstm.py", *ARGV["char_lstm.py"], "--output", output, cwd=tmp_path
    )
    accuracy = _printed_accuracy(stdout, "test")
    baseline = _printed_accuracy(stdout, "bigram baseline")
    assert accuracy > baseline + 0.05
    assert "composed:" in stdout
    assert output.stat().st_size > 0


def test_char_lstm_composes_from_the_model(tmp_path):
    """The passage is drawn from the model's classes, as many as asked for."""
    spec = importlib.util.spec_from_file_location(
        "skce_example_char_lstm", EXAMPLES / "char_lstm.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    text = module.load_text(module.SLICE, 20_000)
    chars = np.array(list(text))
    vocabulary = {c: i + 1 for i, c in enumerate(sorted(set(text)))}
    ids = np.array([vocabulary[c] for c in text])
    X, y = module.windows(ids, chars)
    assert X.shape == y.shape == (199, 100)
    by_id = np.array(sorted(vocabulary))
    assert (by_id[X[0] - 1][1:] == y[0][:-1]).all()  # y is X shifted by one

    from skce import SparseCERNNClassifier

    clf = SparseCERNNClassifier(units=(8,), epochs=1, random_state=0).fit(X, y)
    passage = module.compose(
        clf, ids[:100], vocabulary, 25, 0.7, np.random.RandomState(0)
    )
    assert len(passage) == 25 and set(passage) <= set(clf.classes_)


@pytest.mark.skipif(not SHARED_TEXT.is_file(), reason="no shared Shakespeare text")
def test_char_lstm_reads_any_text_file(tmp_path):
    """--path trains on another text file."""
    stdout = _run_example(
        "char_lstm.py",
        "--path",
        SHARED_TEXT,
        "--limit",
        50_000,
        "--epochs",
        1,
        "--length",
        10,
        "--output",
        tmp_path / "c.png",
        cwd=tmp_path,
    )
    assert "50,000 characters" in stdout


def test_char_lstm_without_the_file_says_so(tmp_path):
    """A missing --path exits with status 1 and says how to fix it."""
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "char_lstm.py"), "--path", "nowhere.txt"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 1
    assert "Pass a text file with --path" in result.stderr


def test_text_shakespeare_beats_chance_and_writes_its_figure(tmp_path):
    """text_shakespeare.py searches, scores well above chance on 9 plays, plots."""
    output = tmp_path / "topk.png"
    stdout = _run_example(
        "text_shakespeare.py", "--epochs", "3", "--output", output, cwd=tmp_path
    )
    assert _printed_accuracy(stdout, "test") >= 0.4
    assert output.exists()
