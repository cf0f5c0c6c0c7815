"""What a fit trains and scores on: sample and class weights, the validation data.

The training data of a fit is the tuple ``(x, y, w, keys)``: network input,
class indices, per-sample weights, and the per-sample keys skce's dropout
draws its masks from. Validation data is ``(x, y, w)``, from
``validation_data`` or held out of the training data by ``validation_split``.
"""

import warnings

import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.utils.validation import _check_sample_weight

from skce import _engine, _targets
from skce._keras_model import has_keyed_dropout


def sample_weights(sample_weight, X, y_index, classes_, class_weight, one_class_ok):
    """Per-sample weights, and the class weights the loss applies per position.

    For 1-D labels the class weights are multiplied into the sample weights
    (and None is returned for the loss); per-position labels weigh each
    position by its class inside the loss.
    """
    weights = _check_sample_weight(
        sample_weight, X, dtype=np.float64, ensure_non_negative=True, copy=True
    )
    totals = _targets.class_totals(y_index, weights, len(classes_))
    per_class = np.ones(len(classes_))
    if class_weight is not None:
        per_class = _targets.class_weights(class_weight, classes_, totals)
    _targets.check_label_weights(totals * per_class, one_class_ok)
    if y_index.ndim > 1:
        return weights, None if class_weight is None else tuple(per_class)
    if class_weight is not None:
        weights *= per_class[np.maximum(y_index, 0)]
    return weights, None


def unpack_validation_data(validation_data):
    """``(X_val, y_val, w_val or None)`` from ``fit``'s ``validation_data``."""
    if not isinstance(validation_data, tuple) or len(validation_data) not in (2, 3):
        raise TypeError(
            "validation_data must be a tuple (X_val, y_val) or "
            "(X_val, y_val, sample_weight_val). Received: "
            f"{type(validation_data).__name__}."
        )
    Xv, yv, *wv = validation_data
    return Xv, yv, wv[0] if wv else None


def validation_weights(w_val, X_val) -> np.ndarray:
    """Checked validation sample weights (ones for None)."""
    return _check_sample_weight(
        w_val, X_val, dtype=np.float64, ensure_non_negative=True
    )


def dropout_keys(model, x) -> np.ndarray:
    """Per-sample keys for skce's dropout; zeros where the model has none."""
    if has_keyed_dropout(model):
        return _engine.row_keys(x)
    return np.zeros(len(x), dtype=np.int32)


def split_validation(data, validation_split, seed):
    """Hold out a ``validation_split`` of ``(x, y, w, keys)``.

    One label per sample is stratified by class; per-position labels are not
    (no one class describes a sequence).
    """
    x, y_index, weights, keys = data
    n_val = int(np.ceil(validation_split * len(x)))
    if n_val < 1 or len(x) - n_val < 1:
        raise ValueError(
            f"validation_split={validation_split} leaves no training "
            f"or no validation samples out of {len(x)}. Lower "
            "validation_split or pass more samples."
        )
    stratify = None
    if y_index.ndim == 1:
        counts = np.bincount(np.maximum(y_index, 0))
        stratify = y_index if counts[counts > 0].min() >= 2 else None
    index = np.arange(len(x))
    try:
        train, val = train_test_split(
            index, test_size=n_val, random_state=seed, stratify=stratify
        )
    except ValueError:
        train, val = train_test_split(index, test_size=n_val, random_state=seed)

    def rows(a, index):
        return a.subset(index) if isinstance(a, _engine.HostRows) else a[index]

    return tuple(rows(a, train) for a in data), tuple(rows(a, val) for a in data[:3])


def validation_scorer(model, from_logits, architecture_key, x_val, y_val, w_val):
    """A function that scores ``model`` on the validation data after an epoch."""

    def fn(out, y, w):
        return _engine.batch_metrics(out, y, w, from_logits)

    def evaluate():
        loss_sum, weight_sum, correct = _engine.forward(
            model,
            "metrics",
            fn,
            x_val,
            y_val,
            w_val,
            reduce="sum",
            architecture_key=architecture_key,
        )
        weight_sum = max(float(weight_sum), 1e-12)
        return {
            "val_loss": float(loss_sum) / weight_sum,
            "val_accuracy": float(correct) / weight_sum,
        }

    return evaluate


def warn_float64_on_accelerator() -> None:
    """Warn that float64 X trains in float64 on a GPU or TPU, and how to avoid it."""
    device = _engine.accelerator()
    if device is not None:
        warnings.warn(
            f"skce is training in float64 on a {device.upper()}, which runs "
            "float64 at a fraction of its float32 speed and with twice the "
            "memory. X is float64 (scikit-learn's default), and skce follows "
            "X's dtype. For float32 speed pass X.astype(np.float32) or set "
            "dtype='float32'.",
            UserWarning,
            stacklevel=6,
        )
