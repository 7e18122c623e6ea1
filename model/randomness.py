"""Block-drawn random streams: numpy's generator, vectorised, consumed one value at a time.

The model needs a handful of scalar draws per order. Calling a numpy generator once per
scalar costs far more than the draw itself, so each stream draws blocks of values with one
vectorised call and hands them out from a Python list. The sequence of values is a pure
function of the generator's state, so runs stay bit-identical for the same seed.
"""

from __future__ import annotations

import math

import numpy as np

#: Values drawn per vectorised call. Large enough to amortise the call, small enough that
#: a short run does not waste time drawing values it never uses.
BLOCK = 1024


class _Buffered:
    """Hands out, one at a time, values drawn in blocks by one vectorised call."""

    __slots__ = ("_draw", "_values", "_i", "_block")

    def __init__(self, draw, block: int = BLOCK) -> None:
        self._draw = draw
        self._block = block
        self._values: list[float] = []
        self._i = 0

    def __call__(self) -> float:
        if self._i >= len(self._values):
            self._values = self._draw(self._block).tolist()
            self._i = 0
        v = self._values[self._i]
        self._i += 1
        return v


class Stream:
    """Uniform, standard-normal and unit-exponential variates from one numpy Generator.

    Each kind has its own child generator and buffer, so the values of one kind do not
    depend on how many of another were used.

    Args:
        rng: The generator this stream owns (a child of the model's generator).
        block: Values drawn per vectorised call.

    Attributes:
        uniform: Call for one U[0, 1) variate.
        normal: Call for one standard normal variate.
        exponential: Call for one unit-rate exponential variate.
    """

    __slots__ = ("rng", "uniform", "normal", "exponential")

    def __init__(self, rng: np.random.Generator, block: int = BLOCK) -> None:
        self.rng = rng
        # One child generator per kind: when one kind refills its block must not depend on
        # how many values of another kind were used, or regimes that use the stream
        # differently would lose their common random numbers.
        u, z, e = rng.spawn(3)
        self.uniform = _Buffered(u.random, block)
        self.normal = _Buffered(z.standard_normal, block)
        self.exponential = _Buffered(e.standard_exponential, block)


def lognormal_params(mean: float, cv: float) -> tuple[float, float]:
    """(mu, sigma) of the lognormal with the given mean and coefficient of variation."""
    sigma2 = math.log1p(cv * cv)
    return math.log(mean) - 0.5 * sigma2, math.sqrt(sigma2)
