"""Sparse X: every format and index type, equal to dense X, never densified whole."""

import resource

import keras
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.compose import make_column_transformer
from sklearn.feature_extraction.text import HashingVectorizer, TfidfVectorizer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import skce
from skce import (
    SparseCEClassifier,
    SparseCECNNClassifier,
    SparseCEMLPClassifier,
    SparseCERNNClassifier,
)
from skce._engine._keys import row_keys
from skce._engine._sparse import nnz_bound, padded_size, sparse_rows
from tests._helpers import fast

SPARSE_ESTIMATORS = (SparseCEMLPClassifier, SparseCEClassifier)
FORMATS = ("csr", "csc", "coo")
CONTAINERS = (sp.csr_array, sp.csr_matrix)


def _data(n=120, d=30, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.uniform(size=(n, d))
    X[X < 0.8] = 0
    y = (X[:, :5].sum(1) > 0.4).astype(int) + (X[:, 5:10].sum(1) > 0.4)
    return X, y


def _as(X, container, fmt, index_dtype):
    out = container(X).asformat(fmt)
    for name in ("indices", "indptr", "row", "col"):
        if hasattr(out, name):
            setattr(out, name, getattr(out, name).astype(index_dtype))
    return out


@pytest.fixture(scope="module", params=SPARSE_ESTIMATORS, ids=lambda e: e.__name__)
def dense_fit(request):
    """An estimator fitted on dense X, and that X."""
    X, y = _data()
    return fast(request.param, batch_size=32).fit(X, y), X, y


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("container", CONTAINERS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("index_dtype", (np.int32, np.int64))
def test_sparse_fit_equals_dense_fit(dense_fit, fmt, container, index_dtype):
    """Each format, container and index type trains and predicts as dense X does.

    Up to rounding: on TensorFlow the sparse fit's Adam is TensorFlow's fused
    op, which rounds ``1 - beta_2`` in float32 where Keras's Adam (the dense
    fit's) does not; log-probabilities are compared to 1e-5 relative.
    """
    dense, X, y = dense_fit
    Xs = _as(X, container, fmt, index_dtype)
    clf = fast(type(dense), batch_size=32).fit(Xs, y)
    np.testing.assert_allclose(clf.predict_proba(Xs), dense.predict_proba(X), atol=1e-5)
    np.testing.assert_allclose(
        clf.predict_log_proba(Xs), dense.predict_log_proba(X), rtol=1e-5, atol=1e-5
    )
    np.testing.assert_array_equal(clf.predict(Xs), dense.predict(X))
    assert clf.score(Xs, y) == dense.score(X, y)
    labels, proba = clf.predict_top_k(Xs, 2)
    dense_labels, dense_proba = dense.predict_top_k(X, 2)
    np.testing.assert_array_equal(labels, dense_labels)
    np.testing.assert_allclose(proba, dense_proba, atol=1e-5)


def test_partial_fit_on_sparse_equals_dense(Estimator=SparseCEMLPClassifier):
    """partial_fit on sparse mini-batches trains the network dense ones train."""
    X, y = _data()
    a, b = fast(Estimator), fast(Estimator)
    for part in np.array_split(np.arange(len(X)), 3):
        a.partial_fit(sp.csr_array(X[part]), y[part], classes=np.unique(y))
        b.partial_fit(X[part], y[part], classes=np.unique(y))
    np.testing.assert_allclose(a.predict_proba(X), b.predict_proba(X), atol=1e-5)


def test_float32_dropout_and_validation_equal_dense():
    """float32 X, dropout and a validation split train alike from sparse X."""
    X, y = _data()
    X = X.astype(np.float32)
    params = dict(dropout=0.3, validation_split=0.2, batch_size=16)
    a = fast(SparseCEMLPClassifier, **params).fit(sp.csr_array(X), y)
    b = fast(SparseCEMLPClassifier, **params).fit(X, y)
    assert a.model_.dtype == "float32"
    np.testing.assert_allclose(a.predict_proba(X), b.predict_proba(X), atol=1e-5)
    np.testing.assert_allclose(
        a.history_["val_loss"], b.history_["val_loss"], rtol=1e-4
    )


def test_streamed_sparse_equals_in_memory():
    """Sparse X over the data budget streams in segments and trains alike."""
    X, y = _data()
    Xs = sp.csr_array(X)
    a = fast(SparseCEMLPClassifier, batch_size=16).fit(Xs, y)
    with skce.data_budget(Xs.data.nbytes // 4):
        b = fast(SparseCEMLPClassifier, batch_size=16).fit(Xs, y)
    np.testing.assert_allclose(a.predict_proba(X), b.predict_proba(X), atol=1e-5)


def test_non_canonical_input_is_summed_and_left_unchanged():
    """Duplicate, unsorted entries count as their sum; the input is left as it was."""
    X, y = _data()
    csr = sp.csr_array(X)
    # Each row's values split in two halves, stored in reverse column order.
    counts = np.diff(csr.indptr)
    indptr = np.concatenate([[0], np.cumsum(2 * counts)])
    indices, values = [], []
    for i in range(len(X)):
        cols = csr.indices[csr.indptr[i] : csr.indptr[i + 1]]
        vals = csr.data[csr.indptr[i] : csr.indptr[i + 1]] / 2
        indices.append(np.concatenate([cols, cols])[::-1])
        values.append(np.concatenate([vals, vals])[::-1])
    messy = sp.csr_matrix(
        (np.concatenate(values), np.concatenate(indices), indptr), shape=X.shape
    )
    assert not messy.has_canonical_format
    before = (messy.indices.copy(), messy.indptr.copy(), messy.data.copy())
    a = fast(SparseCEMLPClassifier).fit(messy, y)
    b = fast(SparseCEMLPClassifier).fit(X, y)
    np.testing.assert_allclose(a.predict_proba(messy), b.predict_proba(X), atol=1e-5)
    arrays = (messy.indices, messy.indptr, messy.data)
    for array, saved in zip(arrays, before, strict=True):
        np.testing.assert_array_equal(array, saved)


def test_sparse_row_keys_equal_dense_row_keys():
    """The dropout keys of a sparse row are those of its dense copy."""
    X, _ = _data()
    X[3] = 0.0
    rows = sparse_rows(sp.csr_array(X), np.float64)
    np.testing.assert_array_equal(row_keys(rows), row_keys(X))


def test_nnz_bound_holds_every_batch_with_little_padding():
    """The padded size holds the epoch's largest mini-batch: a power of two up
    to 64, then a multiple of a sixteenth of the power of two above it."""
    row_nnz = np.array([5, 0, 3, 9, 1, 2, 7])
    perm = np.array([3, 6, 0, 1, 2, 4, 5])
    assert nnz_bound(row_nnz, perm, 2) == 16  # 9 + 7
    assert nnz_bound(row_nnz, perm, 7) == 32  # 27
    assert nnz_bound(np.zeros(3, int), np.arange(3), 2) == 1
    assert nnz_bound(np.full(10, 53), np.arange(10), 10) == 576  # 530: 1024 / 16
    sizes = [padded_size(n) for n in range(1, 8193)]
    assert all(n <= size <= max(64, n * 1.125) for n, size in enumerate(sizes, 1))
    assert len(set(sizes[4096:])) == 8  # 4097 to 8192


@pytest.mark.parametrize("Estimator", SPARSE_ESTIMATORS, ids=lambda e: e.__name__)
@pytest.mark.parametrize("bad", (np.nan, np.inf))
def test_non_finite_sparse_values_rejected_before_training(Estimator, bad):
    """NaN or infinity among the stored values is a ValueError; the fit is kept."""
    X, y = _data()
    clf = fast(Estimator).fit(sp.csr_array(X), y)
    proba = clf.predict_proba(X)
    Xbad = sp.csr_array(X)
    Xbad.data[0] = bad
    with pytest.raises(ValueError, match="NaN|infinity"):
        clf.fit(Xbad, y)
    with pytest.raises(ValueError, match="NaN|infinity"):
        clf.predict(Xbad)
    np.testing.assert_array_equal(clf.predict_proba(X), proba)


@pytest.mark.parametrize("Estimator", SPARSE_ESTIMATORS, ids=lambda e: e.__name__)
def test_sparse_y_rejected(Estimator):
    """Sparse labels are a ValueError that says how to pass them."""
    X, y = _data()
    with pytest.raises(ValueError, match="y is a scipy sparse matrix"):
        fast(Estimator).fit(sp.csr_array(X), sp.csr_array(y[:, None]))


@pytest.mark.parametrize("Estimator", SPARSE_ESTIMATORS, ids=lambda e: e.__name__)
def test_wrong_column_count_at_predict_rejected(Estimator):
    """Sparse X with another number of columns than in fit is a ValueError."""
    X, y = _data()
    clf = fast(Estimator).fit(sp.csr_array(X), y)
    with pytest.raises(ValueError, match="features"):
        clf.predict(sp.csr_array(X[:, :-1]))


@pytest.mark.skipif(
    keras.backend.backend() == "torch", reason="no data-parallel path on PyTorch"
)
def test_data_parallel_rejects_sparse_with_the_fix():
    """Data-parallel training on sparse X is a ValueError that names the fix;
    the fitted network is kept."""
    X, y = _data()
    clf = fast(SparseCEMLPClassifier).fit(sp.csr_array(X), y)
    proba = clf.predict_proba(X)
    clf.set_params(distribution="data_parallel")
    with pytest.raises(ValueError, match="data-parallel training takes dense X"):
        clf.fit(sp.csr_array(X), y)
    np.testing.assert_array_equal(clf.predict_proba(X), proba)


@pytest.mark.parametrize("Estimator", (SparseCECNNClassifier, SparseCERNNClassifier))
def test_cnn_and_rnn_reject_sparse_with_the_fix(Estimator):
    """The image and sequence networks raise a TypeError naming what to use."""
    X, y = _data(n=20, d=16)
    with pytest.raises(TypeError, match="SparseCEMLPClassifier or SparseCEClassifier"):
        fast(Estimator).fit(sp.csr_array(X), y)


def test_one_hot_column_transformer_pipeline():
    """The standard tabular pipeline (sparse one-hot plus scaled numbers) fits."""
    rng = np.random.RandomState(0)
    n = 400
    frame = pd.DataFrame(
        {
            "city": rng.randint(0, 60, n).astype(str),
            "job": rng.randint(0, 8, n).astype(str),
            "age": rng.uniform(20, 60, n),
        }
    )
    y = (frame["city"].astype(int) % 3 == 0).astype(int)
    columns = make_column_transformer(
        (OneHotEncoder(handle_unknown="ignore"), ["city", "job"]),
        (StandardScaler(), ["age"]),
    )
    assert sp.issparse(columns.fit_transform(frame))
    pipe = make_pipeline(columns, fast(SparseCEMLPClassifier, epochs=30))
    assert pipe.fit(frame, y).score(frame, y) > 0.85


def test_tfidf_pipeline_with_a_users_model():
    """TfidfVectorizer into a user's Keras builder with a sparse Input trains."""
    import keras

    docs = ["the cat sat", "a dog ran", "the cat ran", "a dog sat"] * 10
    y = np.array([0, 1, 0, 1] * 10)

    def build(n_features_in_, n_classes_, X_sparse_):
        inputs = keras.Input((n_features_in_,), sparse=X_sparse_)
        return keras.Model(inputs, keras.layers.Dense(n_classes_)(inputs))

    pipe = make_pipeline(
        TfidfVectorizer(), fast(SparseCEClassifier, model=build, epochs=50)
    )
    assert pipe.fit(docs, y).score(docs, y) == 1.0


def test_hashed_text_is_never_densified():
    """2**20 hashed features for 2,000 documents train without a dense copy."""
    rng = np.random.RandomState(0)
    words = np.array([f"w{i}" for i in range(5000)])
    docs = [" ".join(rng.choice(words, 30)) for _ in range(2000)]
    X = HashingVectorizer(n_features=2**20).transform(docs).astype(np.float32)
    y = rng.randint(0, 3, len(docs))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    clf = fast(SparseCEMLPClassifier, hidden_layer_sizes=(4,), epochs=1).fit(X, y)
    clf.predict(X)
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    # A dense float32 copy alone would be 8 GiB.
    assert grown_kib < 1.5 * 2**20
