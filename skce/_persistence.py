"""How a fitted network travels in an estimator's state: Keras's own archive.

The state of a fitted estimator holds its network as the bytes of a ``.keras``
archive (config as JSON, weights and optimizer variables as arrays, no code),
with the float type it runs in. Loading reads the archive with Keras's
``safe_mode=True``, which refuses to rebuild Python code from it, so loading an
estimator's state never unpickles anything: a ``.skops`` file whose only
trusted types are skce's estimators runs no code of the file's author.
"""

import io
import json
import os
import tempfile
import zipfile

import keras

from skce import _engine

#: The state key of the Keras objects: the fitted network and any Keras model or
#: optimizer given as a parameter, each by its attribute's name.
STATE_KEY = "_keras_objects"

#: The state key under which skce up to 0.2 stored the network as a pickle.
_PICKLED_KEY = "_pickled_model"


def pack_state(state: dict) -> dict:
    """``state`` with its Keras models and optimizers as archives and configs.

    skops then sees only plain values (bytes, str, dicts of them), never a
    Keras object whose type a user would be asked to trust.
    """
    state, packed = dict(state), {}
    for name, value in list(state.items()):
        if isinstance(value, keras.Model):
            packed[name] = dump_model(state.pop(name))
        elif isinstance(value, keras.optimizers.Optimizer):
            config = keras.optimizers.serialize(state.pop(name))
            packed[name] = {"optimizer": json.dumps(config)}
    if packed:
        state[STATE_KEY] = packed
    return state


def unpack_state(state: dict) -> dict:
    """The state of ``pack_state`` with its Keras objects loaded again."""
    state = dict(state)
    _reject_pickled(state)
    packed = state.pop(STATE_KEY, {})
    if not isinstance(packed, dict):
        raise ValueError(
            f"The state's {STATE_KEY!r} must be a dict. Received: "
            f"{type(packed).__name__}."
        )
    for name, value in packed.items():
        if isinstance(value, dict) and set(value) == {"optimizer"}:
            config = json.loads(value["optimizer"])
            state[name] = keras.optimizers.deserialize(config)
        else:
            state[name] = load_model(value)
    return state


def dump_model(model: keras.Model) -> dict:
    """The network as a dict of a ``.keras`` archive's bytes and its float type.

    Raises ValueError, naming the layer, when the network holds Python code
    (a lambda) that ``safe_mode`` would refuse to load.
    """
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.keras")
        keras.saving.save_model(model, path)
        with open(path, "rb") as f:
            archive = f.read()
    _check_no_code(archive)
    return {"dtype_policy": model.dtype_policy.name, "archive": archive}


def load_model(packed) -> keras.Model:
    """The network of ``dump_model``'s dict, loaded with ``safe_mode=True``."""
    if not isinstance(packed, dict) or set(packed) != {"dtype_policy", "archive"}:
        raise ValueError(
            f"A network in the state's {STATE_KEY!r} must be a dict with keys "
            "'dtype_policy' and 'archive'. Received: {type(packed).__name__}"
            f"{sorted(packed) if isinstance(packed, dict) else ''}."
        )
    archive, dtype = packed["archive"], packed["dtype_policy"]
    if not isinstance(archive, bytes) or not zipfile.is_zipfile(io.BytesIO(archive)):
        raise ValueError(
            f"A network in the state's {STATE_KEY!r} is not a .keras archive (a zip "
            f"file). Received {type(archive).__name__} starting "
            f"{bytes(archive[:8]) if isinstance(archive, bytes) else ''!r}; "
            "save the estimator with skce to get one."
        )
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.keras")
        with open(path, "wb") as f:
            f.write(archive)
        # The policy is in the archive's config too; setting it while loading
        # also gives the rebuilt optimizer's and loss's variables its type.
        with _engine.precision(str(dtype)):
            return keras.saving.load_model(path, safe_mode=True)


def _reject_pickled(state: dict) -> None:
    """Refuse the pickled network of skce up to 0.2 instead of unpickling it."""
    if _PICKLED_KEY in state:
        raise ValueError(
            f"This estimator's state holds {_PICKLED_KEY!r}: its network was "
            "saved as a pickle by skce 0.2 or earlier, and skce no longer "
            "unpickles it (a crafted pickle runs code). Load it with the skce "
            "that saved it and save it again with this one, or fit it again."
        )


def _check_no_code(archive: bytes) -> None:
    """Raise when the archive's config holds Python bytecode (a lambda)."""
    with zipfile.ZipFile(io.BytesIO(archive)) as zf:
        config = json.loads(zf.read("config.json"))
    layer = _layer_with_code(config, None)
    if layer is not None:
        raise ValueError(
            f"The network's layer {layer!r} holds a Python lambda, which Keras "
            "saves as bytecode and skce refuses to load (Keras's "
            "safe_mode=True: loading code from a file would run it). Replace "
            "the lambda by a named function decorated with "
            "@keras.saving.register_keras_serializable(), or by a custom "
            "layer, before saving."
        )


def _layer_with_code(node, layer):
    """The name of the first layer whose config holds a lambda, or None."""
    if isinstance(node, dict):
        if node.get("class_name") == "__lambda__":
            return layer
        if "class_name" in node and isinstance(node.get("config"), dict):
            layer = node["config"].get("name", layer)
        children = node.values()
    elif isinstance(node, list):
        children = node
    else:
        return None
    for child in children:
        found = _layer_with_code(child, layer)
        if found is not None:
            return found
    return None
