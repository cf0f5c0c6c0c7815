"""Every workaround for Keras, TensorFlow or JAX internals and versions, in one place.

Each reaches past a public API because none exists for what skce needs, or
makes an old version behave as the current ones do; each says which versions
it targets (the range skce declares and tests: Keras 3.6 to 3.15, TensorFlow
2.16 to 2.21, JAX 0.4.30 to 0.10), and is guarded by a test in
``tests/engine/test_fixes.py`` that fails loudly when its assumption changes.
"""

import contextlib
import random
import types

import keras
from keras import tree


@contextlib.contextmanager
def python_random(seed: int):
    """Seed the Python random draws of a model build, for the build only.

    Keras draws the seeds of unseeded initializers and dropout layers from
    Python's ``random`` module. Another thread drawing from it meanwhile (a
    dask worker's event loop does) would shift them, so during the build
    Keras draws from a private ``random.Random(seed)`` instead. Keras has no
    public switch for this: the module reference its seed generator reads,
    ``keras.src.random.seed_generator.python_random`` (Keras 3.6 to 3.15), is
    swapped here. ``random`` itself is seeded too (and restored after), for
    builders that draw from it directly.
    """
    from keras.src.random import seed_generator

    state = random.getstate()
    keras_random = seed_generator.python_random
    random.seed(seed)
    seed_generator.python_random = random.Random(seed)
    try:
        yield
    finally:
        seed_generator.python_random = keras_random
        random.setstate(state)


#: The first JAX whose threefry random bits are "partitionable" by default.
PARTITIONABLE_DRAWS_SINCE = (0, 5)


def current_jax_draws(jax_version: tuple):
    """What makes JAX draw, at ``jax_version``, the bits its current versions draw.

    JAX 0.5 turned ``jax_threefry_partitionable`` on by default, which changed
    the bits every key draws. Before it (JAX 0.4.30 is the oldest skce allows)
    one ``random_state`` would give Keras's initializers and dropout layers
    other draws than at current JAX: another initial network, and another
    model. With the setting on, JAX 0.4.30 draws what JAX 0.5 to 0.10 draw.
    It is scoped to the calling thread; JAX keys compiled code by it.
    """
    if jax_version >= PARTITIONABLE_DRAWS_SINCE:
        return contextlib.nullcontext()
    import jax

    return jax.threefry_partitionable(True)


def update_without_merge_call(optimizer):
    """Route skce's own optimizer around tf.distribute's merge call for one fit.

    Keras's TensorFlow optimizer (``keras.src.backend.tensorflow.optimizer.
    TFOptimizer``, Keras 3.6 to 3.15) sends each update through
    tf.distribute's merge call, which keeps every graph it ran in alive:
    about 4 MiB per fit, without bound over a hyperparameter search. With no
    distribution strategy in force the backend-neutral per-variable update of
    Keras's base optimizer (``BaseOptimizer._backend_update_step``) is the same
    arithmetic. Keras has no public switch for this, so the private method is
    replaced on the optimizer skce built for this fit only, and put back when
    the fit ends. The caller checks that no strategy is in force. Returns the
    function that undoes it.
    """
    from keras.src.backend.tensorflow.optimizer import TFOptimizer
    from keras.src.optimizers.base_optimizer import BaseOptimizer

    # A loss-scaling optimizer updates through the optimizer it wraps. An
    # optimizer with an update of its own (Nadam's also advances a product
    # of momentum factors, then calls TensorFlow's) keeps its own.
    patched = [
        o
        for o in (optimizer, getattr(optimizer, "inner_optimizer", None))
        if o is not None and update_owner(type(o)) is TFOptimizer
    ]
    for o in patched:
        o._backend_update_step = types.MethodType(BaseOptimizer._backend_update_step, o)

    def undo():
        for o in patched:
            o.__dict__.pop("_backend_update_step", None)

    return undo


def update_owner(cls):
    """The class whose ``_backend_update_step`` an optimizer class runs."""
    return next((k for k in cls.__mro__ if "_backend_update_step" in vars(k)), None)


def clone_model(model, clone_function=None):
    """``keras.models.clone_model(model)`` that keeps its sparse inputs sparse.

    Keras (3.6 to 3.15) clones a functional model onto new ``Input``s made
    from each input's shape, dtype and name only: a ``sparse=True`` input
    comes back dense, and the copy then densifies every sparse batch before
    its first layer. Such a model is cloned onto inputs made like its own
    (``clone_model``'s public ``input_tensors``). The layers of a Sequential
    or functional model are made by ``clone_function`` where one is given;
    Keras takes none for a subclassed model, which is cloned as Keras clones
    it.
    """
    inputs = getattr(model, "inputs", None) or []
    sequential = isinstance(model, keras.Sequential)
    layers = {}
    if clone_function is not None and (sequential or inputs):
        layers["clone_function"] = clone_function
    if sequential or not any(t.sparse for t in inputs):
        return keras.models.clone_model(model, **layers)
    copies = tree.map_structure(
        lambda t: keras.Input(
            batch_shape=t.shape, dtype=t.dtype, sparse=t.sparse, name=t.name
        ),
        model.input,
    )
    return keras.models.clone_model(model, input_tensors=copies, **layers)
