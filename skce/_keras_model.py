"""The Keras model of a fit: building it, copying a user's, reading what it is.

Everything skce needs to know about a network it did not write (its output
shape, whether it emits logits, which weights are kernels, its float type)
is worked out here, from Keras's public model API.
"""

import inspect

import keras
import numpy as np

from skce import _engine
from skce._layers import SampleKeyedDropout


def call_builder(build, meta: dict, seed: int):
    """Call a user's model-building function with what its signature asks for.

    ``meta`` is passed whole to a parameter named ``meta``; its entries are
    passed to parameters of the same name (``n_features_in_``, ``n_classes_``,
    ``classes_``, ``n_outputs_``, ``input_shape``, ``vocabulary_size_``,
    ``X_dtype_``, ``X_sparse_``); ``seed`` gets an int derived from
    ``random_state``;
    ``**kwargs`` receives every entry of ``meta``.
    """
    available = {**meta, "meta": meta, "seed": seed}
    params = inspect.signature(build).parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return build(**{k: v for k, v in available.items() if k != "meta"})
    kwargs = {}
    for p in params:
        if p.name in available:
            kwargs[p.name] = available[p.name]
        elif p.default is p.empty and p.kind is not p.VAR_POSITIONAL:
            raise TypeError(
                f"The model-building function asks for {p.name!r}, which skce "
                f"cannot supply. It can ask for any of {sorted(available)}; bind "
                "other arguments with functools.partial."
            )
    return build(**kwargs)


def declares_per_position(model) -> bool:
    """Whether ``model`` says it outputs one prediction per label position.

    The ``multi_output`` tag promises scikit-learn that any 2-D ``y`` trains,
    so it is set only where the model says so: skce's default model, a model
    instance whose output is ``(batch, T, n_classes)``, or a builder that names
    ``n_outputs_`` in its signature (and so can shape its output by it). Other
    builders and subclassed models may still take per-position labels; fit
    checks the output they build.
    """
    if model is None:
        return True
    if isinstance(model, keras.Model):
        outputs = getattr(model, "outputs", None) or []
        return len(outputs) == 1 and len(outputs[0].shape) == 3
    return "n_outputs_" in inspect.signature(model).parameters


def build_on(model, input_shape) -> None:
    """Create an unbuilt model's weights for inputs of ``input_shape``."""
    if model.built:
        return
    if type(model).build is keras.Model.build:
        # A subclassed model without its own build() creates its layers'
        # weights when first called: call it on one row of zeros.
        model(keras.ops.zeros((1, *input_shape), dtype=model.compute_dtype))
    else:
        model.build((None, *input_shape))


def _check_input_shape(model, input_shape) -> None:
    """Reject X whose samples are not the shape the model's input declares."""
    inputs = getattr(model, "inputs", None) or []
    if len(inputs) != 1:
        return
    declared = tuple(inputs[0].shape[1:])
    if len(declared) != len(input_shape) or any(
        d is not None and d != n for d, n in zip(declared, input_shape, strict=True)
    ):
        raise ValueError(
            f"X holds samples of shape {tuple(input_shape)}, but the Keras model "
            f"takes inputs of shape {declared} (None: any size). Pass X shaped "
            "as the model's input, or a model built for X's shape."
        )


def copy_model(model, input_shape):
    """A copy of a user's model instance, with its current weights.

    Each fresh fit trains its own copy, so the instance (and every candidate
    of a search that shares it) keeps its weights: a pretrained model is
    fine-tuned from where it stands, never changed behind the user's back.
    """
    _check_input_shape(model, input_shape)
    build_on(model, input_shape)
    try:
        copied = _engine.clone_model(model)
    except Exception as error:
        raise TypeError(
            "skce could not copy the given Keras model to train it "
            f"({type(error).__name__}: {error}). A subclassed model needs "
            "get_config() and registration with "
            "keras.saving.register_keras_serializable; or pass a function that "
            "builds the model instead of an instance."
        ) from error
    build_on(copied, input_shape)
    copied.set_weights(model.get_weights())
    return copied


def emits_logits(model) -> bool:
    """Whether the model's last layer emits logits rather than softmax output."""
    last = model.layers[-1] if model.layers else None
    if isinstance(last, keras.layers.Softmax):
        return False
    activation = getattr(last, "activation", None)
    return getattr(activation, "__name__", None) != "softmax"


def kernel_index(model) -> tuple:
    return tuple(
        i for i, v in enumerate(model.trainable_variables) if v.name == "kernel"
    )


def check_output(model, meta: dict) -> None:
    """Reject a model whose output is not one tensor of the labels' shape.

    That is ``(batch, n_classes)`` for one label per sample and ``(batch,
    n_outputs, n_classes)`` for per-position labels (the length may be None).
    """
    n_classes, n_outputs = meta["n_classes_"], meta["n_outputs_"]
    shapes = _output_shapes(model, meta["input_shape"])
    expected = "(batch, n_classes)" if n_outputs == 1 else "(batch, T, n_classes)"
    if len(shapes) != 1:
        raise ValueError(
            f"The Keras model has {len(shapes)} outputs, of shapes {shapes}; "
            f"skce trains a model with one output of shape {expected}. "
            "Build a model with a single output, e.g. keras.Model(inputs, "
            "outputs[0])."
        )
    shape = shapes[0]
    if n_outputs == 1:
        if shape is None or len(shape) != 2 or shape[-1] != n_classes:
            raise ValueError(
                f"The Keras model must output shape (batch, n_classes) = (None, "
                f"{n_classes}). Received: output shape {shape}. End the model "
                "with Dense(n_classes) (logits) or Dense(n_classes, "
                "activation='softmax')."
            )
    elif (
        shape is None
        or len(shape) != 3
        or shape[1] not in (None, n_outputs)
        or shape[-1] != n_classes
    ):
        raise ValueError(
            f"y holds {n_outputs} labels per sample, so the Keras model must "
            f"output shape (batch, T, n_classes) = (None, {n_outputs}, "
            f"{n_classes}). Received: output shape {shape}. End a sequence "
            "model with Dense(n_classes) on its per-timestep outputs (e.g. "
            "LSTM(..., return_sequences=True))."
        )


def _output_shapes(model, input_shape) -> list:
    """The shapes of the model's outputs, traced symbolically if need be."""
    outputs = getattr(model, "outputs", None)
    if not outputs:
        # A subclassed model has no symbolic outputs: trace one call.
        try:
            outputs = model.compute_output_spec(
                keras.KerasTensor((None, *input_shape), dtype=model.compute_dtype)
            )
        except Exception as error:
            raise ValueError(
                "skce could not work out the output shape of the Keras model by "
                f"calling it on inputs of shape (batch, *{tuple(input_shape)}): "
                f"{error}. Check that the model accepts inputs of that shape."
            ) from error
    if isinstance(outputs, dict):
        outputs = list(outputs.values())
    if not isinstance(outputs, (list, tuple)):
        outputs = [outputs]
    return [None if o is None else tuple(o.shape) for o in outputs]


def has_keyed_dropout(model) -> bool:
    stack = list(model.layers)
    while stack:
        layer = stack.pop()
        if isinstance(layer, SampleKeyedDropout):
            return True
        stack.extend(getattr(layer, "layers", ()))
    return False


def policy(model) -> str:
    """The float type or mixed policy a fitted model trains in."""
    return model.dtype_policy.name


def input_dtype(dtype: str) -> str:
    """The float type of the data fed to a network trained in ``dtype``."""
    return "float32" if dtype.startswith("mixed") else dtype


def snapshot(model):
    optimizer = getattr(model, "optimizer", None)
    opt_vars = [] if optimizer is None else [v.numpy() for v in optimizer.variables]
    return model.get_weights(), optimizer, opt_vars


def restore(model, snapshot):
    weights, optimizer, opt_vars = snapshot
    with _engine.precision(policy(model)):
        model.set_weights(weights)
        if optimizer is not None and model.optimizer is not optimizer:
            # A warm-start fit compiled a new optimizer: put the old one back.
            model.compile(optimizer=optimizer, loss=model.loss)
        if optimizer is not None:
            for variable, value in zip(optimizer.variables, opt_vars, strict=True):
                variable.assign(value)


def build_seeded(build, meta: dict, seed: int, dtype: str, draws_weights: bool):
    """``build(meta, seed)`` with its random draws fixed by ``seed``.

    Unseeded initializers and dropout layers draw their seeds from Python's
    random streams, which are seeded for the build only. Where building
    draws the initial weights (``draws_weights``), they are drawn in float32
    whatever ``dtype``, so one seed gives one initial network in every float
    type.
    """
    model = _build_checked(build, meta, seed)
    if dtype != "float32" and draws_weights:
        with _engine.precision("float32"):
            reference = _build_checked(build, meta, seed)
        model.set_weights(
            [
                np.asarray(value).astype(variable.dtype)
                for value, variable in zip(
                    reference.get_weights(), model.weights, strict=True
                )
            ]
        )
    return model


def _build_checked(build, meta: dict, seed: int) -> keras.Model:
    with _engine.python_random(seed):
        model = build(meta, seed)
    check_output(model, meta)
    return model


# Parameters that never change the network's compiled training code: the
# learning rate and the optimizer state are inputs of it, the optimizer is
# keyed by the engine from its config, and the rest act outside it. Every
# other parameter keys the reuse of compiled epochs.
_NOT_ARCHITECTURE = frozenset(
    {
        "epochs",
        "batch_size",
        "learning_rate",
        "optimizer",
        "shuffle",
        "validation_split",
        "early_stopping",
        "n_iter_no_change",
        "tol",
        "callbacks",
        "class_weight",
        "random_state",
        "verbose",
        "warm_start",
        "distribution",
    }
)


def architecture_key(estimator, meta: dict, dtype: str):
    """A hashable description of the network this estimator builds.

    Fits with equal keys build the same architecture, so compiled training
    code is reused between them. Every parameter is part of it except
    those known to act outside the network (training length, seeds,
    callbacks, weighting), so a new architecture parameter is keyed by
    default. Returns None for a user's model, which is keyed by its config.
    """
    params = estimator.get_params(deep=False)
    for name in _NOT_ARCHITECTURE:
        params.pop(name, None)
    try:
        key = (
            type(estimator).__qualname__,
            repr(sorted(params.items())),
            tuple(meta["input_shape"]),
            meta["n_classes_"],
            meta.get("n_outputs_", 1),
            meta.get("vocabulary_size_"),
            meta.get("X_sparse_", False),
            dtype,
        )
        hash(key)
    except TypeError:
        return None
    return key
