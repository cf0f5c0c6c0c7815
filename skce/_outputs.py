"""What inference computes from a network's outputs, chunk by chunk.

Each output kind maps the network's last activations (probabilities or
logits, as the model emits them) to what a public method returns.
"""

import functools
from numbers import Integral

import keras

from skce import _engine


def _argmax(out):
    return keras.ops.argmax(out, axis=-1)


def _proba(out):
    return _engine.widen(out)


def _proba_from_logits(out):
    return keras.ops.softmax(_engine.widen(out))


def _log_proba(out):
    return keras.ops.log(_engine.widen(out))


def _log_proba_from_logits(out):
    return keras.ops.log_softmax(_engine.widen(out))


def _top_k(k, from_logits, out):
    """The ``k`` largest probabilities and their class indices, side by side.

    Indices travel as floats beside the probabilities so that one array comes
    back per chunk; float32 holds every integer below 2**24 exactly, far more
    classes than a network has.
    """
    proba = _proba_from_logits(out) if from_logits else _proba(out)
    values, indices = keras.ops.top_k(proba, k)
    return keras.ops.concatenate(
        [values, keras.ops.cast(indices, values.dtype)], axis=-1
    )


# For each output kind: the function to apply to probabilities (False) or to
# logits (True) as the model emits them.
_OUTPUTS = {
    "argmax": {False: _argmax, True: _argmax},
    "proba": {False: _proba, True: _proba_from_logits},
    "log_proba": {False: _log_proba, True: _log_proba_from_logits},
}


def output_function(kind: str, from_logits: bool, k=None):
    """``(fn, key)``: the function for ``kind`` and the key it is compiled under."""
    if kind == "top_k":
        return functools.partial(_top_k, k, from_logits), ("top_k", k)
    return _OUTPUTS[kind][from_logits], kind


def check_k(k, n_classes: int) -> int:
    """``predict_top_k``'s ``k`` as an int from 1 to ``n_classes``."""
    if isinstance(k, bool) or not isinstance(k, Integral) or not 1 <= k <= n_classes:
        raise ValueError(
            f"k must be an integer from 1 to n_classes={n_classes}. Received: k={k!r}."
        )
    return int(k)
