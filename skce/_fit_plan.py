"""What one call to ``fit`` or ``partial_fit`` does, decided once before it starts.

A fit is fresh (a new network), warm (``warm_start`` on a fitted estimator:
the fitted network and optimizer train on) or partial (``partial_fit``: one
epoch on the batch given, continuing from the first call on). Every step of a
fit reads the plan instead of re-deriving the mode from flags.
"""

import math
from dataclasses import dataclass, replace
from numbers import Integral

from sklearn.utils import check_random_state

from skce._keras_model import input_dtype

#: Seeds are drawn below this bound, the largest int32.
SEED_MAX = 2**31 - 1

#: epochs="auto": about this many optimizer steps, in whole epochs within
#: AUTO_EPOCHS, over which the learning rate anneals along a cosine.
AUTO_STEPS = 2400
AUTO_EPOCHS = (5, 100)

#: Rows of a mini-batch for batch_size="auto", as in MLPClassifier.
AUTO_BATCH = 200


@dataclass(frozen=True)
class Seeds:
    """The seeds of one fit: initial network, epoch shuffles, validation split."""

    build: int
    shuffle: int
    split: int

    @classmethod
    def draw(cls, random_state) -> "Seeds":
        rng = check_random_state(random_state)
        return cls(*(int(seed) for seed in rng.randint(SEED_MAX, size=3)))


def mlp_weights_seed(random_state, build: int) -> int:
    """The seed of the stream an MLP's initial weights are drawn from.

    An integer ``random_state`` (below ``SEED_MAX``) itself, as
    ``MLPClassifier`` seeds its weights with it, so the two estimators start
    from the same weights (see ``MLPDraws``); else the fit's ``build`` seed.
    The layers' other seeds (dropout) stay derived from ``build``: seeds of
    consecutive integers would give one network's second layer the draws of
    the next network's first.
    """
    if isinstance(random_state, Integral) and 0 <= random_state < SEED_MAX:
        return int(random_state)
    return build


@dataclass(frozen=True)
class Schedule:
    """How long a fit trains: epochs, rows per step, and whether the rate anneals."""

    epochs: int
    batch_size: int
    anneal: bool


@dataclass(frozen=True)
class FitPlan:
    """The mode of one fit.

    Parameters
    ----------
    mode : {"fresh", "warm", "partial"}
        A new network; ``warm_start`` on a fitted estimator; ``partial_fit``.
    continues : bool
        Whether the fitted network, optimizer and classes train on (warm fits
        and every ``partial_fit`` call after the first).
    dtype : str or None
        The float type or mixed policy the network trains in, once the data
        has been checked.
    seeds : Seeds or None
        The fit's seeds, once the data has been checked.
    """

    mode: str
    continues: bool
    dtype: str | None = None
    seeds: Seeds | None = None

    @classmethod
    def decide(cls, estimator, partial: bool) -> "FitPlan":
        fitted = hasattr(estimator, "model_")
        if partial:
            return cls("partial", fitted)
        if fitted and estimator.warm_start:
            return cls("warm", True)
        return cls("fresh", False)

    def settled(self, dtype: str, random_state) -> "FitPlan":
        """This plan with the float type and seeds drawn from ``random_state``."""
        return replace(self, dtype=dtype, seeds=Seeds.draw(random_state))

    @property
    def input_dtype(self) -> str:
        """The float type of the data fed to the network."""
        return input_dtype(self.dtype)

    @property
    def partial(self) -> bool:
        """``partial_fit``: one epoch on the whole batch, no hold-out, no stopping."""
        return self.mode == "partial"

    @property
    def builds(self) -> bool:
        """Whether this fit builds a new network (and resets what X looks like)."""
        return not self.continues

    @property
    def extends_history(self) -> bool:
        """Whether ``history_`` and ``n_iter_`` grow rather than restart."""
        return self.partial and self.continues

    def schedule(self, epochs, batch_size, n_samples: int, rate) -> Schedule:
        """Epochs and mini-batch rows for ``n_samples`` training rows.

        ``epochs="auto"`` trains about ``AUTO_STEPS`` optimizer steps, in
        whole epochs (at least and at most ``AUTO_EPOCHS``), with the learning
        rate annealed along a cosine; a schedule of the user's own (``rate``
        not a number) stays. ``partial_fit`` trains one epoch.
        """
        rows = AUTO_BATCH if batch_size == "auto" else batch_size
        rows = min(rows, n_samples)
        if self.partial:
            return Schedule(1, rows, False)
        if epochs != "auto":
            return Schedule(int(epochs), rows, False)
        low, high = AUTO_EPOCHS
        steps = math.ceil(n_samples / rows)
        n_epochs = min(max(math.ceil(AUTO_STEPS / steps), low), high)
        return Schedule(n_epochs, rows, isinstance(rate, (int, float)))
