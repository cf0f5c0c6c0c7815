"""The TensorFlow side of ``export``: labels around an exported network."""

import numpy as np


def export_with_labels(
    network: str, path, classes: np.ndarray, sample_shape: tuple, dtype: str
) -> None:
    """Save at ``path`` the SavedModel ``network`` with ``classes`` looked up.

    ``network``'s ``serve`` takes rows of ``sample_shape`` in ``dtype`` and
    returns class indices and probabilities; the ``serve`` saved here returns
    the ``classes_`` values instead of the indices: strings as tf.string,
    integers as int64, so that a serving side with TensorFlow alone answers
    as ``predict`` does.
    """
    import tensorflow as tf

    inner = tf.saved_model.load(network)
    module = tf.Module()
    module.network = inner
    if classes.dtype.kind in "OUS":
        values = tf.constant([str(c) for c in classes], dtype=tf.string)
    elif classes.dtype.kind in "iu":
        values = tf.constant(classes.astype(np.int64))
    else:
        values = tf.constant(classes)

    @tf.function(
        input_signature=[tf.TensorSpec((None, *sample_shape), dtype, name="X")]
    )
    def serve(x):
        out = module.network.serve(x)
        return {
            "labels": tf.gather(values, out["index"]),
            "probabilities": out["probabilities"],
        }

    module.serve = serve
    # Serving needs no gradients, and the custom ones of a network converted
    # from JAX cannot be saved again.
    options = tf.saved_model.SaveOptions(experimental_custom_gradients=False)
    tf.saved_model.save(
        module, str(path), signatures={"serving_default": serve}, options=options
    )
