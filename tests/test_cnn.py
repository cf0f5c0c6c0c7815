"""SparseCECNNClassifier: input shapes, image_shape and searches."""

import keras
import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skce import (
    SparseCECNNClassifier,
)
from tests._helpers import small


@pytest.fixture
def digits():
    X, y = load_digits(return_X_y=True)
    return (X[:300] / 16).astype(np.float32), y[:300]


def cnn(**params):
    return SparseCECNNClassifier(**{"epochs": 3, "random_state": 0, **params})


@pytest.mark.parametrize(
    "n_features, expected", [(64, (8, 8, 1)), (30, (1, 30, 1)), (2, (1, 2, 1))]
)
def test_default_image_shape(n_features, expected, rng):
    """Square images for perfect squares, otherwise one row."""
    X = rng.rand(20, n_features)
    clf = cnn().fit(X, np.arange(20) % 2)
    assert clf.image_shape_ == expected


def test_flat_3d_and_4d_inputs_agree(digits):
    """2-D with image_shape, 3-D and 4-D X train the same network."""
    X, y = digits
    flat = cnn(image_shape=(8, 8)).fit(X, y).predict_proba(X)
    three = cnn().fit(X.reshape(-1, 8, 8), y).predict_proba(X.reshape(-1, 8, 8))
    four = cnn().fit(X.reshape(-1, 8, 8, 1), y).predict_proba(X.reshape(-1, 8, 8, 1))
    assert_array_equal(flat, three)
    assert_array_equal(flat, four)


def test_non_square_image_shape(rng):
    """A (h, w, c) image_shape with several channels works."""
    X = rng.rand(30, 4 * 6 * 3)
    clf = cnn(image_shape=(4, 6, 3)).fit(X, np.arange(30) % 3)
    assert clf.predict(X).shape == (30,)


def test_image_shape_mismatch(digits):
    """An image_shape that does not fit n_features names both."""
    X, y = digits
    with pytest.raises(ValueError, match=r"needs 49 features per sample but X has 64"):
        cnn(image_shape=(7, 7)).fit(X, y)


def test_channels_first_rejected(rng):
    """Channels-first images get an error that says how to fix them."""
    X = rng.rand(10, 1, 8, 8)
    with pytest.raises(ValueError, match="channels-first"):
        cnn().fit(X, np.arange(10) % 2)


def test_predict_with_other_image_shape(digits):
    """Images of another shape at predict are rejected."""
    X, y = digits
    clf = cnn().fit(X.reshape(-1, 8, 8), y)
    with pytest.raises(ValueError, match="fitted on images of shape"):
        clf.predict(np.repeat(X.reshape(-1, 8, 8, 1), 2, axis=3))


def test_pipeline_grid_search(digits):
    """GridSearchCV over dropout and filters in a Pipeline."""
    X, y = digits
    pipe = make_pipeline(
        StandardScaler(), cnn(image_shape=(8, 8), epochs=20, batch_size=32)
    )
    search = GridSearchCV(
        pipe,
        {
            "sparsececnnclassifier__dropout": [0.0, 0.25],
            "sparsececnnclassifier__filters": [(8,), (8, 16)],
        },
        cv=2,
        error_score="raise",
    ).fit(X, y)
    assert search.best_score_ > 0.8
    assert len(search.cv_results_["params"]) == 4


def _layer_shapes(clf):
    return [
        (type(layer).__name__, tuple(layer.output.shape[1:]))
        for layer in clf.model_.layers
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.MaxPooling2D))
    ]


def test_default_network_keeps_small_images(rng):
    """8x8 images keep their size through "same" convolutions; pools shrink them."""
    X = rng.rand(30, 64)
    y = np.arange(30) % 3
    clf = SparseCECNNClassifier(epochs=1, n_iter_no_change=None).fit(X, y)
    assert _layer_shapes(clf) == [
        ("Conv2D", (8, 8, 32)),
        ("MaxPooling2D", (4, 4, 32)),
        ("Conv2D", (4, 4, 64)),
        ("MaxPooling2D", (2, 2, 64)),
    ]


def test_default_network_on_mnist_sized_images(rng):
    """28x28 images get the classic network: valid convolutions, two pools."""
    X = rng.rand(12, 28, 28)
    y = np.arange(12) % 2
    clf = SparseCECNNClassifier(epochs=1, n_iter_no_change=None).fit(X, y)
    assert _layer_shapes(clf) == [
        ("Conv2D", (26, 26, 32)),
        ("MaxPooling2D", (13, 13, 32)),
        ("Conv2D", (11, 11, 64)),
        ("MaxPooling2D", (5, 5, 64)),
    ]


def test_default_cnn_beats_logistic_regression_on_digits():
    """At its defaults the CNN reaches 0.98 test accuracy on the 8x8 digits."""
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    X = X / 16
    X_train, X_test, y_train, y_test = train_test_split(
        X.astype(np.float32), y, test_size=0.3, stratify=y, random_state=1
    )
    clf = SparseCECNNClassifier(random_state=1).fit(X_train, y_train)
    assert clf.score(X_test, y_test) >= 0.98


IMAGES = np.random.RandomState(0).rand(12, 64)


IMAGE_LABELS = np.arange(12) % 2


@pytest.mark.parametrize(
    "X_fit, params, match",
    [
        pytest.param(
            IMAGES,
            {"image_shape": (8, 8, 3)},
            "needs 192 features per sample but X has 64",
            id="image_shape-vs-n_features",
        ),
        pytest.param(
            IMAGES[:, :63],
            {"image_shape": (8, 8)},
            "needs 64 features per sample but X has 63",
            id="image_shape-vs-63-features",
        ),
        pytest.param(
            IMAGES.reshape(12, 8, 8),
            {"image_shape": (4, 16)},
            r"image_shape=\(4, 16\) does not match the images in X, of shape "
            r"\(8, 8, 1\)",
            id="image_shape-vs-3d",
        ),
        pytest.param(
            np.repeat(IMAGES.reshape(12, 1, 8, 8), 3, axis=1),
            {},
            "channels-first",
            id="channels-first",
        ),
        pytest.param(
            IMAGES.reshape(12, 4, 4, 4, 1),
            {},
            "X has 5 dimensions",
            id="5d",
        ),
        pytest.param(
            np.zeros((12, 0, 8, 1)),
            {},
            r"\(0, 8, 1\)",
            id="empty-image-height",
        ),
    ],
)
def test_cnn_rejects_bad_images(X_fit, params, match):
    """Images that do not fit the network are rejected with their shape."""
    clf = small(SparseCECNNClassifier, **params)
    with pytest.raises(ValueError, match=match):
        clf.fit(X_fit, IMAGE_LABELS)


@pytest.mark.parametrize(
    "X_fit",
    [IMAGES, IMAGES.reshape(12, 8, 8, 1)],
    ids=["fitted-flat", "fitted-4d"],
)
def test_cnn_predict_other_image_size(X_fit):
    """Images of another height and width at predict name the fitted shape."""
    clf = small(SparseCECNNClassifier).fit(X_fit, IMAGE_LABELS)
    with pytest.raises(ValueError, match=r"\(8, 8, 1\)"):
        clf.predict(IMAGES.reshape(12, 4, 16, 1))
