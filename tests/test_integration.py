"""The estimators work where scikit-learn users put them."""

import pickle

import joblib
import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_array_equal
from sklearn.base import clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import VotingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skce import SparseCEMLPClassifier
from tests._helpers import fast


def test_pipeline_with_scaler(Estimator, blobs):
    """A Pipeline with StandardScaler fits and scores."""
    X, y = blobs
    pipe = make_pipeline(StandardScaler(), fast(Estimator, epochs=100)).fit(X, y)
    assert pipe.score(X, y) > 0.9


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_grid_search(n_jobs, blobs):
    """GridSearchCV refits the best model, in one process or two."""
    X, y = blobs
    search = GridSearchCV(
        fast(SparseCEMLPClassifier, epochs=20),
        {"hidden_layer_sizes": [(4,), (16,)], "learning_rate": [0.01]},
        cv=3,
        n_jobs=n_jobs,
        error_score="raise",
    ).fit(X, y)
    assert search.best_score_ > 0.9
    assert search.best_estimator_.predict(X).shape == y.shape


def _fit_and_report_threads(X, y):
    import os

    import tensorflow as tf

    fast(SparseCEMLPClassifier).fit(X, y)
    return (
        os.environ.get("OMP_NUM_THREADS"),
        tf.config.threading.get_intra_op_parallelism_threads(),
    )


def test_parallel_workers_do_not_oversubscribe(blobs):
    """Each of two joblib workers runs TensorFlow on its share of the cores."""
    import keras
    from joblib import Parallel, cpu_count, delayed

    if keras.backend.backend() != "tensorflow":
        pytest.skip("only TensorFlow ignores OMP_NUM_THREADS without skce's help")
    X, y = blobs
    # joblib gives each of n_jobs workers cpu_count() // n_jobs threads.
    expected = max(cpu_count() // 2, 1)
    reports = Parallel(n_jobs=2)(
        delayed(_fit_and_report_threads)(X, y) for _ in range(2)
    )
    assert reports == [(str(expected), expected)] * 2


def test_cross_val_score_is_stratified(blobs):
    """cross_val_score splits a classifier's data in stratified folds."""
    X, y = blobs
    order = np.argsort(y, kind="stable")  # classes in blocks: KFold would
    X, y = X[order], y[order]  # give test folds of one class each
    test_counts = []

    def scorer(estimator, X_test, y_test):
        test_counts.append(np.bincount(y_test, minlength=3))
        return estimator.score(X_test, y_test)

    scores = cross_val_score(
        fast(SparseCEMLPClassifier, epochs=20), X, y, cv=3, scoring=scorer
    )
    assert len(test_counts) == 3
    for counts in test_counts:
        assert counts.max() - counts.min() <= 1, test_counts
    assert scores.min() > 0.9


def test_clone_is_unfitted_and_equal(Estimator, blobs):
    """clone copies parameters, not the fitted model."""
    X, y = blobs
    clf = fast(Estimator).fit(X, y)
    copy = clone(clf)
    assert copy.get_params() == clf.get_params()
    assert not hasattr(copy, "model_")


@pytest.mark.parametrize("dumps, loads", [(pickle.dumps, pickle.loads)])
def test_pickle_round_trip(Estimator, blobs, dumps, loads, tmp_path):
    """pickle and joblib round trips predict identically."""
    X, y = blobs
    clf = fast(Estimator).fit(X, y)
    assert_array_equal(loads(dumps(clf)).predict_proba(X), clf.predict_proba(X))
    joblib.dump(clf, tmp_path / "clf.joblib")
    restored = joblib.load(tmp_path / "clf.joblib")
    assert_array_equal(restored.predict_proba(X), clf.predict_proba(X))


def test_model_saves_to_keras_file(blobs, tmp_path):
    """model_ saves to and loads from a .keras file with the same outputs."""
    import keras

    X, y = blobs
    clf = fast(SparseCEMLPClassifier, dropout=0.2).fit(X.astype("float32"), y)
    clf.model_.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loaded(X.astype("float32"))),
        keras.ops.convert_to_numpy(clf.model_(X.astype("float32"))),
        rtol=1e-6,
    )


def test_calibrated_and_voting(blobs):
    """CalibratedClassifierCV and soft voting use predict_proba."""
    X, y = blobs
    calibrated = CalibratedClassifierCV(fast(SparseCEMLPClassifier, epochs=20), cv=3)
    assert calibrated.fit(X, y).score(X, y) > 0.9
    voting = VotingClassifier(
        [("mlp", fast(SparseCEMLPClassifier, epochs=20)), ("lr", LogisticRegression())],
        voting="soft",
    )
    assert voting.fit(X, y).score(X, y) > 0.9


def test_pandas_in_and_out(blobs):
    """DataFrames keep feature names; a renamed column is caught at predict."""
    X, y = blobs
    df = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    # 20 full-batch steps: a rate of 0.01 learns the blobs from any start.
    clf = fast(SparseCEMLPClassifier, epochs=20, learning_rate=0.01)
    pipe = make_pipeline(StandardScaler(), clf)
    pipe.set_output(transform="pandas").fit(df, pd.Series(y))
    assert_array_equal(pipe[-1].feature_names_in_, ["a", "b", "c", "d"])
    assert pipe.score(df, y) > 0.9
    with pytest.raises(ValueError, match="feature names"):
        pipe.predict(df.rename(columns={"a": "z"}))
