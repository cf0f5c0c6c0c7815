"""SparseCERNNClassifier: token and feature sequences, per-timestep labels, padding."""

import keras
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from skce import SparseCERNNClassifier

TEXT = "the quick brown fox jumps over the lazy dog. " * 12


def char_windows(text=TEXT, length=8, step=3):
    """Windows of character ids (1..V, 0 left for padding) and next characters."""
    chars = np.array(sorted(set(text)))
    ids = np.searchsorted(chars, np.array(list(text))) + 1
    starts = range(0, len(text) - length - 1, step)
    X = np.stack([ids[s : s + length] for s in starts])
    y = np.stack([list(text[s + 1 : s + length + 1]) for s in starts])
    return X, y


def rnn(**params):
    return SparseCERNNClassifier(
        **{"units": (16,), "embedding_dim": 8, "epochs": 5, "random_state": 0, **params}
    )


def test_next_character_model_learns_the_text():
    """Per-timestep labels train a language model that predicts the text."""
    X, y = char_windows()
    clf = rnn(epochs=30, batch_size=16, units=(32,)).fit(X, y)
    assert clf.n_outputs_ == X.shape[1]
    assert clf.score(X, y) > 0.8
    assert clf.history_["accuracy"][-1] > 0.8


def test_token_ids_reach_the_embedding_as_integers():
    """Integer X builds an int32 input and an Embedding of the fitted vocabulary."""
    X, y = char_windows()
    clf = rnn(epochs=1).fit(X, y)
    assert "int32" in str(clf.model_.inputs[0].dtype)
    embedding = clf.model_.layers[1]
    assert isinstance(embedding, keras.layers.Embedding)
    assert embedding.input_dim == clf.vocabulary_size_ == X.max() + 1
    assert clf.model_.compute_dtype == "float32"


def test_vocabulary_size_parameter_covers_later_ids():
    """vocabulary_size fixes the embedding, so larger ids work at predict."""
    X, y = char_windows()
    clf = rnn(epochs=1, vocabulary_size=100).fit(X, y)
    assert clf.vocabulary_size_ == 100
    assert clf.predict(np.full((2, X.shape[1]), 99)).shape == (2, X.shape[1])


def test_float_sequences_skip_the_embedding(rng):
    """3-D float X is a sequence of feature vectors, with no Embedding."""
    X = rng.rand(40, 6, 3)
    y = (X[:, :, 0] > 0.5).astype(int)
    clf = rnn(epochs=2).fit(X, y)
    assert clf.vocabulary_size_ is None
    assert not any(isinstance(a, keras.layers.Embedding) for a in clf.model_.layers)
    assert clf.predict(X).shape == (40, 6)


def test_2d_float_X_is_a_sequence_of_scalars(rng):
    """Tabular X of n_features columns is read as n_features timesteps of one value."""
    X = rng.rand(40, 5)
    clf = rnn(epochs=1).fit(X, np.arange(40) % 2)
    assert clf.model_.inputs[0].shape == (None, 5, 1)
    assert clf.n_features_in_ == 5
    assert not any(isinstance(a, keras.layers.Masking) for a in clf.model_.layers)


def test_one_label_per_sequence_uses_the_last_state():
    """1-D y (text classification) gives (batch, n_classes) logits."""
    X, _ = char_windows()
    y = np.where(X[:, 0] > 10, "late", "early")
    clf = rnn(epochs=30).fit(X, y)
    assert clf.model_.outputs[0].shape == (None, 2)
    assert clf.predict(X[:3]).shape == (3,)
    assert clf.score(X, y) > 0.9


def test_other_width_of_y_is_labels_of_the_whole_sequence(rng):
    """y with n_outputs != T columns predicts n_outputs labels from the last state."""
    X = rng.randint(1, 5, (30, 7))
    y = np.c_[X[:, 0], X[:, -1], X[:, 3]]
    clf = rnn(epochs=2).fit(X, y)
    assert clf.model_.outputs[0].shape == (None, 3, len(clf.classes_))
    assert clf.predict(X).shape == (30, 3)
    assert len(clf.predict_proba(X)) == 3


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_cells_and_directions(cell, bidirectional):
    """LSTM and GRU, one-way or bidirectional, stacked, all train and predict."""
    X, y = char_windows()
    clf = rnn(cell=cell, bidirectional=bidirectional, units=(8, 8), epochs=1)
    clf.fit(X, y)
    layer_type = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU}[cell]
    recurrent = [
        a.forward_layer if isinstance(a, keras.layers.Bidirectional) else a
        for a in clf.model_.layers
        if isinstance(a, (keras.layers.Bidirectional, keras.layers.RNN))
    ]
    assert len(recurrent) == 2
    assert all(isinstance(a, layer_type) for a in recurrent)
    assert clf.predict(X).shape == y.shape


def test_bidirectional_halves_start_from_different_weights():
    """The backward half of a bidirectional layer is seeded apart from the forward."""
    X, y = char_windows()
    clf = rnn(bidirectional=True, epochs=1, learning_rate=1e-12).fit(X, y)
    layer = next(
        a for a in clf.model_.layers if isinstance(a, keras.layers.Bidirectional)
    )
    forward = layer.forward_layer.get_weights()[0]
    backward = layer.backward_layer.get_weights()[0]
    assert not np.allclose(forward, backward)


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("per_timestep", [False, True])
def test_padding_changes_nothing(bidirectional, per_timestep):
    """Masked id-0 padding: pre- and post-padded sequences predict alike."""
    X, y = char_windows(length=8)
    real = X[:, :5]
    post = np.c_[real, np.zeros((len(X), 3), int)]
    pre = np.c_[np.zeros((len(X), 3), int), real]
    if per_timestep:
        labels = np.c_[y[:, :5], np.full((len(X), 3), "")]
    else:
        labels = y[:, 4]
    clf = rnn(bidirectional=bidirectional, epochs=3, ignore_label="")
    clf.fit(post, labels)
    proba_post, proba_pre = clf.predict_proba(post), clf.predict_proba(pre)
    if per_timestep:
        proba_post, proba_pre = proba_post[:5], proba_pre[3:]
    assert_allclose(np.stack(proba_post), np.stack(proba_pre), rtol=1e-5, atol=1e-6)
    # Without the mask, the padding is read as a token and changes the outputs.
    unmasked = rnn(bidirectional=bidirectional, epochs=3, mask_zero=False)
    unmasked.set_params(ignore_label="").fit(post, labels)
    post_u, pre_u = unmasked.predict_proba(post), unmasked.predict_proba(pre)
    if per_timestep:
        post_u, pre_u = post_u[:5], pre_u[3:]
    assert not np.allclose(np.stack(post_u), np.stack(pre_u), atol=1e-4)


def test_all_zero_timesteps_of_float_sequences_are_masked(rng):
    """With 3-D float X, all-zero timesteps are padding and change nothing."""
    real = rng.rand(30, 4, 2) + 0.1
    post = np.concatenate([real, np.zeros((30, 3, 2))], axis=1)
    pre = np.concatenate([np.zeros((30, 3, 2)), real], axis=1)
    y = (real[:, 0, 0] > 0.6).astype(int)
    clf = rnn(epochs=2).fit(post, y)
    assert_allclose(clf.predict_proba(post), clf.predict_proba(pre), rtol=1e-5)


@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_sequence_weights_equal_repeated_sequences(dropout, rng):
    """A sequence of weight k trains exactly like k copies, dropout included."""
    X, y = char_windows()
    X, y = X[:20], y[:20]
    sw = rng.randint(1, 4, len(X))
    sw[5] = 0  # weighs nothing, like an absent sequence (its labels occur elsewhere)
    params = dict(dropout=dropout, epochs=4, dtype="float64")
    weighted = rnn(**params).fit(X, y, sample_weight=sw)
    repeated = rnn(**params).fit(X.repeat(sw, 0), y.repeat(sw, 0))
    assert_allclose(
        np.stack(weighted.predict_proba(X)),
        np.stack(repeated.predict_proba(X)),
        rtol=1e-9,
        atol=1e-12,
    )


def test_dropout_is_sample_keyed_between_layers():
    """Dropout is skce's keyed layer after each recurrent layer, not in the cell."""
    from skce._layers import SampleKeyedDropout

    X, y = char_windows()
    clf = rnn(units=(8, 8), dropout=0.2, epochs=1).fit(X, y)
    keyed = [a for a in clf.model_.layers if isinstance(a, SampleKeyedDropout)]
    assert len(keyed) == 2
    cells = [a for a in clf.model_.layers if isinstance(a, keras.layers.RNN)]
    assert all(a.dropout == 0 and a.recurrent_dropout == 0 for a in cells)


def test_float64_network_uses_a_float64_tanh():
    """In float64 the cells compute tanh in float64 (Keras's JAX tanh would not)."""
    from skce._engine import precision
    from skce._layers import float64_tanh

    X, y = char_windows()
    clf = rnn(epochs=1, dtype="float64").fit(X, y)
    cell = next(a for a in clf.model_.layers if isinstance(a, keras.layers.RNN))
    assert cell.activation is float64_tanh
    x = np.linspace(-20, 20, 101)
    with precision("float64", build=False):
        value = float64_tanh(keras.ops.convert_to_tensor(x))
        assert keras.backend.standardize_dtype(value.dtype) == "float64"
        assert_allclose(keras.ops.convert_to_numpy(value), np.tanh(x), atol=1e-15)


def test_same_seed_same_language_model():
    """One random_state gives identical fits."""
    X, y = char_windows()
    a = rnn(epochs=2, dropout=0.2).fit(X, y).predict_proba(X)
    b = rnn(epochs=2, dropout=0.2).fit(X, y).predict_proba(X)
    assert_array_equal(np.stack(a), np.stack(b))


def test_pickle_round_trip():
    """A pickled language model predicts exactly as before."""
    import pickle

    X, y = char_windows()
    clf = rnn(epochs=2, dtype="float64").fit(X, y)
    again = pickle.loads(pickle.dumps(clf))
    assert_array_equal(np.stack(again.predict_proba(X)), np.stack(clf.predict_proba(X)))
    assert again.vocabulary_size_ == clf.vocabulary_size_


def test_partial_fit_and_warm_start_continue():
    """partial_fit and warm_start continue per-timestep training."""
    X, y = char_windows()
    clf = rnn(vocabulary_size=40)
    classes = np.unique(y)
    clf.partial_fit(X[:40], y[:40], classes=classes).partial_fit(X[40:], y[40:])
    assert clf.n_iter_ == 2
    warm = rnn(epochs=2, warm_start=True).fit(X, y)
    first = list(warm.history_["loss"])
    warm.fit(X, y)
    second = warm.history_["loss"]
    assert len(second) == 2
    # The second fit starts from where the first ended: its first epoch is
    # already below the first fit's last, and it ends elsewhere than a fresh fit.
    assert second[0] < first[-1] < first[0]
    fresh = rnn(epochs=2).fit(X, y)
    assert not np.allclose(
        np.stack(warm.predict_proba(X)), np.stack(fresh.predict_proba(X))
    )
