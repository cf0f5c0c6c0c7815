"""skce's settings: ``get_config``, ``set_config`` and ``config_context``.

As in scikit-learn, ``config_context`` changes a setting for the calling
thread only, for the duration of a ``with`` block. ``set_config`` changes
the process-wide value, which every thread sees unless a ``config_context``
of its own overrides it; a fit running in a worker thread (a dask worker,
joblib's threading backend) therefore follows ``set_config`` made before it.
"""

import contextlib
import threading
from numbers import Integral

_GLOBAL = {"data_budget": None}
_LOCAL = threading.local()


def _overrides() -> dict:
    """This thread's ``config_context`` values."""
    if not hasattr(_LOCAL, "overrides"):
        _LOCAL.overrides = {}
    return _LOCAL.overrides


def get_config() -> dict:
    """The settings in force in the calling thread.

    Returns
    -------
    config : dict
        ``{"data_budget": int or None}``: bytes of training data that may
        go to the device at once (None: a quarter of the accelerator's
        memory, or of the machine's RAM without one).

    See Also
    --------
    set_config : Change a setting for the process.
    config_context : Change a setting inside a ``with`` block.

    Examples
    --------
    >>> import skce
    >>> skce.get_config()["data_budget"] is None
    True
    """
    return {**_GLOBAL, **_overrides()}


def _checked(data_budget):
    if data_budget is not None and (
        isinstance(data_budget, bool)
        or not isinstance(data_budget, Integral)
        or data_budget < 1
    ):
        raise ValueError(
            "The data budget must be a positive number of bytes or None. "
            f"Received: data_budget={data_budget!r}."
        )
    return None if data_budget is None else int(data_budget)


def set_config(data_budget=None):
    """Set skce's settings for the rest of the process, in every thread.

    Parameters
    ----------
    data_budget : int or None, default=None
        Bytes of training data that may go to the device at once: a larger
        in-memory X is streamed in segments of whole mini-batches. None
        restores the default, a quarter of the accelerator's memory, or of
        the machine's RAM without one.

    See Also
    --------
    get_config : The settings in force.
    config_context : Change a setting inside a ``with`` block.

    Examples
    --------
    >>> import skce
    >>> skce.set_config(data_budget=2**30)
    >>> skce.set_config(data_budget=None)
    """
    value = _checked(data_budget)
    _GLOBAL["data_budget"] = value
    overrides = _overrides()
    if "data_budget" in overrides:
        # Inside a config_context the calling thread sees the new value too,
        # until the block ends, as with scikit-learn's set_config.
        overrides["data_budget"] = value


@contextlib.contextmanager
def config_context(*, data_budget=None):
    """Change skce's settings in the calling thread inside a ``with`` block.

    Parameters
    ----------
    data_budget : int or None, default=None
        Bytes of training data that may go to the device at once (None: the
        default budget). The previous setting is restored when the block
        ends.

    Yields
    ------
    None

    See Also
    --------
    set_config : Change a setting for the process.

    Examples
    --------
    >>> import skce
    >>> with skce.config_context(data_budget=2**20):
    ...     skce.get_config()["data_budget"]
    1048576
    """
    value = _checked(data_budget)
    overrides = _overrides()
    previous = dict(overrides)
    overrides["data_budget"] = value
    try:
        yield
    finally:
        overrides.clear()
        overrides.update(previous)


def get_data_budget():
    """The data budget in force in the calling thread, in bytes, or None."""
    return get_config()["data_budget"]


def set_data_budget(n_bytes):
    """Set how many bytes of training data may go to the device at once.

    The same as ``set_config(data_budget=n_bytes)``: the setting holds for
    the rest of the process, in every thread. A memory-mapped X streams
    whatever the budget; so does an X larger than the budget. Streamed
    segments hold at most 8 MiB of X (less when the budget is smaller), so
    streaming never reads X into memory whole.

    Parameters
    ----------
    n_bytes : int or None
        A larger X is streamed to the device in segments of whole
        mini-batches. None restores the default: a quarter of the
        accelerator's memory, or of the machine's RAM without one.

    See Also
    --------
    data_budget : Set the budget inside a ``with`` block.
    set_config : Every setting of skce.

    Examples
    --------
    >>> import skce
    >>> skce.set_data_budget(2**30)
    >>> skce.set_data_budget(None)
    """
    set_config(data_budget=n_bytes)


def data_budget(n_bytes):
    """Use ``n_bytes`` as the data budget inside a ``with`` block.

    The same as ``config_context(data_budget=n_bytes)``: handy around one
    fit, in the calling thread; the budget elsewhere is left as it was.

    Parameters
    ----------
    n_bytes : int or None
        Bytes of training data that may go to the device at once; a larger X
        is streamed in segments of whole mini-batches. None is the default
        budget. The previous budget is restored when the block ends.

    Returns
    -------
    context : context manager
        The ``with`` block's context.

    See Also
    --------
    set_data_budget : Set the budget for the rest of the process.

    Examples
    --------
    >>> import skce
    >>> with skce.data_budget(2**20):
    ...     pass
    """
    return config_context(data_budget=n_bytes)
