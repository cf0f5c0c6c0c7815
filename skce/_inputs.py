"""X: dense rows, sparse rows, sequences and token ids, validated and arranged
as the network takes them.

Rows of features may be scipy sparse (any format, ``sparray`` or
``spmatrix``): they are validated as CSR, never densified (see
``skce._engine._sparse``).

The estimators that take sequences read X as

- integers ``(n_samples, T)``: token ids, handed to the network as int32
  (never cast to float) when the network takes integers, as one that starts
  with an ``Embedding`` does;
- floats ``(n_samples, T, n_features)``: a sequence of feature vectors;
- floats ``(n_samples, T)``: a sequence of T scalars (how tabular data
  arrives from scikit-learn).

Token ids are checked against the vocabulary fitted on: negative ids, ids at
or beyond ``vocabulary_size_`` and non-integral floats are errors that say
how to fix them, as are ragged lists of sequences.
"""

import keras
import numpy as np
import scipy.sparse as sp
from sklearn.utils import assert_all_finite
from sklearn.utils.validation import check_array, check_X_y, validate_data

from skce._engine import active, host_rows, is_memory_mapped

_NO_Y = "no_validation"
# Rows are checked (finite, integral) in blocks of about this many bytes, so
# that no check makes a mask the size of X.
_BLOCK_BYTES = 1 << 22


def float_validation(X, dtype=(np.float64, np.float32)) -> dict:
    """Keyword arguments for scikit-learn's validation of X.

    A NumPy array (a memmap included) of booleans, integers or floats keeps
    its dtype ("numeric") and skips scikit-learn's finiteness check, which
    may build a mask the size of X: fit and predict cast it to the
    network's input type once, as they read it (segment by segment for a
    memmap, which is never read whole), and ``check_finite`` checks it a
    block at a time. Any other X is converted to ``dtype`` by scikit-learn.
    """
    if isinstance(X, np.ndarray) and X.dtype.kind in "biuf":
        return {"dtype": "numeric", "ensure_all_finite": False}
    return {"dtype": dtype}


def check_finite(out, kwargs: dict, estimator):
    """Check validated X (``out``, or ``out[0]``) finite unless scikit-learn did."""
    if kwargs.get("ensure_all_finite", True):
        return out
    X = out[0] if isinstance(out, tuple) else out
    if X.dtype.kind == "f":
        blocks = (X,) if X.nbytes <= _BLOCK_BYTES else row_blocks(X)
        for block in blocks:
            # A finite sum proves the block finite without building a mask;
            # scikit-learn's check, which names the problem, runs otherwise.
            with np.errstate(over="ignore"):
                finite = np.isfinite(block.sum())
            if not finite:
                assert_all_finite(
                    block, estimator_name=type(estimator).__name__, input_name="X"
                )
    return out


def row_blocks(X):
    """X's rows, a block of about ``_BLOCK_BYTES`` at a time."""
    row_bytes = max(1, int(np.prod(X.shape[1:], dtype=np.int64)) * X.dtype.itemsize)
    step = max(1, _BLOCK_BYTES // row_bytes)
    for start in range(0, X.shape[0], step):
        yield np.asarray(X[start : start + step])


#: The float types rows of features are computed on.
FLOATS = (np.float64, np.float32)


class SparseLabelsError(TypeError, ValueError):
    """Labels given as a scipy sparse matrix: a wrong type of a value."""


def check_dense_y(y) -> None:
    """Reject sparse labels, naming the fix."""
    if sp.issparse(y):
        raise SparseLabelsError(
            f"y is a scipy sparse matrix of shape {y.shape}; skce takes labels "
            "as a dense array, of shape (n_samples,) or, per position, "
            "(n_samples, n_outputs). Pass y.toarray() (raveled for one label "
            "per sample: y.toarray().ravel())."
        )


def reject_sparse(estimator, X) -> None:
    """Raise the TypeError of an estimator that takes dense X only."""
    if sp.issparse(X):
        raise TypeError(
            f"{type(estimator).__name__} takes dense X, but a scipy sparse "
            f"{X.format} matrix was passed. Use SparseCEMLPClassifier or "
            "SparseCEClassifier, which take sparse X, or pass X.toarray() if "
            "it fits in memory."
        )


def sparse_input(X) -> bool:
    """Whether the network takes X as sparse tensors: sparse X, on a backend
    whose networks take them (on the others, mini-batches are densified)."""
    return sp.issparse(X) and active().sparse_tensors


def validate_rows(estimator, X, y=_NO_Y, *, reset: bool):
    """``validate_data`` for rows of features, dense or sparse (as CSR)."""
    if not (isinstance(y, str) and y == _NO_Y):
        check_dense_y(y)
    if sp.issparse(X):
        return validate_data(
            estimator, X, y, dtype=FLOATS, accept_sparse="csr", reset=reset
        )
    kwargs = float_validation(X)
    out = _validate_data(estimator, X, y, reset, kwargs)
    return check_finite(out, kwargs, estimator)


def _validate_data(estimator, X, y, reset: bool, kwargs: dict):
    """``validate_data(estimator, X, y, reset=reset, **kwargs)``.

    At predict, for a NumPy array of numbers of at least one row and one
    column, with the kwargs of ``float_validation``, ``check_array`` would
    return X itself having checked nothing more: it is skipped (its type
    dispatch costs tens of microseconds, a large share of a one-row
    prediction), the feature names and n_features still checked.
    """
    as_is = (
        not reset
        and isinstance(y, str)
        and y == _NO_Y
        and kwargs.get("ensure_all_finite") is False
        and X.ndim == 2
        and X.size > 0
    )
    if as_is:
        if (
            type(X) is np.ndarray
            and not hasattr(estimator, "feature_names_in_")
            and X.shape[1] == getattr(estimator, "n_features_in_", None)
        ):
            # What validate_data would conclude: a plain array has no
            # feature names, none were fitted, and the width matches. Its
            # dataframe detection alone costs about 15 microseconds.
            return X
        return validate_data(estimator, X, reset=False, skip_check_array=True)
    return validate_data(estimator, X, y, reset=reset, **kwargs)


def validate_sequences(
    estimator, X, y=_NO_Y, *, reset: bool, max_ndim=None, accept_sparse=False
):
    """``validate_data`` for sequence input: any rank >= 2, integers kept.

    2-D X goes through scikit-learn's ``validate_data`` (feature names and
    the n_features check included). Higher-rank X is checked for the shape
    of its samples against the fitted one, and never against feature names.
    ``y`` may be 2-D: per-position labels are checked in ``skce._targets``.
    """
    no_y = isinstance(y, str) and y == _NO_Y
    if not no_y:
        check_dense_y(y)
    if sp.issparse(X):
        if not accept_sparse:
            reject_sparse(estimator, X)
        out = validate_rows(estimator, X, y, reset=reset)
        if reset:
            estimator._sample_shape = (X.shape[1],)
        return out
    _check_ragged(X)
    validation = float_validation(X, dtype="numeric")
    kwargs = dict(allow_nd=True, **validation)
    name = type(estimator).__name__
    if len(getattr(X, "shape", ())) > 2 and not reset:
        if no_y:
            out = check_array(X, **kwargs)
        else:
            out = check_X_y(X, y, multi_output=True, **kwargs)
        X = out if no_y else out[0]
    else:
        if not no_y:
            kwargs["multi_output"] = True
        out = _validate_data(estimator, X, y, reset, kwargs)
        X = out if no_y else out[0]
    if not reset and X.shape[1:] != estimator._sample_shape:
        raise ValueError(
            f"X holds samples of shape {X.shape[1:]}, but {name} was fitted "
            f"on samples of shape {estimator._sample_shape}. Pass samples of "
            "the fitted shape (pad or cut sequences to its length)."
        )
    if max_ndim is not None and X.ndim > max_ndim:
        raise ValueError(
            f"X has {X.ndim} dimensions; {name} takes 2-D (n_samples, T) or "
            "3-D (n_samples, T, n_features) arrays."
        )
    if reset:
        estimator._sample_shape = X.shape[1:]
    if X.dtype.kind not in "iuf" and not is_memory_mapped(X):
        # Booleans are features, not ids: computed on in float64 (a memmap
        # is cast as it is read).
        X = X.astype(np.float64)
        out = X if no_y else (X, out[1])
    return check_finite(out, validation, estimator)


def _check_ragged(X) -> None:
    """Reject a list of sequences of different lengths with the fix."""
    if sp.issparse(X) or (isinstance(X, np.ndarray) and X.dtype != object):
        return
    if not isinstance(X, (list, tuple, np.ndarray)) or getattr(X, "ndim", 1) == 0:
        return
    lengths = sorted(
        {len(row) for row in X if hasattr(row, "__len__") and not isinstance(row, str)}
    )
    if len(lengths) > 1:
        raise ValueError(
            f"X holds sequences of different lengths ({lengths[0]} to "
            f"{lengths[-1]}); skce takes one length T. Pad them first, e.g. "
            "keras.utils.pad_sequences(X, padding='post'), which pads with "
            "token id 0, the id that mask_zero=True masks (and pad y with "
            "ignore_label)."
        )


def is_integer(X) -> bool:
    """Whether X holds integers (candidate token ids)."""
    return X.dtype.kind in "iu"


def check_token_ids(X, vocabulary_size=None):
    """Return X as int32 token ids, or raise naming what is wrong and the fix.

    Ids must be integral, non-negative and, when ``vocabulary_size`` is
    given, below it. A memory-mapped X comes back as rows still on disk
    (``_engine.HostRows``), cast to int32 as they are read.
    """
    if not is_integer(X):
        fractional = np.concatenate(
            [b[b != np.floor(b)] for b in row_blocks(X)] or [np.zeros(0)]
        )
        if fractional.size:
            raise ValueError(
                "X holds non-integral values (for example "
                f"{float(fractional.flat[0])!r}), but the network takes token "
                "ids. "
                "Pass integer ids (X.astype(int) if they are whole numbers "
                "stored as floats), or a float sequence to a network fitted "
                "on floats."
            )
    if X.size == 0:
        return X.astype(np.int32)
    low, high = X.min(), X.max()
    if low < 0:
        raise ValueError(
            f"X holds negative token ids (the smallest is {low}). Token ids "
            "index the embedding and start at 0: map tokens to ids 1..V (id 0 "
            "is padding), e.g. with np.unique(tokens, return_inverse=True)."
        )
    if vocabulary_size is not None and high >= vocabulary_size:
        raise ValueError(
            f"X holds token id {high}, beyond the vocabulary of "
            f"{vocabulary_size} ids (0 to {vocabulary_size - 1}) of the "
            "network's embedding. Map ids never seen in fit to an id seen "
            "there (e.g. a reserved unknown-token id), or fit with a "
            "vocabulary_size above the largest id."
        )
    if high > np.iinfo(np.int32).max:
        raise ValueError(
            f"X holds token id {high}, beyond the int32 range; renumber the "
            "tokens from 0."
        )
    return host_rows(X, np.int32)


def takes_token_ids(model) -> bool:
    """Whether the model reads integer ids: an integer Input, or an Embedding first."""
    inputs = getattr(model, "inputs", None) or []
    if inputs and "int" in str(inputs[0].dtype):
        return True
    layers = [
        layer
        for layer in model.layers
        if not isinstance(layer, keras.layers.InputLayer)
    ]
    return bool(layers) and isinstance(layers[0], keras.layers.Embedding)


def embedding_vocabulary(model):
    """``input_dim`` of the model's first Embedding, or None if it has none."""
    stack = list(model.layers)[::-1]
    while stack:
        layer = stack.pop()
        if isinstance(layer, keras.layers.Embedding):
            return int(layer.input_dim)
        stack.extend(list(getattr(layer, "layers", ()))[::-1])
    return None


def network_input(estimator, model, X, dtype: str, fitting: bool) -> np.ndarray:
    """Arrange validated X for ``model``: int32 token ids, or floats of ``dtype``.

    A fresh fit decides, from the built model, whether X is token ids and
    records ``vocabulary_size_`` (None for float input): the input_dim of the
    model's embedding, else the largest id seen plus one.
    """
    x = estimator._model_input(X)
    if sp.issparse(x):
        # Sparse X is features, never token ids.
        if fitting:
            estimator.vocabulary_size_ = None
        return host_rows(x, dtype)
    if fitting:
        if takes_token_ids(model):
            check_token_ids(x)
            vocabulary = embedding_vocabulary(model)
            if vocabulary is None:
                vocabulary = int(x.max()) + 1 if x.size else 1
            estimator.vocabulary_size_ = vocabulary
        else:
            estimator.vocabulary_size_ = None
    if estimator.vocabulary_size_ is None:
        return host_rows(x, dtype)
    return check_token_ids(x, estimator.vocabulary_size_)
