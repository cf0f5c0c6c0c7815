"""What every backend trainer shares."""

import contextlib
import inspect
import threading

import keras
import numpy as np

from skce._config import get_data_budget
from skce._engine._stream import Segments, gather, host_budget, segment_rows, streams

#: The Keras optimizers skce takes by name (see ``skce._optimizers.OPTIMIZERS``).
NAMED_OPTIMIZERS = (
    keras.optimizers.Adam,
    keras.optimizers.AdamW,
    keras.optimizers.SGD,
    keras.optimizers.RMSprop,
    keras.optimizers.Adagrad,
    keras.optimizers.Adadelta,
    keras.optimizers.Adamax,
    keras.optimizers.Nadam,
    keras.optimizers.Ftrl,
    keras.optimizers.Lion,
)


class Trainer:
    """Holds one fit's model, optimizer, loss and training data.

    The data goes to the device whole, or, when X is memory-mapped or larger
    than the data budget, in segments of whole mini-batches (see
    ``skce._engine._stream``). A trainer is a context manager: leaving it
    calls ``close``. Subclasses implement ``to_device(arrays)``,
    ``epoch_on(data, perm)`` (a whole epoch over device data in one compiled
    call where the backend allows) and ``batch_on(data, idx)`` (one step, for
    callbacks that need batch hooks). Both return ``[loss * weight_sum,
    weight_sum, weighted_correct]`` summed over the steps they ran.
    """

    def __init__(self, model, optimizer, loss, data, batch_size, architecture_key):
        self.model = model
        self.optimizer = optimizer
        self.loss = loss
        self.n_samples = int(data[0].shape[0])
        self.batch_size = int(min(batch_size, self.n_samples))
        budget = get_data_budget() or self.device_budget() or host_budget()
        self.streaming = streams(data[0], budget)
        self._host_data = data
        self._device_data = None
        if self.streaming:
            self._segment_rows = segment_rows(data, self.batch_size, budget)
        else:
            self._device_data = self.to_device(data)

    def device_budget(self):
        """A quarter of the accelerator's memory in bytes, or None on a CPU."""
        return None

    def run_epoch(self, perm):
        """Train one epoch in the order ``perm``; return its summed totals."""
        if not self.streaming:
            return self.epoch_on(self._device_data, perm)
        totals = 0.0
        for arrays in Segments(self._host_data, perm, self._segment_rows):
            order = np.arange(len(arrays[0]), dtype=np.int32)
            totals = totals + self.epoch_on(self.to_device(arrays), order)
        return totals

    def epochs_per_call(self) -> int:
        """How many epochs ``train_epochs`` may run in one call (1: no such call)."""
        return 1

    def train_epochs(self, perms, rule):
        """Train one epoch per row of ``perms`` in one call, stopping early.

        ``rule`` is the ``StopRule`` to apply after each epoch, as
        ``ConvergenceStopping`` would: the epoch after which it stops (or
        whose loss is not finite) is the last one run. Returns one row of
        totals per epoch run. Only trainers whose ``epochs_per_call`` exceeds
        1 implement it.
        """
        raise NotImplementedError

    def run_batch(self, idx):
        """Train one mini-batch, the rows ``idx``; return its totals."""
        if not self.streaming:
            return self.batch_on(self._device_data, idx)
        arrays = tuple(gather(a, idx) for a in self._host_data)
        order = np.arange(len(idx), dtype=np.int32)
        return self.batch_on(self.to_device(arrays), order)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def close(self):
        """Release what the trainer changed for the fit (nothing by default)."""

    def batches(self, perm):
        """Split a permutation into the epoch's mini-batch index arrays."""
        bs = self.batch_size
        return [perm[start : start + bs] for start in range(0, len(perm), bs)]

    def run_epoch_by_batch(self, perm, callbacks):
        """Run one epoch step by step, calling the batch hooks around each."""
        totals = 0.0
        for step, idx in enumerate(self.batches(perm)):
            callbacks.on_train_batch_begin(step)
            row = self.run_batch(idx)
            totals = totals + row
            callbacks.on_train_batch_end(step, logs_from_totals(row))
        return totals


def training_kwargs(model, training: bool) -> dict:
    """``training=`` for a model whose ``call`` takes it (stateless_call passes
    its keywords to ``call`` as they are, unlike ``__call__``)."""
    parameters = inspect.signature(model.call).parameters.values()
    if any(p.name == "training" or p.kind is p.VAR_KEYWORD for p in parameters):
        return {"training": training}
    return {}


class SharedForward:
    """``fn(model(x), *extra)`` compiled with the model's weights as arguments.

    The model is looked up when tracing, in the calling thread, so one
    compiled function serves every model of the architecture it was traced
    for (each fold and candidate of a search predicts without compiling
    anew) and holds none of them: ``stateless_call`` reads the weights from
    the arguments. ``compile`` is the backend's jit or trace, ``to_tensor``
    its conversion of the input rows.
    """

    def __init__(self, fn, compile, to_tensor):
        self._local = threading.local()
        self._to_tensor = to_tensor

        def forward(trainable, non_trainable, x, *extra):
            model = self._local.model
            out, _ = model.stateless_call(
                trainable, non_trainable, x, **training_kwargs(model, False)
            )
            return fn(out, *extra)

        self._compiled = compile(forward)

    def __call__(self, model, x, *extra):
        args = (*weights(model), self._to_tensor(x), *extra)
        # try/finally rather than ``tracing``'s generator: this runs on every
        # call, where a one-row prediction counts microseconds.
        self._local.model = model
        try:
            return self._compiled(*args)
        finally:
            self._local.model = None

    @contextlib.contextmanager
    def tracing(self, model):
        """Trace on ``model`` should the compiled function trace in this block."""
        self._local.model = model
        try:
            yield
        finally:
            self._local.model = None


def weights(model) -> tuple:
    """A model's trainable and non-trainable weights, as ``stateless_call``
    takes them."""
    return (
        [v.value for v in model.trainable_variables],
        [v.value for v in model.non_trainable_variables],
    )


def scale_loss(optimizer, loss):
    """The loss to differentiate: scaled when the optimizer scales losses."""
    scale = getattr(optimizer, "scale_loss", None)
    return loss if scale is None else scale(loss)


def logs_from_totals(totals):
    """Turn summed step results into Keras-style epoch logs."""
    loss_sum, weight_sum, correct = (float(t) for t in totals)
    if weight_sum <= 0:
        return {"loss": 0.0, "accuracy": 0.0}
    return {"loss": loss_sum / weight_sum, "accuracy": correct / weight_sum}


def check_distribution(distribution, expected: type, name: str) -> None:
    """Raise unless ``distribution`` is an ``expected`` (named ``name``)."""
    if not isinstance(distribution, expected):
        raise ValueError(
            f"skce trains data-parallel under a {name} on this backend. "
            f"Received: distribution={distribution!r}. Pass "
            f"distribution='data_parallel' or a {name}."
        )
