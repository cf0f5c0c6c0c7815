"""What every backend trainer shares."""


class Trainer:
    """Holds one fit's model, optimizer, loss and on-device training data.

    A trainer is a context manager: leaving it calls ``close``. Subclasses
    implement ``run_epoch(perm)`` (a whole epoch in one compiled call
    where the backend allows) and ``run_batch(idx)`` (one step, for callbacks
    that need batch hooks). Both return ``[loss * weight_sum, weight_sum,
    weighted_correct]`` summed over the steps they ran.
    """

    def __init__(self, model, optimizer, loss, data, batch_size, architecture_key):
        self.model = model
        self.optimizer = optimizer
        self.loss = loss
        self.n_samples = int(data[0].shape[0])
        self.batch_size = int(min(batch_size, self.n_samples))

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
