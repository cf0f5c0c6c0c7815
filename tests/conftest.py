"""Shared fixtures: small, seeded data sets and each public estimator."""

import os
import tempfile

# JAX's compilation cache goes to a folder of the test run's own, not the
# user's cache folder (set before skce is imported; subprocesses inherit it).
os.environ.setdefault("SKCE_JAX_CACHE", tempfile.mkdtemp(prefix="skce-jax-cache-"))

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from sklearn.datasets import make_blobs  # noqa: E402

from tests._helpers import ESTIMATORS, X, Y, small  # noqa: E402


@pytest.fixture
def blobs():
    """Three well separated classes in four features."""
    X, y = make_blobs(n_samples=90, n_features=4, centers=3, random_state=0)
    return X, y


@pytest.fixture(params=ESTIMATORS, ids=lambda e: e.__name__)
def Estimator(request):
    """Each public estimator class."""
    return request.param


@pytest.fixture
def rng():
    return np.random.RandomState(0)


@pytest.fixture(scope="module")
def fitted_cache():
    return {}


@pytest.fixture
def fitted(Estimator, fitted_cache):
    """A fitted estimator of each class, shared by tests that only read it."""
    if Estimator not in fitted_cache:
        fitted_cache[Estimator] = small(Estimator).fit(X, Y)
    return fitted_cache[Estimator]


@pytest.fixture
def current_jax_draws():
    """Keras's own fits in the test draw what skce's fits draw: at JAX before
    0.5 a fit turns on the draws of current JAX (``_fixes.current_jax_draws``)."""
    import keras

    if keras.backend.backend() != "jax":
        yield
        return
    from skce._engine import _fixes, _xla

    with _fixes.current_jax_draws(_xla.version()):
        yield
