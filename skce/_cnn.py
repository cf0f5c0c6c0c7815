"""SparseCECNNClassifier: a convolutional network for images."""

import math
from numbers import Integral, Real

import keras
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_array, check_X_y, validate_data

from skce._base import BaseSparseCEClassifier
from skce._docstrings import (
    FITTED_ATTRIBUTES_DOC,
    IGNORE_LABEL_DOC,
    TRAINING_PARAMETERS_DOC,
)
from skce._inputs import check_finite, float_validation, reject_sparse
from skce._layers import SampleKeyedDropout
from skce._networks import ACTIVATIONS, dense_stack, logits_layer

#: Images with a side below this many pixels are convolved with "same" padding.
SMALL_IMAGE = 16


def default_image_shape(n_features: int) -> tuple:
    """Square when ``n_features`` is a perfect square, else a one-row image."""
    side = math.isqrt(n_features)
    if side * side == n_features:
        return (side, side, 1)
    return (1, n_features, 1)


class SparseCECNNClassifier(BaseSparseCEClassifier):
    __doc__ = f"""Convolutional network for images, trained on integer labels.

    The default network is a classic MNIST design: Conv2D(32, 3x3, relu),
    MaxPooling(2), Dropout(0.25), Conv2D(64, 3x3, relu), MaxPooling(2),
    Dropout(0.25), Flatten, Dense(256, relu), Dense(n_classes) logits.
    It adapts to the image size: images with a side under 16 pixels (such as
    scikit-learn's 8x8 digits) are convolved with "same" padding, so only the
    pooling shrinks them; a side is pooled only while it stays at least 2
    pixels; kernels are clipped to the image. Images of any size, one-row ones
    included, are accepted.

    X can be 2-D, ``(n_samples, n_features)``, reshaped to ``image_shape``
    (what flows through a Pipeline after StandardScaler), or channels-last
    images, 3-D ``(n_samples, height, width)`` or 4-D ``(n_samples, height,
    width, channels)``.

    Parameters
    ----------
    image_shape : tuple of int or None, default=None
        ``(height, width)`` or ``(height, width, channels)`` of 2-D X's rows.
        None makes a square one-channel image when n_features is a perfect
        square, else a ``(1, n_features, 1)`` row. Ignored shapes are an
        error: for 3-D or 4-D X it must be None or match the images.

    filters : tuple of int, default=(32, 64)
        Filters of each convolution block (Conv2D, MaxPooling, Dropout).

    kernel_size : int, default=3
        Side of the square convolution kernels.

    pool_size : int, default=2
        Side of the square max-pooling windows.

    dropout : float in [0, 1), default=0.25
        Dropout rate after each convolution block.

    dense_units : tuple of int, default=(256,)
        Units of the dense layers between the convolutions and the output.

    activation : {{{", ".join(repr(a) for a in ACTIVATIONS)}}}, default="relu"
        Activation of the convolution and dense layers.

{TRAINING_PARAMETERS_DOC.format(epochs='"auto"', alpha=0.0001, learning_rate=0.002)}
{IGNORE_LABEL_DOC}
    Attributes
    ----------
{FITTED_ATTRIBUTES_DOC}
    image_shape_ : tuple of int
        The ``(height, width, channels)`` the network takes.

    See Also
    --------
    SparseCEMLPClassifier : A dense network.
    SparseCEClassifier : Train any Keras model you build.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skce import SparseCECNNClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = SparseCECNNClassifier(epochs=5, random_state=0).fit(X[:500] / 16, y[:500])
    >>> clf.image_shape_
    (8, 8, 1)
    >>> clf.predict(X[:3] / 16).shape
    (3,)
    """

    _parameter_constraints: dict = {
        **BaseSparseCEClassifier._parameter_constraints,
        "image_shape": [tuple, list, None],
        "filters": [tuple, list],
        "kernel_size": [Interval(Integral, 1, None, closed="left")],
        "pool_size": [Interval(Integral, 1, None, closed="left")],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "dense_units": [tuple, list],
        "activation": [StrOptions(set(ACTIVATIONS))],
    }

    def __init__(
        self,
        image_shape=None,
        filters=(32, 64),
        kernel_size=3,
        pool_size=2,
        dropout=0.25,
        dense_units=(256,),
        activation="relu",
        *,
        epochs="auto",
        batch_size="auto",
        optimizer="adam",
        learning_rate=0.002,
        alpha=0.0001,
        shuffle=True,
        validation_split=0.0,
        early_stopping=False,
        tol=1e-4,
        n_iter_no_change=10,
        callbacks=None,
        class_weight=None,
        dtype=None,
        random_state=None,
        verbose=0,
        warm_start=False,
        distribution=None,
        ignore_label=None,
    ):
        super().__init__(
            epochs=epochs,
            batch_size=batch_size,
            optimizer=optimizer,
            learning_rate=learning_rate,
            alpha=alpha,
            shuffle=shuffle,
            validation_split=validation_split,
            early_stopping=early_stopping,
            tol=tol,
            n_iter_no_change=n_iter_no_change,
            callbacks=callbacks,
            class_weight=class_weight,
            dtype=dtype,
            random_state=random_state,
            verbose=verbose,
            warm_start=warm_start,
            distribution=distribution,
        )
        self.image_shape = image_shape
        self.filters = filters
        self.kernel_size = kernel_size
        self.pool_size = pool_size
        self.dropout = dropout
        self.dense_units = dense_units
        self.activation = activation
        self.ignore_label = ignore_label

    def _validate_X(self, X, reset, y="no_validation"):
        reject_sparse(self, X)
        no_y = isinstance(y, str) and y == "no_validation"
        validation = float_validation(X)
        if len(getattr(X, "shape", ())) > 2 and not reset:
            # Images: check their shape here (scikit-learn would compare the
            # height with n_features_in_ and name the wrong quantity).
            kwargs = dict(allow_nd=True, **validation)
            out = check_array(X, **kwargs) if no_y else check_X_y(X, y, **kwargs)
        else:
            out = validate_data(self, X, y, reset=reset, allow_nd=True, **validation)
        out = check_finite(out, validation, self)
        X = out if no_y else out[0]
        if X.ndim > 4:
            raise ValueError(
                f"X has {X.ndim} dimensions; SparseCECNNClassifier takes 2-D "
                "(n_samples, n_features), 3-D (n_samples, height, width) or 4-D "
                "(n_samples, height, width, channels) arrays."
            )
        shape = self._image_shape_of(X)
        if reset:
            self.image_shape_ = shape
            self.n_features_in_ = math.prod(shape)
        elif shape != self.image_shape_:
            raise ValueError(
                f"X holds images of shape {shape}, but the network was fitted on "
                f"images of shape {self.image_shape_}. Pass images of the "
                "fitted shape."
            )
        return out

    def _image_shape_of(self, X) -> tuple:
        if X.ndim == 2:
            n_features = X.shape[1]
            if self.image_shape is None:
                return default_image_shape(n_features)
            shape = _check_image_shape(self.image_shape)
            if math.prod(shape) != n_features:
                raise ValueError(
                    f"image_shape={tuple(self.image_shape)} needs "
                    f"{math.prod(shape)} features per sample but X has "
                    f"{n_features}; pass an image_shape whose product is "
                    "n_features."
                )
            return shape
        shape = tuple(X.shape[1:]) + ((1,) if X.ndim == 3 else ())
        if 0 in shape:
            raise ValueError(
                f"X holds images of shape {shape}, with a dimension of size 0; "
                "pass images of at least 1x1 pixels."
            )
        if X.ndim == 4 and shape[0] in (1, 3, 4) and shape[2] > 4:
            raise ValueError(
                f"X has images of shape {tuple(X.shape[1:])}, which looks "
                "channels-first; skce takes channels last. Pass "
                "np.moveaxis(X, 1, -1)."
            )
        if (
            self.image_shape is not None
            and _check_image_shape(self.image_shape) != shape
        ):
            raise ValueError(
                f"image_shape={tuple(self.image_shape)} does not match the "
                f"images in X, of shape {shape}. Pass image_shape=None for "
                "3-D or 4-D X."
            )
        return shape

    def _model_input(self, X):
        return X.reshape((X.shape[0], *self.image_shape_))

    def _check_params(self, meta):
        for name in ("filters", "dense_units"):
            value = getattr(self, name)
            if not all(isinstance(n, Integral) and n > 0 for n in value):
                raise ValueError(
                    f"{name} must hold positive integers, one per layer. "
                    f"Received: {name}={value}."
                )

    def _build_model(self, meta, seed):
        height, width, _ = meta["input_shape"]
        # Small images keep their size through the convolutions ("same"
        # padding), so that pooling, not the kernels' borders, shrinks them.
        padding = "same" if min(height, width) < SMALL_IMAGE else "valid"
        inputs = keras.Input(shape=meta["input_shape"])
        x = inputs
        for i, n_filters in enumerate(self.filters):
            kernel = (min(self.kernel_size, height), min(self.kernel_size, width))
            x = keras.layers.Conv2D(
                n_filters,
                kernel,
                padding=padding,
                activation=self.activation,
                kernel_initializer=keras.initializers.GlorotUniform(seed=seed + i),
            )(x)
            if padding == "valid":
                height, width = height - kernel[0] + 1, width - kernel[1] + 1
            # A side is pooled only while it stays at least 2 pixels.
            pool = tuple(
                self.pool_size if side >= 2 * self.pool_size else 1
                for side in (height, width)
            )
            if pool != (1, 1):
                x = keras.layers.MaxPooling2D(pool)(x)
                height, width = height // pool[0], width // pool[1]
            if self.dropout:
                x = SampleKeyedDropout(self.dropout, seed=seed + 1000 + i)(x)
        x = keras.layers.Flatten()(x)
        x = dense_stack(x, self.dense_units, self.activation, 0.0, seed + 100)
        return keras.Model(inputs, logits_layer(x, meta["n_classes_"], seed))


def _check_image_shape(image_shape) -> tuple:
    shape = tuple(image_shape)
    if len(shape) not in (2, 3) or not all(
        isinstance(n, Integral) and n > 0 for n in shape
    ):
        raise ValueError(
            "image_shape must be (height, width) or (height, width, channels) "
            f"of positive integers. Received: image_shape={image_shape}."
        )
    return shape + ((1,) if len(shape) == 2 else ())
