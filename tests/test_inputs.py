"""Sequence and token X: each bad input is a ValueError that names the fix."""

import keras
import numpy as np
import pytest
from numpy.testing import assert_array_equal

from skce import SparseCEClassifier, SparseCERNNClassifier
from skce._inputs import embedding_vocabulary, takes_token_ids

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
