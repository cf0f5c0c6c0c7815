"""Small predictions of a plain dense network, computed in NumPy on the host.

A compiled inference call has a fixed cost whatever its rows: on a 2-core
CPU about 0.2 ms for TensorFlow to run a traced function, 0.1 ms for JAX to
dispatch one, more than a few rows take through a small dense network. For
a network that is a chain of ``Dense`` layers with MLPClassifier's
activations (and Keras's or skce's dropout, which inference skips), all in
the model's float32 or float64, on the CPU and with weights the backend can
read plainly (not a ``tf.distribute`` strategy's mirrored ones), requests
of up to ``HOST_ROWS`` rows and ``HOST_MACS`` multiply-adds run in NumPy
from the weights the backend holds, read at every call, as
``MLPClassifier`` predicts. Probabilities equal the compiled
path's up to float rounding (the two sum in another order), so a label can
differ only where two classes tie to within rounding.
"""

import weakref

import keras
import numpy as np

from skce._engine._backend import active
from skce._engine._stream import HostRows

#: Rows up to which a request may run in NumPy: the few rows of online
#: scoring. Larger requests spread the compiled call's cost over their rows.
HOST_ROWS = 64
#: Multiply-adds (rows times weights) up to which a request runs in NumPy:
#: about what a compiled call's fixed cost would compute on a CPU core.
HOST_MACS = 1 << 21


def _relu(z):
    return np.maximum(z, 0, out=z)


def _sigmoid(z):
    # 1 / (1 + exp(-z)) without overflow warnings for large negative z.
    return np.exp(-np.logaddexp(0, -z)).astype(z.dtype, copy=False)


def _linear(z):
    return z


#: Keras activation -> its NumPy form, for MLPClassifier's four activations.
_ACTIVATIONS = {
    keras.activations.relu: _relu,
    keras.activations.tanh: np.tanh,
    keras.activations.sigmoid: _sigmoid,
    keras.activations.linear: _linear,
}

_HOST_OUTPUTS = ("argmax", "proba", "log_proba")

_NETWORKS = weakref.WeakKeyDictionary()


class HostNetwork:
    """A chain of Dense layers, run in NumPy on the weights a backend holds.

    Built once per model; ``current()`` checks at each call that the layers
    are still what it was built for (a layer can be quantized, given LoRA
    weights or another activation after a first prediction).
    """

    def __init__(self, layers, read, dtype: str):
        self._layers = layers
        self._variables = _weights(layers)
        self._activations = [layer.activation for layer in layers]
        self._read = read
        self._steps = [
            (layer.use_bias, _ACTIVATIONS[layer.activation]) for layer in layers
        ]
        self.dtype = np.dtype(dtype)
        self.weights = sum(int(np.prod(v.shape)) for v in self._variables)

    def current(self) -> bool:
        """Whether the layers are still the plain ones this was built for."""
        return (
            all(_plain_dense(layer) for layer in self._layers)
            and [layer.activation for layer in self._layers] == self._activations
            and all(
                a is b
                for a, b in zip(_weights(self._layers), self._variables, strict=False)
            )
        )

    def __call__(self, kind: str, x: np.ndarray) -> np.ndarray:
        """The ``kind`` output ("argmax", "proba", "log_proba") for rows ``x``."""
        # IEEE arithmetic without warnings, as compiled code computes: huge
        # finite inputs may overflow to inf, as they would there.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return self._outputs(kind, x)

    def _outputs(self, kind: str, x: np.ndarray) -> np.ndarray:
        values = iter(self._read())
        z = x
        for use_bias, activation in self._steps:
            z = z @ next(values)
            if use_bias:
                z += next(values)
            z = activation(z)
        if kind == "argmax":
            return np.argmax(z, axis=-1)
        z -= z.max(axis=-1, keepdims=True)
        if kind == "log_proba":
            return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
        np.exp(z, out=z)
        return z / z.sum(axis=-1, keepdims=True)


def host_forward(model, kind: str, x):
    """``kind`` of ``model`` on ``x`` computed in NumPy, or None where it does
    not apply (another network, output, input, device or size)."""
    if kind not in _HOST_OUTPUTS or len(x) > HOST_ROWS or len(x.shape) != 2:
        return None
    if type(x) is not np.ndarray and not isinstance(x, HostRows):
        return None
    network = _NETWORKS.get(model)
    if network is None or (network and not network.current()):
        network = _host_network(model) or False
        _NETWORKS[model] = network
    if not network or x.dtype != network.dtype:
        return None
    if x.shape[0] * network.weights > HOST_MACS:
        return None
    # A few rows of a memory-mapped X are read: the same rows give the same
    # answers whether they come from a file or from memory.
    return network(kind, x[:] if isinstance(x, HostRows) else x)


def _host_network(model):
    """The ``HostNetwork`` of ``model``, or None unless it qualifies."""
    backend = active()
    if not backend.host_inference or backend.accelerator() is not None:
        return None
    # A subclassed model has no inputs or outputs to follow: not a chain.
    inputs = getattr(model, "inputs", None)
    outputs = getattr(model, "outputs", None)
    if not isinstance(model, keras.Model) or not inputs or not outputs:
        return None
    dtype = model.dtype_policy.name
    if len(inputs) != 1 or len(outputs) != 1 or dtype not in ("float32", "float64"):
        return None
    chain = [layer for layer in model.layers if not _skipped(layer)]
    if not chain or len(chain) + _count_skipped(model) != len(model.layers):
        return None
    if not all(_plain_dense(layer) for layer in chain):
        return None
    if any(layer.dtype_policy.name != dtype for layer in chain):
        return None
    if not _is_chain(model):
        return None
    # None where the backend cannot read the weights plainly (TensorFlow's
    # mirrored variables under a distribution strategy).
    read = backend.host_reader(_weights(chain))
    return None if read is None else HostNetwork(chain, read, dtype)


def _skipped(layer) -> bool:
    """Layers inference passes through: the input, Keras's own ``Dropout``,
    and a class that declares ``inference_identity`` itself (skce's dropout).
    Subclasses are not taken on trust: a Monte Carlo dropout overrides
    ``call`` to stay random at inference."""
    kind = type(layer)
    return kind in (keras.layers.InputLayer, keras.layers.Dropout) or vars(kind).get(
        "inference_identity", False
    )


def _count_skipped(model) -> int:
    return sum(_skipped(layer) for layer in model.layers)


def _plain_dense(layer) -> bool:
    return (
        type(layer) is keras.layers.Dense
        and layer.activation in _ACTIVATIONS
        and layer.dtype_policy.name in ("float32", "float64")
        and not getattr(layer, "lora_enabled", False)
        and getattr(layer, "quantization_mode", None) is None
    )


def _is_chain(model) -> bool:
    """Whether each layer takes the previous one's output, and the last is
    the model's output: no branch, skip or merge."""
    tensor = model.inputs[0]
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        if layer.input is not tensor:
            return False
        tensor = layer.output
    return tensor is model.outputs[0]


def _weights(layers) -> list:
    """The layers' kernels and biases, in the order a forward pass uses them."""
    return [
        v
        for layer in layers
        for v in ((layer.kernel, layer.bias) if layer.use_bias else (layer.kernel,))
    ]
