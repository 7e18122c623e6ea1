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


class Stream:
    """Uniform, standard-normal and unit-exponential variates from one numpy Generator.

    Args:
        rng: The generator this stream owns (a child of the model's generator).
    """

    __slots__ = ("rng", "_u", "_iu", "_z", "_iz", "_e", "_ie")

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self._u: list[float] = []
        self._iu = 0
        self._z: list[float] = []
        self._iz = 0
        self._e: list[float] = []
        self._ie = 0

    def uniform(self) -> float:
        """One U[0, 1) variate."""
        if self._iu >= len(self._u):
            self._u = self.rng.random(BLOCK).tolist()
            self._iu = 0
        v = self._u[self._iu]
        self._iu += 1
        return v

    def normal(self) -> float:
        """One standard normal variate."""
        if self._iz >= len(self._z):
            self._z = self.rng.standard_normal(BLOCK).tolist()
            self._iz = 0
        v = self._z[self._iz]
        self._iz += 1
        return v

    def exponential(self) -> float:
        """One unit-rate exponential variate."""
        if self._ie >= len(self._e):
            self._e = self.rng.standard_exponential(BLOCK).tolist()
            self._ie = 0
        v = self._e[self._ie]
        self._ie += 1
        return v


def lognormal_params(mean: float, cv: float) -> tuple[float, float]:
    """(mu, sigma) of the lognormal with the given mean and coefficient of variation."""
    sigma2 = math.log1p(cv * cv)
    return math.log(mean) - 0.5 * sigma2, math.sqrt(sigma2)
