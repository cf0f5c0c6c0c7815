"""Optimizers: the names skce takes, a fresh one per fit, reuse across warm fits."""

import keras

from skce import _engine
from skce._keras_model import emits_logits

#: Optimizers that can be named by string, by their Keras class names. Like
#: Keras, skce also takes each name in lower case ("adam" as well as "Adam").
OPTIMIZERS = {cls.__name__: cls for cls in _engine.NAMED_OPTIMIZERS}
OPTIMIZERS.update({name.lower(): cls for name, cls in list(OPTIMIZERS.items())})

#: Settings a named optimizer takes from MLPClassifier rather than from
#: Keras: Adam's epsilon is 1e-8 there (Keras: 1e-7), which matters in the
#: first steps, while the second-moment estimates are small.
NAMED_SETTINGS = {keras.optimizers.Adam: {"epsilon": 1e-8}}


def learning_rate_value(optimizer, learning_rate):
    """The learning rate a fit starts from: a number, or an optimizer's schedule.

    ``optimizer`` and ``learning_rate`` are the estimator's parameters; an
    optimizer instance brings its own rate and ``learning_rate`` does not apply.
    """
    if isinstance(optimizer, str):
        return learning_rate
    return optimizer.get_config().get("learning_rate")


def make_optimizer(optimizer, learning_rate, dtype: str) -> keras.optimizers.Optimizer:
    """A new optimizer for the ``optimizer`` parameter, in the fit's ``dtype``."""
    if isinstance(optimizer, str):
        cls = OPTIMIZERS[optimizer]
        made = cls(learning_rate=learning_rate, **NAMED_SETTINGS.get(cls, {}))
    else:
        # A fresh copy, so no state leaks between fits or clones.
        made = optimizer.__class__.from_config(optimizer.get_config())
    if dtype == "mixed_float16" and not isinstance(
        made, keras.optimizers.LossScaleOptimizer
    ):
        # float16 gradients underflow without loss scaling; Keras's own
        # compile() wraps the optimizer the same way under this policy.
        made = keras.optimizers.LossScaleOptimizer(made)
    return made


def fit_optimizer(model, optimizer, learning_rate, dtype: str, continues: bool):
    """The optimizer of this fit, compiled into ``model``.

    A continuing fit (``warm_start`` or ``partial_fit``) keeps the fitted
    optimizer and its state, with the current learning rate; a changed
    ``optimizer`` parameter, like a fresh fit, starts a new optimizer.
    """
    if continues and same_optimizer(model.optimizer, optimizer):
        fitted = model.optimizer
        rate = learning_rate_value(optimizer, learning_rate)
        if isinstance(rate, (int, float)):
            fitted.learning_rate = rate
        return fitted
    made = make_optimizer(optimizer, learning_rate, dtype)
    model.compile(
        optimizer=made,
        loss=keras.losses.SparseCategoricalCrossentropy(
            from_logits=emits_logits(model)
        ),
    )
    with _engine.active().optimizer_scope(made):
        made.build(model.trainable_variables)
    return made


def same_optimizer(current, param) -> bool:
    """Whether the fitted optimizer is the one the ``optimizer`` parameter makes."""
    current = getattr(current, "inner_optimizer", current)
    if isinstance(param, str):
        return type(current) is OPTIMIZERS[param]
    if type(current) is not type(param):
        return False

    def settings(optimizer):
        config = dict(optimizer.get_config())
        config.pop("name", None)
        config.pop("learning_rate", None)
        return config

    return settings(current) == settings(param)
