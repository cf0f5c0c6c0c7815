"""What is in force while a fit or a prediction runs on the active backend.

``make_trainer`` gives the backend's trainer for one fit; ``distributed``
and ``precision`` put a distribution and a float type in force for its
duration; ``accelerator`` says what the backend computes on.
"""

import contextlib
import threading

import keras

from skce._engine._backend import active


def make_trainer(model, optimizer, loss, data, batch_size, architecture_key=None):
    """Return the active backend's trainer for one fit.

    ``data`` is ``(x, y, w, keys)``: inputs, class indices, sample weights and
    the per-sample keys that skce's dropout draws its masks from.
    ``architecture_key`` is a hashable description of the network that lets
    fits of the same architecture reuse compiled code (None: derive one from
    the model's config).
    """
    return active().trainer(model, optimizer, loss, data, batch_size, architecture_key)


@contextlib.contextmanager
def distributed(distribution):
    """Train data-parallel under ``distribution`` for the duration.

    ``None`` leaves what is in force (the trainers honour it);
    ``"data_parallel"`` stands for every device of the host.
    """
    if distribution is None:
        yield
        return
    backend = active()
    if not backend.trains_data_parallel:
        raise ValueError(
            f"skce trains data-parallel on the tensorflow and jax backends. "
            f"Received: distribution={distribution!r} with KERAS_BACKEND="
            f"{keras.backend.backend()!r}. Use distribution=None."
        )
    if isinstance(distribution, str):
        distribution = backend.data_parallel()
    else:
        backend.check_distribution(distribution)
    with distribution.scope():
        yield


def accelerator():
    """``"gpu"`` or ``"tpu"`` when the backend computes on one, else None."""
    return active().accelerator()


# Building a model reads Keras's global float type; fits in several threads
# take turns setting it, so none of them leaves another's value behind.
_GLOBAL_DTYPE_LOCK = threading.RLock()


def precision(dtype: str, *, build: bool = True):
    """Run models in ``dtype`` (a float type or mixed policy); with ``build``,
    also build them in it.

    ``build=True`` sets Keras's global float type and dtype policy for the
    duration (under a lock) and restores them after, and puts the backend's
    ``random_scope`` in force, so a fit draws what the backend's current
    versions draw. Inference passes
    ``build=False`` and touches no global setting. A backend with
    ``scoped_float64`` (JAX: x64 mode, scoped to the calling thread) gets its
    scope for float64.
    """
    # Set the backend up before any model exists: it configures the
    # backend's thread pools, which is possible only before they start.
    backend = active()
    if build:
        return _building(backend, dtype)
    # Without a generator or an exit stack: inference runs this per call.
    if backend.scoped_float64 and dtype == "float64":
        return backend.float64_scope()
    return contextlib.nullcontext()


@contextlib.contextmanager
def _building(backend, dtype: str):
    """``precision(dtype)`` with ``build=True``."""
    with contextlib.ExitStack() as stack:
        stack.enter_context(backend.random_scope())
        if backend.scoped_float64 and dtype == "float64":
            stack.enter_context(backend.float64_scope())
        stack.enter_context(_GLOBAL_DTYPE_LOCK)
        floatx, policy = keras.config.floatx(), keras.config.dtype_policy()
        # A mixed policy keeps float32 variables (Keras's floatx).
        keras.config.set_floatx("float32" if dtype.startswith("mixed") else dtype)
        keras.config.set_dtype_policy(dtype)
        stack.callback(keras.config.set_dtype_policy, policy)
        stack.callback(keras.config.set_floatx, floatx)
        yield
