"""Successive halving spends epochs as its resource with every estimator."""

import warnings

import pytest
from numpy.testing import assert_allclose
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import cross_val_score

from tests._search_models import CASES, halving_search, search_case


@pytest.mark.parametrize("case", sorted(CASES))
def test_halving_over_epochs(case):
    """Each rung trains its candidates for exactly the epochs it allots."""
    pipe, grid, (X, y) = search_case(case)
    search = halving_search(pipe, grid).fit(X, y)
    assert search.n_resources_ == [2, 4]
    assert list(search.cv_results_["param_clf__epochs"]) == [2, 2, 4]
    assert search.best_params_["clf__epochs"] == 4
    assert search.best_estimator_[-1].n_iter_ == 4
    # The first rung's scores are those of 2-epoch fits.
    first = clone(pipe).set_params(**search.cv_results_["params"][0])
    scores = cross_val_score(first, X, y, cv=2, scoring="neg_log_loss")
    assert_allclose(search.cv_results_["mean_test_score"][0], scores.mean(), rtol=1e-5)


def test_convergence_stopping_makes_epochs_a_cap():
    """With convergence stopping on, a rung's epochs are the most a fit trains."""
    pipe, grid, (X, y) = search_case("mlp")
    # No epoch improves the loss by tol=100: every fit stops as soon as
    # n_iter_no_change allows, before the 4 epochs of the last rung.
    pipe.set_params(clf__n_iter_no_change=1, clf__tol=100.0)
    with warnings.catch_warnings():
        # The first rung's 2 epochs end before the stopping rule can act.
        warnings.simplefilter("ignore", ConvergenceWarning)
        search = halving_search(pipe, grid).fit(X, y)
    assert search.best_params_["clf__epochs"] == 4
    assert search.best_estimator_[-1].n_iter_ < 4
