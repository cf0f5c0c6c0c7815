"""The private scikit-learn APIs skce builds on still do what skce relies on.

skce's estimators take ``_fit_context`` and the constraint classes of
``sklearn.utils._param_validation`` as scikit-learn's own estimators and
scikit-learn-contrib do. If scikit-learn moves or changes them, these tests
fail first, naming what changed. (The Keras internals skce touches are
guarded in ``engine/test_fixes.py``, TensorFlow's retracing count in
``engine/test_tensorflow.py``.)
"""

from numbers import Integral, Real

import numpy as np
import pytest
from sklearn.base import _fit_context
from sklearn.utils._param_validation import (
    HasMethods,
    Interval,
    InvalidParameterError,
    StrOptions,
)

from skce import SparseCEMLPClassifier


def test_constraint_classes_judge_values():
    """Interval, StrOptions and HasMethods accept and reject as skce's tables expect."""
    assert Interval(Integral, 1, None, closed="left").is_satisfied_by(3)
    assert not Interval(Integral, 1, None, closed="left").is_satisfied_by(0)
    assert Interval(Real, 0, 1, closed="right").is_satisfied_by(1.0)
    assert not Interval(Real, 0, 1, closed="right").is_satisfied_by(0.0)
    assert StrOptions({"auto"}).is_satisfied_by("auto")
    assert not StrOptions({"auto"}).is_satisfied_by("other")
    assert HasMethods(["fit"]).is_satisfied_by(SparseCEMLPClassifier())
    assert not HasMethods(["fit"]).is_satisfied_by(object())


def test_fit_context_validates_parameters_before_fitting():
    """``_fit_context`` checks ``_parameter_constraints`` when fit starts."""
    assert callable(_fit_context(prefer_skip_nested_validation=True))
    X, y = np.zeros((4, 2)), np.array([0, 1, 0, 1])
    fits = {
        "fit": lambda clf: clf.fit(X, y),
        "partial_fit": lambda clf: clf.partial_fit(X, y, classes=[0, 1]),
    }
    for fit in fits.values():
        clf = SparseCEMLPClassifier(epochs=0)
        with pytest.raises(InvalidParameterError, match="epochs"):
            fit(clf)
        assert not hasattr(clf, "model_")
