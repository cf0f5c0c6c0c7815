"""Labels: per-position y, one shared vocabulary, ignore_label, outputs and score."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import DataConversionWarning

from skce import (
    SparseCEClassifier,
    SparseCEMLPClassifier,
    SparseCERNNClassifier,
)
from skce._targets import IGNORED, encode
from tests._helpers import MULTI_OUTPUT, SMALL, X, Y, small

PAD = -100


def sequences(n=60, length=6, seed=0):
    """Token ids 1..4 and, at every position, a label that depends on the token."""
    rng = np.random.RandomState(seed)
    X = rng.randint(1, 5, (n, length))
    return X, X % 3


def rnn(**params):
    return SparseCERNNClassifier(
        **{"units": (8,), "embedding_dim": 4, "epochs": 3, "random_state": 0, **params}
    )


def padded(X, y, rng):
    """Cut each sequence to a random length, pad X with 0 and y with PAD."""
    X, y = X.copy(), y.copy()
    for row, stop in enumerate(rng.randint(2, X.shape[1] + 1, len(X))):
        X[row, stop:] = 0
        y[row, stop:] = PAD
    return X, y


@pytest.mark.parametrize(
    "labels",
    [
        np.array([10, 20, 50]),
        np.array([0, 1, 2], dtype=np.uint8),
        np.array(["cat", "dog", "eel"]),
        np.array(["a", "b", "c"]),
        np.array(["cat", "dog", "eel"], dtype=object),
    ],
    ids=["sparse-int", "uint8", "str", "char", "object"],
)
def test_per_position_labels_come_back_as_given(labels):
    """predict returns (n_samples, T) labels of y's kind; classes_ is 1-D, sorted."""
    X, y = sequences()
    y = labels[y]
    clf = rnn().fit(X, y)
    assert_array_equal(clf.classes_, np.unique(labels))
    assert clf.classes_.ndim == 1
    pred = clf.predict(X)
    assert pred.shape == y.shape
    assert pred.dtype == y.dtype
    assert set(pred.ravel()) <= set(labels)


def test_classes_are_one_vocabulary_shared_by_all_positions():
    """Positions with different label sets share one classes_ (not one per output)."""
    X, _ = sequences()
    y = np.zeros(X.shape, dtype=int)
    y[:, 0] = X[:, 0] % 2  # {0, 1}
    y[:, 1:] = 5 + X[:, 1:] % 2  # {5, 6}
    clf = rnn().fit(X, y)
    assert_array_equal(clf.classes_, [0, 1, 5, 6])
    assert all(p.shape == (len(X), 4) for p in clf.predict_proba(X))


def test_predict_proba_is_one_array_per_position():
    """predict_proba: T arrays (n, n_classes), views of one array, argmax = predict."""
    X, y = sequences()
    clf = rnn().fit(X, y)
    proba = clf.predict_proba(X)
    assert isinstance(proba, list) and len(proba) == X.shape[1]
    assert all(p.shape == (len(X), 3) for p in proba)
    assert all(p.base is proba[0].base for p in proba)
    assert_allclose(np.stack(proba).sum(axis=-1), 1.0, rtol=1e-6)
    pred = clf.predict(X)
    for t, p in enumerate(proba):
        assert_array_equal(clf.classes_[p.argmax(axis=1)], pred[:, t])
    log_proba = clf.predict_log_proba(X)
    assert len(log_proba) == X.shape[1]
    assert_allclose(np.exp(np.stack(log_proba)), np.stack(proba), rtol=1e-5)


def test_score_is_the_accuracy_over_positions(rng):
    """score is the mean per-position accuracy, sample weights weighing sequences."""
    X, y = sequences()
    clf = rnn().fit(X, y)
    hits = clf.predict(X) == y
    assert clf.score(X, y) == pytest.approx(hits.mean())
    w = rng.rand(len(X))
    expected = (w[:, None] * hits).sum() / (w.sum() * X.shape[1])
    assert clf.score(X, y, sample_weight=w) == pytest.approx(expected)


def test_score_leaves_out_ignore_label(rng):
    """Padded positions count in neither the hits nor the total of score."""
    X, y = padded(*sequences(), rng)
    clf = rnn(ignore_label=PAD).fit(X, y)
    labelled = y != PAD
    expected = (clf.predict(X) == y)[labelled].mean()
    assert clf.score(X, y) == pytest.approx(expected)


def test_ignore_label_is_not_a_class(rng):
    """ignore_label never enters classes_, so predict never returns it."""
    X, y = padded(*sequences(), rng)
    clf = rnn(ignore_label=PAD).fit(X, y)
    assert_array_equal(clf.classes_, [0, 1, 2])
    assert PAD not in clf.predict(X)


@pytest.mark.parametrize("class_weight", [None, {0: 3.0, 1: 0.5, 2: 1.0}])
def test_loss_leaves_out_padding_and_weighs_positions_by_class(class_weight, rng):
    """The loss is sum(w * cw * ce) / sum(w * cw) over labelled positions."""
    X, y = padded(*sequences(), rng)
    w = rng.rand(len(X)) + 0.5
    clf = rnn(
        ignore_label=PAD,
        class_weight=class_weight,
        epochs=1,
        batch_size=len(X),
        shuffle=False,
        learning_rate=1e-12,
        dtype="float64",
    ).fit(X, y, sample_weight=w)
    proba = np.stack(clf.predict_proba(X), axis=1)
    labelled = y != PAD
    index = np.where(labelled, y, 0)
    ce = -np.log(np.take_along_axis(proba, index[..., None], -1)[..., 0])
    cw = np.ones(3) if class_weight is None else np.array([3.0, 0.5, 1.0])
    weight = w[:, None] * cw[index] * labelled
    assert clf.history_["loss"][0] == pytest.approx(
        (weight * ce).sum() / weight.sum(), rel=1e-6
    )
    hits = (proba.argmax(-1) == index) * weight
    assert clf.history_["accuracy"][0] == pytest.approx(hits.sum() / weight.sum())


def test_balanced_class_weight_counts_positions(rng):
    """class_weight='balanced' counts labels at every labelled position."""
    X, y = padded(*sequences(), rng)
    counts = np.bincount(y[y != PAD])
    balanced = {k: counts.sum() / (3 * counts[k]) for k in range(3)}
    a = rnn(ignore_label=PAD, class_weight="balanced").fit(X, y)
    b = rnn(ignore_label=PAD, class_weight=balanced).fit(X, y)
    assert_allclose(np.stack(a.predict_proba(X)), np.stack(b.predict_proba(X)))


def test_labels_at_padded_positions_do_not_train(rng):
    """Whatever label pads y, an ignored position changes nothing."""
    X, y = padded(*sequences(), rng)
    a = rnn(ignore_label=PAD).fit(X, y)
    relabelled = np.where(y == PAD, -7, y)
    b = rnn(ignore_label=-7).fit(X, relabelled)
    assert_array_equal(np.stack(a.predict_proba(X)), np.stack(b.predict_proba(X)))


def test_ignore_label_with_one_label_per_sample(blobs):
    """With 1-D y, samples labelled ignore_label train as if absent."""
    X, y = blobs
    y = np.where(np.arange(len(y)) % 4 == 0, -1, y)
    params = dict(epochs=5, batch_size=len(X), shuffle=False, random_state=0)
    with_unlabelled = SparseCEMLPClassifier(ignore_label=-1, **params).fit(X, y)
    kept = y != -1
    without = SparseCEMLPClassifier(**params).fit(X[kept], y[kept])
    assert_array_equal(with_unlabelled.classes_, [0, 1, 2])
    assert_allclose(
        with_unlabelled.predict_proba(X), without.predict_proba(X), rtol=1e-9
    )
    assert with_unlabelled.score(X, y) == pytest.approx(without.score(X[kept], y[kept]))


def test_column_vector_y_is_one_label_per_sample():
    """y of shape (n, 1) is 1-D y, with scikit-learn's DataConversionWarning."""
    X, y = sequences()
    with pytest.warns(DataConversionWarning, match="column-vector y"):
        clf = rnn().fit(X, y[:, :1])
    assert clf.n_outputs_ == 1
    assert clf.predict(X).shape == (len(X),)


def test_indicator_y_is_positions_over_zero_and_one():
    """A multilabel indicator matrix is read as per-position labels {0, 1}."""
    X, y = sequences()
    clf = rnn().fit(X, (y == 1).astype(int))
    assert_array_equal(clf.classes_, [0, 1])
    assert clf.predict(X).shape == X.shape


def test_validation_data_scores_positions(rng):
    """val_accuracy over per-position labels equals score on the same data."""
    X, y = padded(*sequences(), rng)
    clf = rnn(ignore_label=PAD).fit(X[:40], y[:40], validation_data=(X[40:], y[40:]))
    assert clf.history_["val_accuracy"][-1] == pytest.approx(clf.score(X[40:], y[40:]))


def test_validation_split_with_per_position_labels():
    """validation_split holds out sequences (not stratified by a label)."""
    X, y = sequences()
    clf = rnn(validation_split=0.25).fit(X, y)
    assert len(clf.history_["val_loss"]) == 3


def test_partial_fit_classes_leave_out_ignore_label(rng):
    """partial_fit's classes may name ignore_label; it is left out of classes_."""
    X, y = padded(*sequences(), rng)
    clf = rnn(ignore_label=PAD).partial_fit(X, y, classes=[PAD, 0, 1, 2])
    assert_array_equal(clf.classes_, [0, 1, 2])


def test_encoding_is_int32_with_padding_marked():
    """Labels become an int32 array of y's shape; padding is IGNORED."""
    y = np.array([["b", "a", ""], ["a", "c", ""]])
    index = encode(y, np.array(["a", "b", "c"]), "y", ignore_label="")
    assert index.dtype == np.int32
    assert_array_equal(index, [[1, 0, IGNORED], [0, 2, IGNORED]])


def test_sparse_classifier_default_model_takes_per_position_labels():
    """SparseCEClassifier's default model emits logits for every output."""
    X, y = sequences()
    clf = SparseCEClassifier(epochs=20, random_state=0).fit(X.astype(float), y)
    assert clf.model_.outputs[0].shape == (None, X.shape[1], 3)
    assert clf.predict(X).shape == X.shape
    assert clf.__sklearn_tags__().target_tags.multi_output


def test_multi_output_tags():
    """The multi_output tag says which estimators take per-position labels."""
    assert rnn().__sklearn_tags__().target_tags.multi_output
    assert not SparseCEMLPClassifier().__sklearn_tags__().target_tags.multi_output


# ----------------------------------------------------------------------
# Errors


def test_y_of_another_width_on_a_continued_fit(rng):
    """warm_start and partial_fit reject y with another number of positions."""
    X, y = sequences()
    clf = rnn(warm_start=True).fit(X, y)
    with pytest.raises(ValueError, match=r"y has 3 label\(s\) per sample.*fitted on 6"):
        clf.fit(X, y[:, :3])
    with pytest.raises(ValueError, match=r"y has 1 label\(s\) per sample.*fitted on 6"):
        clf.partial_fit(X, y[:, 0])


def test_validation_labels_of_another_width():
    """y_val must hold as many labels per sample as y."""
    X, y = sequences()
    with pytest.raises(ValueError, match=r"y_val has 5 label\(s\) per sample"):
        rnn().fit(X, y, validation_data=(X, y[:, :5]))


def test_everything_ignored():
    """A y of nothing but ignore_label has no classes to learn."""
    X, y = sequences()
    with pytest.raises(ValueError, match="y has 0 classes besides ignore_label"):
        rnn(ignore_label=PAD).fit(X, np.full(y.shape, PAD))


def test_one_class_besides_padding(rng):
    """One real label besides ignore_label is not enough."""
    X, y = padded(*sequences(), rng)
    y = np.where(y == PAD, PAD, 1)
    with pytest.raises(ValueError, match=r"y has 1 class \(1\) besides ignore_label"):
        rnn(ignore_label=PAD).fit(X, y)


def test_sparse_y_rejected():
    """Sparse per-position labels are refused with the fix."""

    X, y = sequences()
    with pytest.raises(TypeError, match=r"y\.toarray\(\)"):
        rnn().fit(X, sp.csr_matrix(y))


def test_3d_y_rejected():
    """y with three dimensions is not a label per position."""
    X, y = sequences()
    with pytest.raises(ValueError, match="dim 3"):
        rnn().fit(X, y[..., None].repeat(2, axis=2))


def test_continuous_per_position_y_rejected():
    """Non-integral float labels are a regression target, not classes."""
    X, y = sequences()
    with pytest.raises(ValueError, match="Unknown label type: continuous"):
        rnn().fit(X, y + 0.5)


def test_score_with_y_of_another_shape():
    """score names both shapes when y does not match the predictions."""
    X, y = sequences()
    clf = rnn().fit(X, y)
    with pytest.raises(ValueError, match=r"y has shape \(60, 5\).*\(60, 6\)"):
        clf.score(X, y[:, :5])


def test_score_with_nothing_labelled():
    """score of all-padding y has nothing to score."""
    X, y = sequences()
    clf = rnn(ignore_label=PAD).fit(X, y)
    with pytest.raises(ValueError, match="holds no label to score"):
        clf.score(X, np.full(y.shape, PAD))


def test_no_one_label_warning_for_large_vocabularies():
    """A vocabulary larger than half the sequences is not taken for regression."""
    rng = np.random.RandomState(0)
    X = rng.randint(1, 40, (30, 10))
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="The number of unique classes")
        rnn(epochs=1).fit(X, X)


@pytest.mark.parametrize(
    "Estimator",
    [e for e in SMALL if e not in MULTI_OUTPUT],
    ids=lambda e: e.__name__,
)
@pytest.mark.parametrize(
    "y, shape",
    [(np.c_[Y, Y], r"\(30, 2\)"), (np.eye(3, dtype=int)[Y], r"\(30, 3\)")],
    ids=["y-2d", "y-multilabel-indicator"],
)
def test_one_label_estimators_reject_2d_y(Estimator, y, shape):
    """Estimators whose networks emit one label per sample reject 2-D y."""
    with pytest.raises(ValueError, match=rf"y should be a 1d array, got .* {shape}"):
        small(Estimator).fit(X, y)


@pytest.mark.parametrize(
    "params, match",
    [
        pytest.param({"class_weight": {7: 2.0}}, r"not classes of y: \[7\]", id="cw-7"),
        pytest.param(
            {"class_weight": {"0": 2.0}}, r"not classes of y: \['0'\]", id="cw-str"
        ),
        pytest.param(
            {"class_weight": {0: -1.0}}, "finite and non-negative", id="cw-neg"
        ),
        pytest.param(
            {"class_weight": {0: np.inf}}, "finite and non-negative", id="cw-inf"
        ),
        pytest.param(
            {"class_weight": {0: 0.0, 1: 0.0, 2: 0.0}}, "sums to zero", id="cw-zero"
        ),
    ],
)
def test_class_weight_rejected(Estimator, params, match):
    """class_weight naming unknown classes or holding bad weights is rejected."""
    with pytest.raises(ValueError, match=match):
        small(Estimator, **params).fit(X, Y)


def test_partial_fit_classes_missing_a_label(Estimator):
    """classes that do not hold every label of y are named with the strays."""
    with pytest.raises(ValueError, match=r"not among the classes \[0, 1\]: \[2\]"):
        small(Estimator).partial_fit(X, Y, classes=[0, 1])


@pytest.mark.parametrize(
    "y, classes, match",
    [
        pytest.param(np.zeros(30), [0], "1 class", id="one"),
        pytest.param(Y, [[0, 1, 2]], "1d array", id="2d"),
        pytest.param(
            Y, ["a", "b", "c"], r"among the classes \['a', 'b', 'c'\]", id="str"
        ),
        pytest.param(Y, [0, 1, 2, np.nan], "(?i)nan", id="nan"),
    ],
)
def test_partial_fit_bad_classes(Estimator, y, classes, match):
    """A classes argument that cannot describe y is rejected by name."""
    with pytest.raises(ValueError, match=match):
        small(Estimator).partial_fit(X, y, classes=classes)


def test_partial_fit_new_class_later(Estimator):
    """A later partial_fit bringing a class outside classes_ names it."""
    clf = small(Estimator).partial_fit(X, Y, classes=[0, 1, 2])
    with pytest.raises(ValueError, match=r"not among the classes \[0, 1, 2\]: \[3\]"):
        clf.partial_fit(X, Y + 1)


def test_partial_fit_accepts_one_class_batch(Estimator):
    """A mini-batch of one class trains when classes declares the others."""
    clf = small(Estimator).partial_fit(X[Y == 0], Y[Y == 0], classes=[0, 1, 2])
    clf.partial_fit(X[Y == 1], Y[Y == 1])
    assert_array_equal(clf.classes_, [0, 1, 2])
    assert clf.n_iter_ == 2
