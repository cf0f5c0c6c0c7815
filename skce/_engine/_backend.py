"""The contract between the engine and a Keras backend, and the active backend.

Each backend module (``_tensorflow``, ``_jax``, ``_torch``) subclasses
``Backend``: it names its trainer and inference functions and declares what
it can do. Shared code asks a declared capability, never a backend's name.
A new backend is one more module with one more subclass, listed in
``_BACKENDS``.
"""

import contextlib
import importlib
import threading

import keras

# Backend name -> (module, class). Modules are imported on first use, so only
# the active backend's library is ever loaded.
_BACKENDS = {
    "tensorflow": ("skce._engine._tensorflow", "TensorFlowBackend"),
    "jax": ("skce._engine._jax", "JaxBackend"),
    "torch": ("skce._engine._torch", "TorchBackend"),
}
_ACTIVE = {}
_ACTIVE_LOCK = threading.Lock()


class Backend:
    """What the engine needs of a backend; subclasses fill it in.

    Capabilities (class attributes, all False here):

    - ``shares_forward``: ``compile_forward(None, fn)`` returns a function any
      model of one architecture runs, its weights passed as arguments.
    - ``trains_data_parallel``: ``data_parallel()`` and
      ``check_distribution()`` are implemented.
    - ``pads_inference``: compiled inference specialises on input shapes, so
      the last chunk is padded to a power of two.
    - ``fused_crossentropy``: Keras's crossentropy of logits is the backend's
      own fused kernel, faster than skce's formula at each label's entry
      for mini-batches of few logits, and ``crossentropy_of_logits()`` is
      implemented for the others.
    - ``scoped_float64``: float64 needs ``float64_scope()`` around the work.
    - ``sparse_tensors``: Keras networks take the backend's sparse tensors
      (``keras.Input(sparse=True)``); else sparse X is densified per batch.
    - ``host_inference``: ``host_reader()`` is implemented, so small
      predictions of plain dense networks may run in NumPy (``_host.py``).
    """

    name = ""
    shares_forward = False
    trains_data_parallel = False
    pads_inference = False
    fused_crossentropy = False
    scoped_float64 = False
    sparse_tensors = False
    host_inference = False
    #: The ``_trainer.Trainer`` subclass that runs one fit's epochs.
    trainer = None

    def configure(self) -> None:
        """Set the backend up once, before its first model (thread pools)."""

    def crossentropy_of_logits(self, y, out):
        """The crossentropy of logits ``out`` at labels ``y``, shaped like
        ``y``, where the fused kernel is slower (``fused_crossentropy``)."""
        raise NotImplementedError

    def accelerator(self):
        """``"gpu"`` or ``"tpu"`` when the backend computes on one, else None."""
        raise NotImplementedError

    def compile_forward(self, model, fn):
        """Compile ``fn(model(x), *extra)`` for inference (``model=None``: shared)."""
        raise NotImplementedError

    def call_forward(self, model, compiled, x, *extra):
        """Run ``compiled`` on one chunk and return a NumPy array."""
        raise NotImplementedError

    def host_reader(self, variables):
        """A function of no arguments that returns the current values of Keras
        ``variables`` as NumPy arrays, cheaply (see ``host_inference``), or
        None where they cannot be read so."""
        raise NotImplementedError

    def data_parallel(self):
        """The distribution over every device of the host."""
        raise NotImplementedError

    def check_distribution(self, distribution) -> None:
        """Raise unless skce can train under ``distribution``."""
        raise NotImplementedError

    def random_scope(self):
        """What makes the backend's random draws those of its current versions.

        A fit runs in it, so one seed draws the same initial weights and
        dropout masks at every backend version skce allows.
        """
        return contextlib.nullcontext()

    def float64_scope(self):
        """What float64 computation needs in force (see ``scoped_float64``)."""
        return contextlib.nullcontext()

    def optimizer_scope(self, optimizer):
        """What ``optimizer.build`` runs in (where its slots are made)."""
        return contextlib.nullcontext()


def active() -> Backend:
    """The configured ``Backend`` of Keras's active backend."""
    name = keras.backend.backend()
    backend = _ACTIVE.get(name)
    if backend is not None:
        return backend
    if name not in _BACKENDS:
        raise RuntimeError(
            f"skce supports the tensorflow, jax and torch Keras backends. "
            f"Received: KERAS_BACKEND={name!r}."
        )
    with _ACTIVE_LOCK:
        if name not in _ACTIVE:
            module, cls = _BACKENDS[name]
            backend = getattr(importlib.import_module(module), cls)()
            backend.configure()
            _ACTIVE[name] = backend
    return _ACTIVE[name]
