"""SparseCEClassifier with models as Keras users hand them over."""

import keras
import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV

from skce import SparseCEClassifier


def _functional(n_features=4, n_classes=3, seed=0):
    inputs = keras.Input((n_features,))
    hidden = keras.layers.Dense(
        8, activation="tanh", kernel_initializer=keras.initializers.GlorotUniform(seed)
    )(inputs)
    out = keras.layers.Dense(
        n_classes, kernel_initializer=keras.initializers.GlorotUniform(seed + 1)
    )(hidden)
    return keras.Model(inputs, out)


@keras.saving.register_keras_serializable(package="skce_tests")
class TwoLayerNet(keras.Model):
    def __init__(self, n_classes=3, **kwargs):
        super().__init__(**kwargs)
        self.n_classes = n_classes
        self.hidden = keras.layers.Dense(
            8, activation="relu", kernel_initializer=keras.initializers.GlorotUniform(1)
        )
        self.out = keras.layers.Dense(
            n_classes, kernel_initializer=keras.initializers.GlorotUniform(2)
        )

    def call(self, inputs):
        return self.out(self.hidden(inputs))

    def get_config(self):
        return {**super().get_config(), "n_classes": self.n_classes}


def _X32(blobs):
    X, y = blobs
    return X.astype(np.float32), y


def test_model_instance_is_copied_and_fine_tuned(blobs):
    """An instance trains as a copy from its weights; the instance is unchanged."""
    X, y = _X32(blobs)
    model = _functional()
    before = [w.copy() for w in model.get_weights()]
    clf = SparseCEClassifier(model, epochs=40, random_state=0).fit(X, y)
    assert clf.model_ is not model
    for a, b in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert clf.score(X, y) > 0.9
    # Training starts from the instance's weights: no step changes nothing.
    still = SparseCEClassifier(model, epochs=1, learning_rate=1e-12).fit(X, y)
    assert_allclose(still.predict_proba(X), keras.ops.softmax(model(X)), rtol=1e-4)


def test_model_instance_in_a_search_shares_no_state(blobs):
    """Clones of an estimator holding an instance train independently."""
    X, y = _X32(blobs)
    est = SparseCEClassifier(_functional(), epochs=5, random_state=0)
    a = clone(est).fit(X, y).predict_proba(X)
    search = GridSearchCV(est, {"learning_rate": [0.01, 0.02]}, cv=2).fit(X, y)
    b = clone(est).fit(X, y).predict_proba(X)
    assert_allclose(a, b, rtol=1e-6)
    assert search.best_estimator_.model_ is not est.model


def test_model_instance_dtype_conflict(blobs):
    """A float32 instance with dtype='float64' is refused, naming the fix."""
    X, y = _X32(blobs)
    with pytest.raises(ValueError, match="trains in its own float type"):
        SparseCEClassifier(_functional(), dtype="float64").fit(X, y)


@pytest.mark.parametrize("as_instance", [False, True], ids=["builder", "instance"])
def test_subclassed_model(blobs, as_instance):
    """A subclassed keras.Model is built on the data's shape and trains."""
    X, y = _X32(blobs)

    def build(n_classes_):
        return TwoLayerNet(n_classes_)

    model = TwoLayerNet() if as_instance else build
    clf = SparseCEClassifier(model, epochs=30, random_state=0).fit(X, y)
    assert clf.score(X, y) > 0.9
    assert clf.predict_proba(X).shape == (len(X), 3)


def test_subclassed_model_with_wrong_output(blobs):
    """A subclassed model with the wrong number of classes is refused."""
    X, y = _X32(blobs)
    with pytest.raises(ValueError, match=r"Received: output shape \(None, 5\)"):
        SparseCEClassifier(lambda: TwoLayerNet(5), epochs=1).fit(X, y)


def test_multi_output_model_rejected_before_training(blobs):
    """Two outputs are a clear ValueError raised before any training."""
    X, y = _X32(blobs)

    def build(n_features_in_, n_classes_):
        inputs = keras.Input((n_features_in_,))
        return keras.Model(
            inputs,
            [keras.layers.Dense(n_classes_)(inputs), keras.layers.Dense(2)(inputs)],
        )

    clf = SparseCEClassifier(build, epochs=1)
    with pytest.raises(ValueError, match="has 2 outputs"):
        clf.fit(X, y)
    assert not hasattr(clf, "model_")


# ----------------------------------------------------------------------
# Sequences and images in user-built models


def _char_data(seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randint(1, 7, (60, 10))
    return X, (3 * X) % 4  # a label for each token, learnable from it


def _language_model(n_classes_, vocabulary_size_, input_shape):
    inputs = keras.Input(input_shape, dtype="int32")
    x = keras.layers.Embedding(vocabulary_size_, 8, mask_zero=True)(inputs)
    x = keras.layers.LSTM(16, return_sequences=True)(x)
    return keras.Model(inputs, keras.layers.Dense(n_classes_)(x))


def test_token_ids_reach_a_user_model_as_integers(monkeypatch):
    """Integer X reaches a model that reads ids as int32, in fit and predict."""
    from skce import _engine

    seen = []

    def spy(original):
        def record(model, *args, **kwargs):
            # forward(model, key, fn, x, ...); make_trainer(model, opt, loss, data)
            x = args[2] if original is _engine.forward else args[2][0]
            seen.append(x.dtype)
            return original(model, *args, **kwargs)

        return record

    monkeypatch.setattr(_engine, "make_trainer", spy(_engine.make_trainer))
    monkeypatch.setattr(_engine, "forward", spy(_engine.forward))
    X, y = _char_data()
    clf = SparseCEClassifier(_language_model, epochs=2, random_state=0).fit(X, y)
    clf.predict(X)
    assert seen == [np.int32, np.int32]
    assert clf.vocabulary_size_ == X.max() + 1


def test_user_sequence_model_with_per_position_labels():
    """A builder's (batch, T, n_classes) model trains on (n_samples, T) labels."""
    X, y = _char_data()
    seen = {}

    def build(n_outputs_, **meta):
        seen["n_outputs_"] = n_outputs_
        return _language_model(
            meta["n_classes_"], meta["vocabulary_size_"], meta["input_shape"]
        )

    clf = SparseCEClassifier(build, epochs=30, random_state=0).fit(X, y)
    assert seen["n_outputs_"] == 10
    assert clf.predict(X).shape == (60, 10)
    assert clf.score(X, y) > 0.5
    assert len(clf.predict_proba(X)) == 10


def test_user_model_instance_with_per_position_labels():
    """A model instance with a (batch, T, n_classes) output takes 2-D y."""
    X, y = _char_data()
    model = _language_model(4, 7, (10,))
    clf = SparseCEClassifier(model, epochs=2, random_state=0)
    assert clf.__sklearn_tags__().target_tags.multi_output
    assert clf.fit(X, y).predict(X).shape == (60, 10)


def test_model_instance_with_one_output_per_sample_is_not_multi_output():
    """A model instance whose output is (batch, n_classes) is tagged as such."""
    assert (
        not SparseCEClassifier(_functional())
        .__sklearn_tags__()
        .target_tags.multi_output
    )


def test_wrong_output_for_per_position_labels():
    """A (batch, n_classes) model given (n_samples, T) labels says what to build."""
    X, y = _char_data()

    def build(n_classes_, input_shape):
        inputs = keras.Input(input_shape)
        return keras.Model(inputs, keras.layers.Dense(n_classes_)(inputs))

    with pytest.raises(ValueError, match=r"output shape \(batch, T, n_classes\)"):
        SparseCEClassifier(build, epochs=1).fit(X.astype(float), y)


def test_user_cnn_takes_4d_images(rng):
    """X of rank 4 reaches a user's convolutional network unflattened."""
    X = rng.rand(40, 6, 6, 2).astype(np.float32)
    y = (X[:, :3].mean(axis=(1, 2, 3)) > X[:, 3:].mean(axis=(1, 2, 3))).astype(int)

    def build(n_classes_, input_shape):
        inputs = keras.Input(input_shape)
        x = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
        x = keras.layers.Flatten()(x)
        return keras.Model(inputs, keras.layers.Dense(n_classes_)(x))

    clf = SparseCEClassifier(build, epochs=3, random_state=0).fit(X, y)
    assert clf.model_.inputs[0].shape == (None, 6, 6, 2)
    assert clf.predict(X).shape == (40,)
    with pytest.raises(ValueError, match=r"samples of shape \(6, 6, 1\)"):
        clf.predict(X[..., :1])


def test_default_model_flattens_images(rng):
    """With no model, 4-D X is flattened into multinomial logistic regression."""
    X = rng.rand(30, 4, 4, 1)
    clf = SparseCEClassifier(epochs=2, random_state=0).fit(X, np.arange(30) % 3)
    assert clf.predict_proba(X).shape == (30, 3)
