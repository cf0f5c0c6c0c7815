"""PyTorch trainer: eager steps, the way Keras's own PyTorch trainer runs."""

import numpy as np
import torch
from keras import ops

from skce._engine._backend import Backend
from skce._engine._keys import sample_keys
from skce._engine._sparse import SparseRows
from skce._engine._trainer import Trainer, scale_loss


class TorchTrainer(Trainer):
    """Step through the mini-batches eagerly; data stays on the device.

    Keras on PyTorch has no sparse tensors: sparse X stays on the host as CSR
    and each mini-batch is densified on its own.
    """

    def to_device(self, arrays):
        return tuple(
            a if isinstance(a, SparseRows) else ops.convert_to_tensor(a) for a in arrays
        )

    def batch_on(self, data, idx):
        x, y, w, k = data
        model = self.model
        idx = torch.as_tensor(idx, dtype=torch.long, device=y.device)
        if isinstance(x, SparseRows):
            rows = x[idx.cpu().numpy()].toarray()
            xb = ops.convert_to_tensor(rows)
        else:
            xb = x[idx]
        variables = model.trainable_variables
        with sample_keys(k[idx]):
            out = model(xb, training=True)
        loss, weight_sum, correct = self.loss(
            y[idx], out, w[idx], variables, model.losses
        )
        model.zero_grad()
        scale_loss(self.optimizer, loss).backward()
        grads = [v.value.grad for v in variables]
        with torch.no_grad():
            self.optimizer.apply(grads, variables)
        totals = self.loss.totals(loss.detach(), weight_sum, correct)
        return totals.detach().cpu().numpy()

    def epoch_on(self, data, perm):
        return sum(self.batch_on(data, idx) for idx in self.batches(perm))


def accelerator():
    return "gpu" if torch.cuda.is_available() else None


#: Keras networks on PyTorch take dense input only.


def compile_forward(model, fn):
    def forward(x, *extra):
        with torch.no_grad():
            return fn(model(x, training=False), *extra)

    return forward


def call_forward(model, compiled, x, *extra):
    if isinstance(x, SparseRows):
        x = x.toarray()
    return np.asarray(ops.convert_to_numpy(compiled(ops.convert_to_tensor(x), *extra)))


class TorchBackend(Backend):
    """PyTorch: eager steps, per-model inference, no data parallelism."""

    name = "torch"
    trainer = TorchTrainer
    accelerator = staticmethod(accelerator)
    compile_forward = staticmethod(compile_forward)
    call_forward = staticmethod(call_forward)
