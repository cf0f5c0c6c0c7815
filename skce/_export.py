"""Exporting a fitted estimator for serving without Python, skce or Keras.

The network is exported with Keras's ``ExportArchive`` (TensorFlow traces it
on the TensorFlow backend, jax2tf converts it on JAX) together with what skce
adds around it at predict time: arranging X as the network takes it, the
argmax, the probabilities. The engine then wraps that in an endpoint that
returns ``classes_`` values instead of indices.
"""

import math
import os
import tempfile

import keras
import numpy as np

from skce import _engine

#: The formats ``export`` writes.
FORMATS = ("tf_saved_model", "onnx")


def check_format(format) -> None:
    """Raise before any work unless ``format`` is one ``export`` writes."""
    if format not in FORMATS:
        raise ValueError(
            f"format must be one of {FORMATS}. Received: format={format!r}."
        )
    if format == "onnx":
        # Keras's ONNX exporter converts through tf2onnx, whose last release
        # (1.16.1) pins protobuf~=3.20, which the supported TensorFlow
        # releases (protobuf 5 and later) cannot be installed with.
        raise ValueError(
            "format='onnx' is not available: Keras exports ONNX through "
            "tf2onnx, whose latest release requires protobuf 3.20, which "
            "cannot be installed alongside TensorFlow 2.16 or later. Export "
            "format='tf_saved_model' and convert that SavedModel with the "
            "ONNX tools of your serving side."
        )


def export_saved_model(
    model, path, *, sample_shape, classes, token_ids, proba_fn, dtype
) -> None:
    """Write a SavedModel whose ``serve`` maps X to labels and probabilities.

    ``sample_shape`` is the shape of one row of X, ``token_ids`` whether the
    network takes X as int32 token ids, ``proba_fn`` maps the network's
    output to probabilities as ``predict_proba`` does and ``dtype`` is the
    float type X is fed in.
    """
    model_shape = tuple(model.inputs[0].shape[1:])
    if math.prod(model_shape) != math.prod(sample_shape):
        raise ValueError(
            f"The network takes inputs of shape {model_shape}, which X's rows "
            f"of shape {sample_shape} cannot be reshaped to; export needs a "
            "network with one input of the size of a row of X."
        )

    def serve(x):
        x = keras.ops.reshape(x, (-1, *model_shape))
        if token_ids:
            x = keras.ops.cast(x, "int32")
        out = model(x, training=False)
        index = keras.ops.cast(keras.ops.argmax(out, axis=-1), "int32")
        return {"index": index, "probabilities": proba_fn(out)}

    archive = keras.export.ExportArchive()
    archive.track(model)
    signature = keras.InputSpec(shape=(None, *sample_shape), dtype=dtype)
    with tempfile.TemporaryDirectory() as tmp:
        network = os.path.join(tmp, "network")
        archive.add_endpoint("serve", serve, input_signature=[signature])
        archive.write_out(network, verbose=False)
        _engine.export_with_labels(
            network, path, np.asarray(classes), tuple(sample_shape), dtype
        )
