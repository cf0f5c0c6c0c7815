"""Keys for reusing compiled training code across fits of one architecture.

A search refits models of the same architecture many times. Each backend
trainer compiles its epoch with the weights as inputs, not constants, so any
model of the same architecture, optimizer and data layout can reuse it. These
keys say when two fits are alike.
"""

import json
from collections import OrderedDict

# Compiled epochs kept per backend: enough for the architectures of a search.
CACHE_SIZE = 8


class LRUCache(OrderedDict):
    """A small least-recently-used mapping of keys to compiled functions."""

    def __init__(self, size: int = CACHE_SIZE):
        super().__init__()
        self.size = size

    def lookup(self, key):
        if key is None or key not in self:
            return None
        self.move_to_end(key)
        return self[key]

    def store(self, key, value):
        if key is None:
            return
        self[key] = value
        while len(self) > self.size:
            self.popitem(last=False)


def architecture(model) -> str:
    """The model's config with what cannot change the compiled code removed.

    Layer names (auto-numbered by Keras, so they differ between otherwise
    identical models) become their position, and seeds are dropped: weights,
    and the seeds skce's dropout reads, are state passed into the compiled
    epoch, not constants in it. Used when the estimator gives no key of its
    own (a user's model); it serialises the whole model, which is slower.
    """
    canonical = {layer.name: f"layer{i}" for i, layer in enumerate(model.layers)}
    canonical[model.name] = "model"

    def clean(value):
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items() if k != "seed"}
        if isinstance(value, (list, tuple)):
            return [clean(v) for v in value]
        if isinstance(value, str):
            return canonical.get(value, value)
        return value

    return json.dumps(clean(model.get_config()), sort_keys=True, default=repr)


def optimizer_signature(optimizer) -> str:
    """The optimizer's config less its name and a constant learning rate.

    The name is auto-numbered, and a constant learning rate is a variable of
    the optimizer's state, an input of the compiled epoch.
    """
    config = dict(optimizer.get_config())
    config.pop("name", None)
    if isinstance(config.get("learning_rate"), (int, float)):
        config.pop("learning_rate")
    return json.dumps(config, sort_keys=True, default=repr)


def fit_key(model, optimizer, loss, data, architecture_key=None):
    """What a compiled epoch depends on, or None when it cannot be keyed.

    ``data`` is the fit's ``(x, y, w, keys)``.

    ``architecture_key`` is the estimator's own description of the network it
    built (its architecture parameters and the data's shape), which is cheap;
    without one the model's serialised config stands in.
    """
    try:
        key = (
            type(model).__name__,
            architecture_key if architecture_key is not None else architecture(model),
            type(optimizer).__name__,
            optimizer_signature(optimizer),
            loss,
            # Every array's per-row shape, type and layout: one label per
            # sample and per-position labels, or dense and sparse X, trace
            # different code.
            tuple(
                (tuple(a.shape[1:]), str(a.dtype), getattr(a, "layout", "dense"))
                for a in data
            ),
        )
        hash(key)
    except (TypeError, ValueError, NotImplementedError):
        return None
    return key


def blank_layer(layer, kind=None):
    """``layer`` made again (as ``kind``, else its own class) from its config,
    every initializer the config names set to zeros: the ``clone_function``
    of a private copy that training is traced on.

    Each call of the traced code overwrites every weight of that copy with
    the fit's own, so values drawn for it would be wasted: for the 8,859 x
    128 first layer of ``benchmarks/bench_sparse.py`` a uniform draw took
    about 10 ms of the first fit, and an unseeded initializer would also
    move Keras's global seed on every trace. A layer whose config does not
    take ``"zeros"`` is made from its own config.
    """
    kind = kind or type(layer)
    config = layer.get_config()
    zeros = {
        key: "zeros"
        for key, value in config.items()
        if key.endswith("_initializer") and value is not None
    }
    if zeros:
        try:
            return kind.from_config({**config, **zeros})
        except (TypeError, ValueError):
            pass
    return kind.from_config(config)
