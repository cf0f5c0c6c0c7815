"""The callbacks of a fit: the user's, copied, and skce's stopping and annealing."""

import copy
import warnings

import keras
from sklearn.exceptions import ConvergenceWarning

from skce import _engine


def check_callbacks(callbacks) -> None:
    """Reject a ``callbacks`` entry that is not a Keras callback instance."""
    for callback in callbacks or ():
        if not isinstance(callback, keras.callbacks.Callback):
            raise TypeError(
                "callbacks must hold keras.callbacks.Callback instances (for a "
                f"class, pass an instance: History(), not History); {callback!r} "
                f"is not one. Received: callbacks={callbacks!r}."
            )


def fit_callbacks(estimator, plan, schedule, has_validation: bool) -> list:
    """Per-fit copies of the user's callbacks, then skce's own.

    ``CosineAnnealing`` comes first when the schedule anneals; the
    ``MLPClassifier`` stopping rule comes last, except in ``partial_fit`` and
    in an annealed schedule without ``early_stopping`` (stopping on the
    training loss would cut the annealing short).
    """
    callbacks = [_copy_callback(cb) for cb in (estimator.callbacks or ())]
    stops = not schedule.anneal or estimator.early_stopping
    if stops and not plan.partial and estimator.n_iter_no_change is not None:
        validated = estimator.early_stopping and has_validation
        callbacks.append(
            _engine.ConvergenceStopping(
                monitor="val_loss" if validated else "loss",
                tol=float(estimator.tol),
                n_iter_no_change=int(estimator.n_iter_no_change),
                restore_best=bool(estimator.early_stopping),
            )
        )
    if schedule.anneal:
        callbacks.insert(0, _engine.CosineAnnealing(schedule.epochs))
    return callbacks


def warn_if_not_converged(estimator, callbacks, n_iter: int) -> None:
    """``MLPClassifier``'s ``ConvergenceWarning`` when ``epochs`` ran out first.

    ``epochs="auto"`` ends by design when its schedule has annealed.
    """
    stopping = [c for c in callbacks if isinstance(c, _engine.ConvergenceStopping)]
    if stopping and not stopping[0].converged and n_iter == estimator.epochs:
        warnings.warn(
            f"{type(estimator).__name__}: the maximum of epochs={estimator.epochs} "
            "was reached before the loss converged (improved by less than "
            f"tol={estimator.tol} for n_iter_no_change={estimator.n_iter_no_change} "
            "epochs). Raise epochs, or set n_iter_no_change=None to train "
            "exactly `epochs` epochs without this warning.",
            ConvergenceWarning,
            stacklevel=7,
        )


def _copy_callback(callback):
    """A per-fit copy of a user's callback, told how skce's metrics move.

    skce logs ``accuracy`` (and ``val_accuracy``) without compiling a Keras
    metric of that name, so a callback in ``mode="auto"`` could not tell that
    higher is better. Keras would know it from the compiled metric; skce says
    so on its own copy.
    """
    callback = copy.copy(callback)
    monitor = getattr(callback, "monitor", None)
    if (
        getattr(callback, "mode", None) == "auto"
        and isinstance(monitor, str)
        and monitor.removeprefix("val_") in ("accuracy", "acc")
    ):
        callback.mode = "max"
    return callback
