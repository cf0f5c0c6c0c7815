"""Numpydoc text that several estimators share, written once."""

#: The numpydoc entries of the training parameters every estimator shares.
TRAINING_PARAMETERS_DOC = """\
    epochs : int or "auto", default={epochs}
        Passes over the training data, at most (see ``n_iter_no_change``).
        "auto" sizes them to the data: about 2,400 gradient steps in whole
        epochs, at least 5 and at most 100, with the learning rate annealed
        epoch by epoch along a cosine from ``learning_rate`` to near zero (an
        optimizer with a learning-rate schedule of its own keeps it).
        Reaching the last of these epochs is the end of the schedule, not a
        ``ConvergenceWarning``. ``partial_fit`` always trains one epoch.

    batch_size : int or "auto", default="auto"
        Samples per gradient step. "auto" is ``min(200, n_samples)``.

    optimizer : str or keras.optimizers.Optimizer, default="adam"
        The optimizer, by name as Keras takes it ("adam" or "Adam", "sgd" or
        "SGD", and likewise "adamw", "rmsprop", "adagrad", "adadelta",
        "adamax", "nadam", "ftrl", "lion"), or as a configured Keras
        optimizer. An instance is copied from its config at each fit, so its
        state never leaks between fits; ``learning_rate`` then does not apply.

    learning_rate : float, default={learning_rate}
        Step size of a named optimizer.

    alpha : float, default={alpha}
        Strength of the L2 penalty ``0.5 * alpha * ||W||^2`` on the kernels,
        divided by the batch's total sample weight as in scikit-learn's
        ``MLPClassifier``.

    shuffle : bool, default=True
        Whether to reshuffle the training data before each epoch.

    validation_split : float in [0, 1), default=0.0
        Fraction of the training data held out (stratified by class) and
        scored after each epoch as ``val_loss`` and ``val_accuracy``.

    early_stopping : bool, default=False
        Monitor the validation loss (with ``validation_split`` or
        ``validation_data``; else the training loss) for convergence, and put
        back the weights of the best epoch when training ends.

    tol : float, default=1e-4
        Convergence tolerance, as in ``MLPClassifier``: an epoch whose
        monitored loss is not below the best so far by at least ``tol``
        counts as no improvement.

    n_iter_no_change : int or None, default=10
        Training stops after more than ``n_iter_no_change`` epochs in a row
        without improvement, as in ``MLPClassifier``; ``epochs`` is the upper
        bound (``MLPClassifier``'s ``max_iter``), and reaching it first raises
        a ``ConvergenceWarning``. None trains exactly ``epochs`` epochs, as
        Keras does. ``partial_fit`` never stops early.

    callbacks : list of keras.callbacks.Callback, default=None
        Keras callbacks, called at each epoch (and each batch, if they define
        batch hooks). They are copied before each fit.

    class_weight : dict, "balanced" or None, default=None
        Weights per class label, multiplied into ``sample_weight``. "balanced"
        uses ``n_samples / (n_classes * np.bincount(y))`` with samples counted
        by their ``sample_weight``; ``partial_fit`` rejects it, as
        ``SGDClassifier`` does (pass the weights of the whole data as a dict).

    dtype : {{"float32", "float64", "mixed_float16", "mixed_bfloat16"}} or \
None, default=None
        Float type of the network and its computation. None follows X:
        float32 input trains in float32 (the fast choice, especially on a
        GPU), anything else in float64 (exact, as scikit-learn computes).
        The mixed policies are Keras's: float16 or bfloat16 computation with
        float32 weights, loss and outputs (float16 with loss scaling); on a
        GPU with tensor cores they are the fastest.

    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, dropout, shuffling and the validation
        split. An int gives identical results on every fit on a CPU.

    verbose : int, default=0
        0 is silent, 1 shows a progress bar per epoch, 2 or more a line per
        epoch.

    warm_start : bool, default=False
        Continue from the fitted network and optimizer state on the next
        ``fit`` instead of starting again. A ``learning_rate`` changed in
        between applies to the continued training (so does a changed
        learning rate of an optimizer instance); a changed ``optimizer``
        starts a new optimizer state. ``partial_fit`` continues the same way.

    distribution : {{'data_parallel'}}, distribution object or None, default=None
        Data-parallel training over several devices. Each mini-batch is
        split over the devices and their gradients are summed, so the fit
        equals the one-device fit up to float rounding (``batch_size`` is
        the global batch). ``None`` follows what is in force where ``fit``
        runs: a ``keras.distribution.DataParallel`` set on JAX, or a
        ``tf.distribute`` strategy's ``scope()`` on TensorFlow.
        ``'data_parallel'`` uses every device of the host (on TensorFlow:
        the GPUs, or the logical CPUs if there is none). An instance
        (``keras.distribution.DataParallel`` on JAX, a
        ``tf.distribute.Strategy`` on TensorFlow) is used as given, and
        clones of the estimator share it; a pickled copy has
        ``distribution=None`` (the instance belongs to its process).
"""

#: The numpydoc entries of the fitted attributes every estimator shares.
FITTED_ATTRIBUTES_DOC = """\
    classes_ : ndarray of shape (n_classes,)
        The class labels, sorted. For per-position ``y`` of shape
        ``(n_samples, n_outputs)``, the one vocabulary every position shares
        (not a list of arrays per output, as in ``MultiOutputClassifier``).
        ``ignore_label`` is never among them.

    n_outputs_ : int
        Labels per sample: 1 for 1-D ``y``, else the number of columns of
        ``y``.

    n_features_in_ : int
        Number of features seen during fit.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Feature names seen during fit, when X had string column names.

    model_ : keras.Model
        The trained Keras model, compiled with its optimizer.

    history_ : dict of str to list of float
        Per-epoch ``loss`` and ``accuracy`` (and ``val_loss``,
        ``val_accuracy`` with validation data).

    n_iter_ : int
        Epochs run by the last ``fit`` (added up over ``partial_fit`` calls).
"""

#: The numpydoc entry of ``ignore_label``.
IGNORE_LABEL_DOC = """\
    ignore_label : int, str or None, default=None
        The label that marks padding in ``y``: the positions of a padded
        sequence that hold no label (or, for 1-D ``y``, unlabelled samples).
        They are left out of the loss, of the accuracy in ``history_``, of
        ``score`` and of ``classes_``. Keras and PyTorch use -100 for this.
        None: every label counts.
"""
