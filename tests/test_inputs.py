"""Sequence and token X: each bad input is a ValueError that names the fix."""

import keras
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

from skce import (
    SparseCEClassifier,
    SparseCECNNClassifier,
    SparseCEMLPClassifier,
    SparseCERNNClassifier,
)
from skce._inputs import embedding_vocabulary, takes_token_ids
from tests._helpers import (
    FLAT,
    X,
    Y,
    blobs_of,
    parametrize_estimators,
    replaced,
    small,
)

rng = np.random.RandomState(0)
TOKENS = rng.randint(1, 6, (40, 8))
LABELS = TOKENS % 2
FEATURES = rng.rand(40, 8, 3)


def rnn(**params):
    return SparseCERNNClassifier(
        **{"units": (8,), "embedding_dim": 4, "epochs": 2, "random_state": 0, **params}
    )


@pytest.fixture(scope="module")
def token_model():
    return rnn().fit(TOKENS, LABELS)


@pytest.fixture(scope="module")
def feature_model():
    return rnn().fit(FEATURES, LABELS)


def embedding_builder(n_classes_, input_shape):
    """A user's model of int32 ids: an Embedding of 10 ids, per-timestep logits."""
    inputs = keras.Input(input_shape, dtype="int32")
    x = keras.layers.Embedding(10, 4)(inputs)
    return keras.Model(inputs, keras.layers.Dense(n_classes_)(x))


# ----------------------------------------------------------------------
# Token ids


def test_negative_ids_at_fit():
    """Negative token ids are rejected at fit, with how to renumber them."""
    with pytest.raises(ValueError, match=r"negative token ids \(the smallest is -1\)"):
        rnn().fit(TOKENS - 2, LABELS)


def test_negative_ids_at_predict(token_model):
    """Negative token ids are rejected at predict."""
    with pytest.raises(ValueError, match="negative token ids.*return_inverse"):
        token_model.predict(-TOKENS)


def test_ids_beyond_the_vocabulary_at_predict(token_model):
    """An id beyond the fitted vocabulary is an error that names the vocabulary."""
    assert token_model.vocabulary_size_ == 6
    bad = TOKENS.copy()
    bad[3, 2] = 6
    with pytest.raises(ValueError, match=r"token id 6, beyond the vocabulary of 6 ids"):
        token_model.predict(bad)


def test_ids_beyond_vocabulary_size_at_fit():
    """An id at or above vocabulary_size is rejected at fit."""
    with pytest.raises(ValueError, match=r"token id 5, beyond the vocabulary of 4 ids"):
        rnn(vocabulary_size=4).fit(TOKENS, LABELS)


def test_unseen_id_inside_the_vocabulary_is_predicted(token_model):
    """An id below vocabulary_size_ but never seen in fit is accepted."""
    unseen = np.zeros_like(TOKENS[:2])  # id 0 (padding) never occurs in TOKENS
    assert token_model.predict(unseen).shape == (2, 8)


def test_non_integral_floats_as_tokens(token_model):
    """Floats with fractions, passed to a network of token ids, are rejected."""
    with pytest.raises(ValueError, match=r"non-integral values \(for example 5.5\)"):
        token_model.predict(TOKENS + 0.5)


def test_whole_floats_as_tokens(token_model):
    """Whole numbers stored as floats are taken as the ids they are."""
    assert_array_equal(
        token_model.predict(TOKENS.astype(float)), token_model.predict(TOKENS)
    )


def test_ids_beyond_int32():
    """Ids that do not fit int32 are rejected."""
    with pytest.raises(ValueError, match="beyond the int32 range"):
        rnn().fit(np.c_[TOKENS, np.full(40, 2**40)], np.c_[LABELS, np.zeros(40)])


def test_non_integral_floats_to_an_embedding_model():
    """A user model that reads ids rejects fractional X at fit."""
    clf = SparseCEClassifier(embedding_builder, epochs=1)
    with pytest.raises(ValueError, match="non-integral values"):
        clf.fit(TOKENS + 0.25, LABELS)


def test_user_embedding_sets_the_vocabulary():
    """A user model's Embedding input_dim is the vocabulary checked at predict."""
    clf = SparseCEClassifier(embedding_builder, epochs=1).fit(TOKENS, LABELS)
    assert clf.vocabulary_size_ == 10
    assert clf.predict(np.full((1, 8), 9)).shape == (1, 8)
    with pytest.raises(ValueError, match="beyond the vocabulary of 10 ids"):
        clf.predict(np.full((1, 8), 10))


# ----------------------------------------------------------------------
# Shapes


@pytest.mark.parametrize(
    "X",
    [
        [[1, 2, 3], [1]],
        np.array([[1, 2, 3], [1]], dtype=object),
        ([1, 2, 3], (4,)),
    ],
    ids=["list", "object-array", "tuple"],
)
@pytest.mark.parametrize("Estimator", [SparseCERNNClassifier, SparseCEClassifier])
def test_ragged_sequences(Estimator, X):
    """Sequences of different lengths name the padding recipe."""
    with pytest.raises(
        ValueError, match=r"different lengths \(1 to 3\).*pad_sequences"
    ):
        Estimator().fit(X, [0, 1])


def test_4d_X_to_the_rnn():
    """The recurrent network takes 2-D or 3-D X."""
    with pytest.raises(ValueError, match="X has 4 dimensions; SparseCERNNClassifier"):
        rnn().fit(FEATURES[..., None], LABELS)


def test_other_sequence_length_at_predict(token_model):
    """Token sequences of another length are named as scikit-learn names them."""
    with pytest.raises(ValueError, match="X has 5 features, but .* expecting 8"):
        token_model.predict(TOKENS[:, :5])


def test_other_feature_shape_at_predict(feature_model):
    """3-D X whose timesteps hold other features names the fitted shape."""
    with pytest.raises(ValueError, match=r"samples of shape \(8, 2\).*\(8, 3\)"):
        feature_model.predict(FEATURES[..., :2])


def test_other_rank_at_predict(feature_model):
    """2-D X to a network fitted on 3-D sequences names both sample shapes."""
    with pytest.raises(ValueError, match=r"samples of shape \(8,\).*\(8, 3\)"):
        feature_model.predict(FEATURES[..., 0])


def test_padding_recipe_with_keras_pad_sequences():
    """keras.utils.pad_sequences pads ids with 0 and labels with ignore_label."""
    texts = ["to be or not", "to be", "not to be or"]
    vocabulary = {w: i + 1 for i, w in enumerate(sorted({"to", "be", "or", "not"}))}
    ids = [[vocabulary[w] for w in t.split()] for t in texts]
    labels = [t.split()[1:] + ["<end>"] for t in texts]
    X = keras.utils.pad_sequences(ids, padding="post")
    y = keras.utils.pad_sequences(labels, padding="post", value="", dtype=object)
    clf = rnn(ignore_label="").fit(X, y)
    assert X.shape == y.shape == (3, 4)
    assert "" not in clf.classes_
    assert clf.predict(X).shape == (3, 4)


# ----------------------------------------------------------------------
# What reads ids


def test_integer_input_or_embedding_first_reads_ids():
    """An int Input or a leading Embedding reads ids; a float Dense model does not."""
    ids = keras.Input((4,), dtype="int32")
    assert takes_token_ids(keras.Model(ids, keras.layers.Embedding(9, 2)(ids)))
    sequential = keras.Sequential([keras.layers.Embedding(9, 2)])
    sequential.build((None, 4))
    assert takes_token_ids(sequential)
    assert embedding_vocabulary(sequential) == 9
    floats = keras.Input((4,))
    dense = keras.Model(floats, keras.layers.Dense(2)(floats))
    assert not takes_token_ids(dense)
    assert embedding_vocabulary(dense) is None


def test_integer_X_to_a_float_model_is_cast(rng):
    """Integer X to a model that reads floats reaches it as floats, as before."""
    X = rng.randint(-3, 4, (30, 4))
    clf = SparseCEClassifier(epochs=2, random_state=0).fit(X, np.arange(30) % 3)
    assert clf.vocabulary_size_ is None
    assert clf.model_.compute_dtype == "float64"
    assert clf.predict(X).shape == (30,)


FIT_CASES = [
    # X
    pytest.param(
        lambda: {"X": replaced(X, (0, 0), np.nan), "y": Y},
        ValueError,
        "Input X contains NaN",
        id="X-nan",
    ),
    pytest.param(
        lambda: {"X": replaced(X, (3, 1), np.inf), "y": Y},
        ValueError,
        "Input X contains infinity",
        id="X-inf",
    ),
    pytest.param(
        lambda: {"X": replaced(X, (0, 0), "abc", dtype=object), "y": Y},
        ValueError,
        "could not convert string to float: 'abc'",
        id="X-string",
    ),
    pytest.param(
        lambda: {"X": X[:, 0], "y": Y},
        ValueError,
        "Expected 2D array, got 1D array",
        id="X-1d",
    ),
    pytest.param(
        lambda: {"X": X[:0], "y": Y[:0]},
        ValueError,
        r"0 sample\(s\)",
        id="X-zero-samples",
    ),
    pytest.param(
        lambda: {"X": X[:, :0], "y": Y},
        ValueError,
        r"0 feature\(s\)",
        id="X-zero-features",
    ),
    pytest.param(
        lambda: {"X": X + 1j, "y": Y},
        ValueError,
        "Complex data not supported",
        id="X-complex",
    ),
    pytest.param(
        lambda: {"X": [[1.0, 2.0], [3.0]], "y": [0, 1]},
        ValueError,
        "inhomogeneous|different lengths",
        id="X-ragged",
    ),
    # y
    pytest.param(
        lambda: {"X": X, "y": Y + 0.5},
        ValueError,
        "Unknown label type: continuous",
        id="y-continuous",
    ),
    pytest.param(
        lambda: {"X": X, "y": np.zeros(30)},
        ValueError,
        "1 class",
        id="y-one-class",
    ),
    pytest.param(
        lambda: {"X": X, "y": np.array(["cat"] * 30)},
        ValueError,
        "1 class",
        id="y-one-string-class",
    ),
    pytest.param(
        lambda: {"X": X, "y": Y[:-1]},
        ValueError,
        r"inconsistent numbers of samples: \[30, 29\]",
        id="y-wrong-length",
    ),
    pytest.param(
        lambda: {"X": X, "y": replaced(Y, 0, np.nan, dtype=float)},
        ValueError,
        "Input y contains NaN",
        id="y-nan",
    ),
    pytest.param(
        lambda: {"X": X, "y": replaced(Y, 0, np.inf, dtype=float)},
        ValueError,
        "Input y contains infinity",
        id="y-inf",
    ),
    # sample_weight
    pytest.param(
        lambda: {"X": X, "y": Y, "sample_weight": np.ones(29)},
        ValueError,
        r"sample_weight.shape == \(29,\), expected \(30,\)",
        id="sample_weight-wrong-length",
    ),
    pytest.param(
        lambda: {"X": X, "y": Y, "sample_weight": replaced(np.ones(30), 4, -1.0)},
        ValueError,
        "Negative values in data passed to `sample_weight`",
        id="sample_weight-negative",
    ),
    pytest.param(
        lambda: {"X": X, "y": Y, "sample_weight": np.zeros(30)},
        ValueError,
        "(?i)sample weights must contain at least one non-zero",
        id="sample_weight-all-zero",
    ),
    pytest.param(
        lambda: {"X": X, "y": Y, "sample_weight": replaced(np.ones(30), 0, np.nan)},
        ValueError,
        "Input sample_weight contains NaN",
        id="sample_weight-nan",
    ),
    pytest.param(
        lambda: {"X": X, "y": Y, "sample_weight": replaced(np.ones(30), 0, np.inf)},
        ValueError,
        "Input sample_weight contains infinity",
        id="sample_weight-inf",
    ),
    pytest.param(
        lambda: {"X": X, "y": Y, "sample_weight": np.ones((30, 2))},
        ValueError,
        "Sample weights must be 1D array",
        id="sample_weight-2d",
    ),
    pytest.param(
        lambda: {"X": X, "y": Y, "sample_weight": (Y == 0).astype(float)},
        ValueError,
        "Only one class has a positive sample weight",
        id="sample_weight-one-class-positive",
    ),
    # validation_data
    pytest.param(
        lambda: {"X": X, "y": Y, "validation_data": [X, Y]},
        TypeError,
        r"validation_data must be a tuple .* Received: list",
        id="validation_data-list",
    ),
    pytest.param(
        lambda: {"X": X, "y": Y, "validation_data": (X,)},
        TypeError,
        "validation_data must be a tuple",
        id="validation_data-one-item",
    ),
    pytest.param(
        lambda: {"X": X, "y": Y, "validation_data": (X[:, :3], Y)},
        ValueError,
        "X has 3 features, but .* is expecting 4 features",
        id="validation_data-n_features",
    ),
    pytest.param(
        lambda: {"X": X, "y": Y, "validation_data": (X, Y + 5)},
        ValueError,
        r"y_val has labels that are not among the classes \[0, 1, 2\]",
        id="validation_data-unknown-label",
    ),
    pytest.param(
        lambda: {"X": X, "y": Y, "validation_data": (replaced(X, (0, 0), np.nan), Y)},
        ValueError,
        "Input X contains NaN",
        id="validation_data-nan",
    ),
    pytest.param(
        lambda: {"X": X, "y": Y, "validation_data": (X, Y[:-1])},
        ValueError,
        r"inconsistent numbers of samples: \[30, 29\]",
        id="validation_data-wrong-length",
    ),
    pytest.param(
        lambda: {"X": X, "y": Y, "validation_data": (X, Y, -np.ones(30))},
        ValueError,
        "(?i)negative",
        id="validation_data-negative-weight",
    ),
]


@pytest.mark.parametrize("make, error, match", FIT_CASES)
def test_fit_rejects_bad_data(Estimator, make, error, match):
    """fit rejects bad X, y, sample_weight and validation data by name."""
    with pytest.raises(error, match=match):
        small(Estimator).fit(**make())


@pytest.mark.parametrize(
    "Estimator",
    [SparseCEMLPClassifier, SparseCECNNClassifier, SparseCERNNClassifier],
    ids=lambda e: e.__name__,
)
def test_5d_X_rejected(Estimator):
    """The built-in networks reject X of a rank they do not take."""
    with pytest.raises(ValueError, match="dim 5|5 dimensions"):
        small(Estimator).fit(X.reshape(30, 1, 2, 2, 1), Y)


def test_model_instance_rejects_X_of_another_sample_shape():
    """A model instance whose input differs from X's samples says both shapes."""
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(3)(inputs))
    with pytest.raises(ValueError, match=r"samples of shape \(1, 2, 2, 1\).*\(4,\)"):
        small(SparseCEClassifier, model=model).fit(X.reshape(30, 1, 2, 2, 1), Y)


@pytest.mark.parametrize("Estimator", FLAT, ids=lambda e: e.__name__)
def test_flat_estimators_reject_3d_X(Estimator):
    """Estimators without an image input reject 3-D X at fit and predict."""
    with pytest.raises(ValueError, match="dim 3, while dim <= 2"):
        small(Estimator).fit(X.reshape(30, 2, 2), Y)
    clf = small(Estimator).fit(X, Y)
    with pytest.raises(ValueError, match="dim 3, while dim <= 2"):
        clf.predict(X.reshape(30, 2, 2))


PREDICT_CASES = [
    pytest.param(
        X[:, :3], "X has 3 features, but .* is expecting 4 features", id="n_features"
    ),
    pytest.param(replaced(X, (0, 0), np.nan), "Input X contains NaN", id="nan"),
    pytest.param(replaced(X, (0, 0), -np.inf), "Input X contains infinity", id="inf"),
    pytest.param(
        replaced(X, (0, 0), "abc", dtype=object),
        "could not convert string",
        id="string",
    ),
    pytest.param(X[0], "Expected 2D array, got 1D array", id="1d"),
    pytest.param(X[:0], r"0 sample\(s\)", id="zero-samples"),
]


@pytest.mark.parametrize("method", ["predict", "predict_proba", "predict_log_proba"])
@pytest.mark.parametrize("X_bad, match", PREDICT_CASES)
def test_inference_rejects_bad_X(fitted, method, X_bad, match):
    """predict, predict_proba and predict_log_proba reject bad X by name."""
    with pytest.raises(ValueError, match=match):
        getattr(fitted, method)(X_bad)


@pytest.mark.parametrize(
    "columns", [list("wxyz"), list("dcba")], ids=["renamed", "reordered"]
)
def test_predict_with_other_feature_names(Estimator, columns):
    """A DataFrame whose columns differ from fit's is rejected."""
    clf = small(Estimator).fit(pd.DataFrame(X, columns=list("abcd")), Y)
    with pytest.raises(ValueError, match="feature names"):
        clf.predict(pd.DataFrame(X, columns=columns))


# Each example is a fit: few examples, no deadline, the same examples every run.
FEW = settings(max_examples=5, deadline=None, derandomize=True)


def _as_dtype(X, dtype):
    if dtype == "bool":
        return X > X.mean(axis=0)
    if np.issubdtype(np.dtype(dtype), np.integer):
        return np.round((X - X.min()) * 5).astype(dtype)
    return X.astype(dtype)


def _read_only_memmap(X, directory):
    path = directory / "X.dat"
    order = "F" if X.flags.f_contiguous and not X.flags.c_contiguous else "C"
    writable = np.memmap(path, dtype=X.dtype, mode="w+", shape=X.shape, order=order)
    writable[:] = X
    writable.flush()
    del writable
    return np.memmap(path, dtype=X.dtype, mode="r", shape=X.shape, order=order)


@parametrize_estimators
@FEW
@given(
    dtype=st.sampled_from(
        ["float16", "float32", "float64", "int32", "int64", "uint8", "bool"]
    ),
    order=st.sampled_from(["C", "F"]),
    memmap=st.booleans(),
)
def test_any_numeric_layout_fits(Estimator, dtype, order, memmap, tmp_path_factory):
    """X of any numeric dtype, C or F order, or read-only memmap fits and predicts."""
    X, y = blobs_of(3, 8)
    X = np.asarray(_as_dtype(X, dtype), order=order)
    if memmap:
        X = _read_only_memmap(X, tmp_path_factory.mktemp("memmap"))
        assert not X.flags.writeable
    clf = small(Estimator).fit(X, y)
    proba = clf.predict_proba(X)
    assert np.isfinite(proba).all()
    assert_array_equal(proba, clf.predict_proba(np.array(X)))
    assert set(clf.predict(X)) <= {0, 1, 2}


@parametrize_estimators
@FEW
@given(
    n_classes=st.integers(2, 4),
    per_class=st.integers(1, 2),
    seed=st.integers(0, 1000),
)
def test_tiny_data(Estimator, n_classes, per_class, seed):
    """One or two samples per class are enough to fit and predict."""
    X, y = blobs_of(n_classes, per_class, seed)
    clf = small(Estimator).fit(X, y)
    proba = clf.predict_proba(X)
    assert proba.shape == (len(y), n_classes)
    assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert set(clf.predict(X)) <= set(range(n_classes))
