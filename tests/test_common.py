"""scikit-learn's estimator checks on the default instance of every estimator."""

import pytest
from sklearn.utils.estimator_checks import (
    check_param_validation,
    parametrize_with_checks,
)

from tests._helpers import ESTIMATORS


@parametrize_with_checks([Estimator() for Estimator in ESTIMATORS])
def test_sklearn_compatible_estimator(estimator, check):
    """Every check scikit-learn runs passes, with nothing marked expected."""
    check(estimator)


@pytest.mark.parametrize("Estimator", ESTIMATORS, ids=lambda e: e.__name__)
def test_param_validation(Estimator):
    """Out-of-range and wrongly typed parameters are rejected at fit."""
    check_param_validation(Estimator.__name__, Estimator())
