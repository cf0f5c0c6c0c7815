"""Labels: one per sample or one per position, their classes, weights and padding.

``y`` is 1-D, one label per sample, or 2-D ``(n_samples, n_outputs)``, one
label per position (scikit-learn's multiclass-multioutput), for example the
next character at every timestep of a text window. Every position draws from
one shared vocabulary, ``classes_``. Labels are encoded to int32 indices into
``classes_``; a position labelled ``ignore_label`` (padding) is encoded as
``IGNORED`` and left out of the loss, the accuracy and ``score``. Nothing is
ever one-hot encoded.
"""

import numpy as np
import scipy.sparse as sp
from sklearn.metrics import accuracy_score
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import (
    _check_sample_weight,
    check_consistent_length,
    column_or_1d,
)

#: The index of a position labelled ``ignore_label``.
IGNORED = -1


def check_targets(y, *, multi_output: bool) -> np.ndarray:
    """Return ``y`` as 1-D labels, or 2-D per-position labels if accepted.

    A column vector ``(n_samples, 1)`` is one label per sample, with
    scikit-learn's DataConversionWarning. Estimators without
    ``multi_output`` reject wider ``y`` as scikit-learn's do.
    """
    if sp.issparse(y):
        raise TypeError(
            "y is a sparse matrix; skce takes dense labels. Pass y.toarray()."
        )
    if multi_output:
        y = np.asarray(y)
    if not multi_output or y.ndim < 2 or y.shape[1] == 1:
        y = column_or_1d(y, warn=True)
    # Per-position labels are checked as the n_samples * n_outputs labels they
    # are (scikit-learn would compare the vocabulary with n_samples alone).
    check_classification_targets(y.reshape(-1) if y.ndim > 1 else y)
    if y.ndim == 1:
        target = type_of_target(y, input_name="y")
        if target not in ("binary", "multiclass"):
            raise ValueError(
                f"y is {target}; skce classifiers take one label per sample "
                "(binary or multiclass)."
            )
    return y


def n_outputs(y) -> int:
    """Labels per sample: 1 for 1-D ``y``, else its number of columns."""
    return 1 if y.ndim == 1 else y.shape[1]


def labelled(y, ignore_label) -> np.ndarray:
    """Boolean mask, shaped like ``y``, of the positions that hold a label."""
    if ignore_label is None:
        return np.ones(np.shape(y), dtype=bool)
    return np.asarray(y != ignore_label, dtype=bool)


def find_classes(y, ignore_label) -> np.ndarray:
    """The sorted labels of ``y`` at every position, ``ignore_label`` left out."""
    if ignore_label is None:
        return np.unique(y)
    return np.unique(y[labelled(y, ignore_label)])


def encode(y, classes_, name: str, ignore_label=None) -> np.ndarray:
    """Map labels to int32 indices into ``classes_``; reject unknown labels.

    Positions labelled ``ignore_label`` get the index ``IGNORED``.
    """
    y = np.asarray(y)
    index = np.searchsorted(classes_, y)
    index = np.clip(index, 0, len(classes_) - 1)
    unknown = classes_[index] != y
    keep = None
    if ignore_label is not None:
        keep = labelled(y, ignore_label)
        unknown &= keep
    if np.any(unknown):
        raise ValueError(
            f"{name} has labels that are not among the classes "
            f"{classes_.tolist()}: {np.unique(y[unknown]).tolist()}. "
            "Pass every label to partial_fit's `classes` on the first call, or "
            "refit from scratch with warm_start=False."
        )
    index = index.astype(np.int32)
    if keep is not None:
        index[~keep] = IGNORED
    return index


def class_totals(y_index, sample_weight, n_classes: int) -> np.ndarray:
    """Summed sample weight of each class over every labelled position.

    Works column by column, so no float array the size of ``y`` is made.
    """
    totals = np.zeros(n_classes)
    for column in y_index.reshape(len(y_index), -1).T:
        keep = column >= 0
        totals += np.bincount(
            column[keep], weights=sample_weight[keep], minlength=n_classes
        )
    return totals


def class_weights(class_weight, classes_, totals) -> np.ndarray:
    """The weight of each class, from the ``class_weight`` parameter.

    "balanced" is ``n_labels / (n_classes * count)``, labels counted at every
    labelled position and weighed by their sample's weight, as scikit-learn's
    ``compute_class_weight`` counts samples.
    """
    per_class = np.ones(len(classes_))
    if class_weight == "balanced":
        present = totals > 0
        per_class[present] = totals.sum() / (present.sum() * totals[present])
        return per_class
    unknown = [k for k in class_weight if k not in set(classes_.tolist())]
    if unknown:
        raise ValueError(
            f"class_weight names labels that are not classes of y: {unknown}. "
            f"The classes are {classes_.tolist()}."
        )
    for label, value in class_weight.items():
        per_class[np.searchsorted(classes_, label)] = value
    if np.any(per_class < 0) or not np.all(np.isfinite(per_class)):
        raise ValueError(
            "class_weight values must be finite and non-negative. "
            f"Received: class_weight={class_weight}."
        )
    return per_class


def check_label_weights(weighted_totals, one_class_ok: bool) -> None:
    """Reject weights that leave nothing, or a single class, to learn from."""
    if not weighted_totals.sum() > 0:
        raise ValueError(
            "sample_weight (times class_weight) sums to zero: at least one "
            "sample needs a positive weight."
        )
    # A partial_fit mini-batch may hold one class: `classes` names the rest.
    if not one_class_ok and np.count_nonzero(weighted_totals > 0) < 2:
        raise ValueError(
            "Only one class has a positive sample weight; a classifier needs "
            "samples of at least 2 classes with positive weight."
        )


def accuracy(y_true, y_pred, sample_weight=None, ignore_label=None) -> float:
    """Mean accuracy over labelled positions, each sample weighing its positions.

    For 1-D labels and no ``ignore_label`` this is ``accuracy_score``.
    """
    if y_pred.ndim == 1 and ignore_label is None:
        return float(accuracy_score(y_true, y_pred, sample_weight=sample_weight))
    y_true = np.asarray(y_true)
    if y_pred.ndim == 1 and y_true.ndim == 2 and y_true.shape[1] == 1:
        y_true = y_true.ravel()
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"y has shape {y_true.shape}, but the estimator predicts labels of "
            f"shape {y_pred.shape} for X. Pass y with one label per position, "
            "as in fit."
        )
    check_consistent_length(y_true, y_pred)
    weights = _check_sample_weight(sample_weight, y_true, dtype=np.float64)
    weights = weights.reshape(-1, *([1] * (y_true.ndim - 1)))
    position_weights = weights * labelled(y_true, ignore_label)
    total = position_weights.sum()
    if not total > 0:
        raise ValueError(
            f"y holds no label to score: every position is ignore_label="
            f"{ignore_label!r} or has zero sample weight."
        )
    return float((position_weights * (y_true == y_pred)).sum() / total)


def fit_classes(y, classes, plan, fitted_classes, ignore_label) -> np.ndarray:
    """The classes of a fit, checked against ``classes`` and earlier calls.

    ``classes`` is ``partial_fit``'s argument; ``fitted_classes`` the
    estimator's ``classes_`` where the fit continues.
    """
    given = None
    if plan.partial and classes is not None:
        given = find_classes(column_or_1d(classes), ignore_label)
        if given.dtype.kind == "f" and np.isnan(given).any():
            raise ValueError(
                "classes contains NaN. Pass the class labels that y uses, "
                f"without missing values. Received: classes={classes}."
            )
        if plan.continues and not (
            len(given) == len(fitted_classes) and np.all(given == fitted_classes)
        ):
            raise ValueError(
                f"classes={given.tolist()} is not the same as on the first "
                f"call to partial_fit, {fitted_classes.tolist()}. Pass the "
                "same classes (or none) on later calls, or refit from scratch."
            )
    if plan.continues:
        return fitted_classes
    if plan.partial and given is None:
        raise ValueError(
            "classes must be passed on the first call to partial_fit: "
            "pass every label that will ever appear, e.g. "
            "classes=np.unique(y_all)."
        )
    found = given if plan.partial else find_classes(y, ignore_label)
    if len(found) < 2:
        where = "classes" if plan.partial else "y"
        if len(found):
            count = f"1 class ({found.tolist()[0]!r})"
        else:
            count = "0 classes"
        besides = "" if ignore_label is None else " besides ignore_label"
        raise ValueError(
            f"{where} has {count}{besides}; a classifier needs at least 2 "
            f"classes. Pass {where} with two or more distinct labels."
        )
    return found
