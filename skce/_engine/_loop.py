"""The epoch loop: shuffling, validation, callbacks and divergence checks."""

import math
from collections import defaultdict
from typing import NamedTuple

import keras
import numpy as np

from skce._engine._trainer import logs_from_totals

_BATCH_HOOKS = (
    "on_batch_begin",
    "on_batch_end",
    "on_train_batch_begin",
    "on_train_batch_end",
)


class StopRule(NamedTuple):
    """``ConvergenceStopping``'s state and settings, for a trainer that applies
    the rule itself between the epochs of one call (see ``train_epochs``).

    After an epoch of loss ``loss``: ``count`` becomes ``count + 1`` when
    ``loss > best - tol``, else 0; ``best`` becomes ``loss`` when lower;
    training stops when ``count > limit``.
    """

    best: float = math.inf
    count: int = 0
    tol: float = 0.0
    limit: int = 2**31 - 1  # no stopping


class ConvergenceStopping(keras.callbacks.Callback):
    """Stop once the monitored loss stops improving, as ``MLPClassifier`` does.

    An epoch counts as no improvement when its loss is not below the best so
    far by at least ``tol``; training stops after more than
    ``n_iter_no_change`` such epochs in a row. With ``restore_best``, the
    weights of the best epoch are put back when training ends.
    """

    def __init__(self, monitor, tol, n_iter_no_change, restore_best):
        super().__init__()
        self.monitor = monitor
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.restore_best = restore_best
        self.best = math.inf
        self.no_improvement = 0
        self.converged = False
        self._best_weights = None

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {})[self.monitor]
        if value > self.best - self.tol:
            self.no_improvement += 1
        else:
            self.no_improvement = 0
        if value < self.best:
            self.best = value
            if self.restore_best:
                self._best_weights = self.model.get_weights()
        if self.no_improvement > self.n_iter_no_change:
            self.converged = True
            self.model.stop_training = True

    def rule(self) -> StopRule:
        """The rule as it stands, for a trainer to apply between epochs."""
        return StopRule(self.best, self.no_improvement, self.tol, self.n_iter_no_change)

    def on_train_end(self, logs=None):
        if self.restore_best and self._best_weights is not None:
            # Integer variables count training progress (skce's dropout step),
            # they are not learned: rewinding them would make a later warm
            # start replay the masks of the steps after the best epoch.
            for variable, value in zip(
                self.model.weights, self._best_weights, strict=True
            ):
                if "int" not in str(variable.dtype):
                    variable.assign(value)


class CosineAnnealing(keras.callbacks.Callback):
    """Anneal the learning rate epoch by epoch along a cosine to near zero.

    Epoch ``e`` of ``epochs`` trains at ``0.5 * (1 + cos(pi * e / epochs))``
    times the optimizer's learning rate at the start of training, which is put
    back when training ends. A callback that sets the learning rate itself
    (placed after this one) has the last word.
    """

    def __init__(self, epochs):
        super().__init__()
        self.epochs = epochs
        self.initial = None

    def on_train_begin(self, logs=None):
        rate = self.model.optimizer.learning_rate
        self.initial = float(rate)

    def on_epoch_begin(self, epoch, logs=None):
        factor = 0.5 * (1.0 + math.cos(math.pi * epoch / self.epochs))
        self.model.optimizer.learning_rate = self.initial * factor

    def on_train_end(self, logs=None):
        self.model.optimizer.learning_rate = self.initial


def needs_batch_hooks(callbacks) -> bool:
    """Whether any callback overrides a per-batch hook."""
    base = keras.callbacks.Callback
    return any(
        getattr(type(cb), hook) is not getattr(base, hook)
        for cb in callbacks
        for hook in _BATCH_HOOKS
    )


def run_epochs(
    trainer,
    *,
    epochs,
    shuffle,
    rng,
    callbacks,
    verbose,
    evaluate=None,
):
    """Train for up to ``epochs`` epochs and return ``(history, n_epochs_run)``.

    ``evaluate`` is an optional function returning the validation logs
    (``val_loss``, ``val_accuracy``) after each epoch. Training stops early when
    a callback sets ``model.stop_training``. A non-finite loss raises
    ``FloatingPointError`` at the end of the epoch where it appeared.
    Short epochs may run several per call (see ``_epochs_per_call``).
    """
    model = trainer.model
    by_batch = needs_batch_hooks(callbacks)
    n_steps = math.ceil(trainer.n_samples / trainer.batch_size)
    _announce_steps(by_batch, verbose)
    stride = _epochs_per_call(trainer, callbacks, by_batch, verbose, evaluate)
    hooks = keras.callbacks.CallbackList(
        list(callbacks),
        add_history=False,
        add_progbar=bool(verbose),
        model=model,
        verbose=verbose,
        epochs=epochs,
        steps=n_steps,
    )
    draw = _shuffler(rng, trainer.n_samples, shuffle)
    model.stop_training = False
    history = defaultdict(list)
    hooks.on_train_begin()
    logs = {}
    epoch = 0
    while epoch < epochs:
        rows = None
        if stride > 1:
            perms = np.stack([draw() for _ in range(min(stride, epochs - epoch))])
            rows = trainer.train_epochs(perms, _rule(callbacks))
        for i in range(1 if rows is None else len(rows)):
            hooks.on_epoch_begin(epoch)
            if rows is None:
                totals = _train_epoch(trainer, draw(), by_batch, hooks)
            else:
                totals = rows[i]
            logs = _end_epoch(hooks, epoch, totals, evaluate, history)
            epoch += 1
            if model.stop_training:
                break
        if rows is not None:
            _check_agreement(model.stop_training, epoch, len(rows), i, len(perms))
        if model.stop_training:
            break
    hooks.on_train_end(logs)
    return dict(history), epoch


def _announce_steps(by_batch, verbose) -> None:
    if by_batch and verbose:
        print(
            "skce: a callback uses batch hooks, so epochs run step by step "
            "instead of as one compiled call."
        )


def _shuffler(rng, n_samples, shuffle):
    """A function drawing each epoch's order of the rows."""

    def draw():
        if shuffle:
            return rng.permutation(n_samples).astype(np.int32)
        return np.arange(n_samples, dtype=np.int32)

    return draw


def _end_epoch(hooks, epoch, totals, evaluate, history) -> dict:
    """An epoch's logs from its totals (and validation), told to the callbacks
    and added to ``history``."""
    logs = _checked_logs(totals, epoch)
    if evaluate is not None:
        logs.update(evaluate())
    hooks.on_epoch_end(epoch, logs)
    for name, value in logs.items():
        history[name].append(float(value))
    return logs


def _check_agreement(stopped, epoch, n_run, last, n_drawn) -> None:
    """Raise unless a call stopped exactly where the callbacks did.

    ``n_run`` of ``n_drawn`` epochs ran; the callbacks saw epochs up to index
    ``last`` of them and ``stopped`` says whether they stopped training.
    """
    ran_past = stopped and last + 1 < n_run
    stopped_short = not stopped and n_run < n_drawn
    if ran_past or stopped_short:
        raise RuntimeError(
            f"skce's trainer ran {n_run} of {n_drawn} epochs in one call, but "
            f"its callbacks {'stopped' if stopped else 'did not stop'} training "
            f"at epoch {epoch}; please report this."
        )


def _epochs_per_call(trainer, callbacks, by_batch, verbose, evaluate) -> int:
    """How many epochs one call of the trainer may run.

    When nothing needs to see an epoch as it ends (no progress bar, no
    validation, no callback but the training-loss stopping rule), a trainer
    that can runs several epochs per call (``epochs_per_call``), applying the
    rule between them itself; the callbacks then see those epochs' logs
    afterwards, in order. The shuffles are drawn the same way either way, and
    draws for epochs a call did not run are discarded.
    """
    if by_batch or verbose or evaluate is not None:
        return 1
    if not all(
        type(c) is ConvergenceStopping and c.monitor == "loss" and not c.restore_best
        for c in callbacks
    ):
        return 1
    return trainer.epochs_per_call()


def _rule(callbacks) -> StopRule:
    """The stopping rule in force: the callback's, or one that never stops."""
    for callback in callbacks:
        return callback.rule()
    return StopRule()


def _train_epoch(trainer, perm, by_batch, hooks):
    """Train one epoch over ``perm``; its summed totals."""
    if by_batch:
        return trainer.run_epoch_by_batch(perm, hooks)
    return trainer.run_epoch(perm)


def _checked_logs(totals, epoch) -> dict:
    """An epoch's ``loss`` and ``accuracy`` from its totals.

    Raises ``FloatingPointError`` when the loss is no longer finite.
    """
    logs = logs_from_totals(totals)
    if not math.isfinite(logs["loss"]):
        raise FloatingPointError(
            f"The training loss became {logs['loss']} in epoch {epoch + 1}; "
            "training diverged. Scale the inputs (for example with "
            "StandardScaler) or lower learning_rate."
        )
    return logs
