"""Block-drawn random streams: numpy's generator, vectorised, consumed one value at a time.

The model needs a handful of scalar draws per order. Calling a numpy generator once per
scalar costs far more than the draw itself, so each stream draws blocks of values with one
vectorised call and hands them out from a Python list. The sequence of values is a pure
function of the generator's state (drawing ``k`` values then ``m`` gives the same values as
drawing ``k + m`` at once), so the block size is a matter of speed only and runs stay
bit-identical for the same seed.

Many small streams (one per customer) are seeded from ``(seed, key)`` with numpy's
`SeedSequence` algorithm. Creating one `SeedSequence` per stream costs more than a
customer's whole order stream, so `spawn_states` computes the same seed states for a batch
of keys at once with array arithmetic; `stream_from_state` then builds the stream's
generators without further hashing. The result is the generator
``default_rng(SeedSequence(seed, spawn_key=key))`` would give, bit for bit (checked against
numpy once per process, with a fallback to numpy's own `SeedSequence` should it ever
differ).
"""

from __future__ import annotations

import bisect
import math

import numpy as np
from numpy.random.bit_generator import ISeedSequence

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
        i = self._i
        if i >= len(self._values):
            self._values = self._draw(self._block).tolist()
            i = 0
        self._i = i + 1
        return self._values[i]

    def take(self, k: int) -> list[float]:
        """The next ``k`` values (the same as ``k`` calls), as a list."""
        i = self._i
        j = i + k
        values = self._values
        if j > len(values):
            values = self._values = values[i:] + self._draw(max(self._block, k)).tolist()
            i, j = 0, k
        self._i = j
        return values[i:j]


class Stream:
    """Uniform, standard-normal and unit-exponential variates from one numpy Generator.

    Each kind has its own child generator and buffer, so the values of one kind do not
    depend on how many of another were used.

    Args:
        rng: The generator this stream owns (a child of the model's generator); None with
            ``children``.
        block: Values drawn per vectorised call (or one figure per kind: uniform, normal,
            exponential).
        children: The three child generators (uniform, normal, exponential), when they were
            made without spawning them from ``rng`` (see `stream_from_state`).

    Attributes:
        uniform: Call for one U[0, 1) variate (``uniform.take(k)`` for the next k).
        normal: Call for one standard normal variate.
        exponential: Call for one unit-rate exponential variate.
    """

    __slots__ = ("rng", "uniform", "normal", "exponential")

    def __init__(self, rng: np.random.Generator | None, block: int | tuple = BLOCK,
                 children: tuple[np.random.Generator, ...] | None = None) -> None:
        self.rng = rng
        # One child generator per kind: when one kind refills its block must not depend on
        # how many values of another kind were used, or regimes that use the stream
        # differently would lose their common random numbers.
        u, z, e = children if children is not None else rng.spawn(3)
        bu, bz, be = (block, block, block) if isinstance(block, int) else block
        self.uniform = _Buffered(u.random, bu)
        self.normal = _Buffered(z.standard_normal, bz)
        self.exponential = _Buffered(e.standard_exponential, be)


def lognormal_params(mean: float, cv: float) -> tuple[float, float]:
    """(mu, sigma) of the lognormal with the given mean and coefficient of variation."""
    sigma2 = math.log1p(cv * cv)
    return math.log(mean) - 0.5 * sigma2, math.sqrt(sigma2)


# ----------------------------------------------------------------------- batch seeding
# numpy's SeedSequence (numpy/random/bit_generator.pyx; the algorithm is part of numpy's
# reproducibility promise), on arrays: one column per key.
_INIT_A, _MULT_A = 0x43B0D7E5, 0x931E8875
_INIT_B, _MULT_B = 0x8B51F9DD, 0x58F38DED
_MIX_L, _MIX_R = np.uint32(0xCA01F9DD), np.uint32(0x4973F715)
_MASK32 = 0xFFFFFFFF
_POOL = 4


def _words(n: int) -> list[int]:
    """An integer as little-endian 32-bit words (numpy's ``_int_to_uint32_array``)."""
    if n < 0:
        raise ValueError("seed and spawn keys must be non-negative")
    out = [n & _MASK32] if n == 0 else []
    while n > 0:
        out.append(n & _MASK32)
        n >>= 32
    return out


class _HashConst:
    """The multiplier SeedSequence's hash updates as it goes (the same for every key)."""

    __slots__ = ("value",)

    def __init__(self, init: int) -> None:
        self.value = init


def _hashmix(value, hc: _HashConst):
    """SeedSequence's ``hashmix`` of a word (int) or of one word per key (uint32 array)."""
    mult = hc.value
    hc.value = (mult * _MULT_A) & _MASK32
    if isinstance(value, int):
        value = ((value ^ mult) * hc.value) & _MASK32
        return value ^ (value >> 16)
    value = (value ^ np.uint32(mult)) * np.uint32(hc.value)
    return value ^ (value >> np.uint32(16))


def _mix(x, y):
    """SeedSequence's ``mix`` of two words (ints) or word arrays (uint32)."""
    if isinstance(x, int) and isinstance(y, int):
        result = (0xCA01F9DD * x - 0x4973F715 * y) & _MASK32
        return result ^ (result >> 16)
    # One operand is an array: the int one is reduced first (no scalar overflow), the
    # array arithmetic wraps modulo 2**32 as the C code does.
    a = np.uint32((0xCA01F9DD * x) & _MASK32) if isinstance(x, int) else _MIX_L * x
    b = np.uint32((0x4973F715 * y) & _MASK32) if isinstance(y, int) else _MIX_R * y
    result = a - b
    return result ^ (result >> np.uint32(16))


def _multipliers(hc: _HashConst, k: int, step: int = _MULT_A) -> tuple[np.ndarray, np.ndarray]:
    """The next ``k`` hash multipliers (before, after each update) as (k, 1) uint32 columns."""
    before, after = [], []
    for _ in range(k):
        before.append(hc.value)
        hc.value = (hc.value * step) & _MASK32
        after.append(hc.value)
    return (np.array(before, dtype=np.uint32)[:, None],
            np.array(after, dtype=np.uint32)[:, None])


def _spawn_states_array(entropy: int, keys: np.ndarray) -> np.ndarray:
    """PCG64 seed states (4 uint64 per key) of ``SeedSequence(entropy, spawn_key=key)``.

    Words that are the same for every key (the seed's, and key elements shared by all
    rows) are hashed once as Python ints; the others as uint32 arrays, one value per key,
    all four pool words at once.

    Args:
        entropy: The root seed (a non-negative int).
        keys: Integer array (n, k): one spawn key of k non-negative ints < 2**32 per row.
    """
    keys = np.asarray(keys, dtype=np.int64)
    n = keys.shape[0]
    run = _words(entropy)
    if keys.shape[1] > 0 and len(run) < _POOL:
        run = run + [0] * (_POOL - len(run))
    # The assembled entropy, word by word: the seed's words, then one word per key element
    # (every element < 2**32 is one word).
    cols: list = list(run)
    for j in range(keys.shape[1]):
        col = keys[:, j]
        cols.append(int(col[0]) if n and (col == col[0]).all() else col.astype(np.uint32))
    hc = _HashConst(_INIT_A)
    pool = [_hashmix(cols[i] if i < len(cols) else 0, hc) for i in range(_POOL)]
    for i_src in range(_POOL):
        for i_dst in range(_POOL):
            if i_src != i_dst:
                pool[i_dst] = _mix(pool[i_dst], _hashmix(pool[i_src], hc))
    # The key's words: each is mixed into the four pool words, each time with the next
    # multiplier. As Python ints while every word so far is shared by all keys; from the
    # first varying word on, the pool is a (4, n) array and each word one array operation
    # for all four pool words (a (4, 1) column of multipliers, broadcast over the keys).
    for col in cols[_POOL:]:
        if isinstance(col, int) and isinstance(pool, list):
            for i_dst in range(_POOL):
                pool[i_dst] = _mix(pool[i_dst], _hashmix(col, hc))
            continue
        if isinstance(pool, list):
            pool = np.array(pool, dtype=np.uint32)[:, None]
        mult_in, mult_out = _multipliers(hc, _POOL)
        h = (np.asarray(col, dtype=np.uint32) ^ mult_in) * mult_out  # _hashmix
        h ^= h >> np.uint32(16)
        mixed = _MIX_L * pool - _MIX_R * h  # _mix (wraps modulo 2**32 as the C code does)
        pool = mixed ^ (mixed >> np.uint32(16))
    # generate_state(4, uint64): 8 words cycling over the pool (each hashed with the next
    # multiplier of its own sequence), paired little-endian; one (8, n) array operation.
    if isinstance(pool, list):
        pool = np.array(pool, dtype=np.uint32)[:, None]
    mult_in, mult_out = _multipliers(_HashConst(_INIT_B), 8, _MULT_B)
    v = (pool[[i % _POOL for i in range(8)]] ^ mult_in) * mult_out
    v ^= v >> np.uint32(16)
    state = np.broadcast_to(v, (8, n)).T.astype("<u4", order="C")
    return state.view("<u8").astype(np.uint64)


class _FixedSeed(ISeedSequence):
    """A seed sequence whose PCG64 state is already known (see `_spawn_states_array`)."""

    __slots__ = ("state",)

    def __init__(self, state: np.ndarray) -> None:
        self.state = state

    def generate_state(self, n_words, dtype=np.uint32):
        """The precomputed state (PCG64 asks for exactly 4 uint64 words)."""
        if n_words != 4 or np.dtype(dtype) != np.uint64:  # pragma: no cover
            raise ValueError("a fixed seed only seeds PCG64")
        return self.state


_VERIFIED: bool | None = None


def _batch_seeding_ok() -> bool:
    """Once per process: whether the array hash gives numpy's states (else fall back)."""
    global _VERIFIED
    if _VERIFIED is None:
        keys = np.array([[1_000_003, 0, 2], [7, 2**32 - 1, 0]])
        got = _spawn_states_array(2**70 + 12345, keys)
        want = [np.random.SeedSequence(2**70 + 12345, spawn_key=tuple(int(x) for x in k))
                .generate_state(4, np.uint64) for k in keys]
        _VERIFIED = all(np.array_equal(g, w) for g, w in zip(got, want, strict=True))
    return _VERIFIED


def spawn_states(entropy: int, keys: np.ndarray) -> np.ndarray:
    """PCG64 seed states (n, 4) of ``SeedSequence(entropy, spawn_key=key)`` for each row.

    Bit-identical to numpy's `SeedSequence`; computed for all keys at once.
    """
    keys = np.asarray(keys, dtype=np.int64)
    if keys.size and _batch_seeding_ok() and int(keys.max()) < 2**32 and keys.min() >= 0:
        return _spawn_states_array(entropy, keys)
    return np.array([np.random.SeedSequence(entropy, spawn_key=tuple(int(x) for x in k))
                     .generate_state(4, np.uint64) for k in keys], dtype=np.uint64) \
        .reshape(len(keys), 4)


def generator_from_state(state: np.ndarray) -> np.random.Generator:
    """The PCG64 generator seeded with a state from `spawn_states`."""
    return np.random.Generator(np.random.PCG64(_FixedSeed(np.ascontiguousarray(state))))


class _LazyGenerator:
    """Stands for a generator until its first draw, then builds it (from its seed state).

    A customer's stream has three generators, and a customer who never orders never needs
    its normal variates: the generator is made when first drawn from.
    """

    __slots__ = ("_state", "_gen")

    def __init__(self, state: np.ndarray) -> None:
        self._state = state
        self._gen = None

    def _generator(self) -> np.random.Generator:
        if self._gen is None:
            self._gen = generator_from_state(self._state)
        return self._gen

    def random(self, size: int) -> np.ndarray:
        """``Generator.random(size)``."""
        return self._generator().random(size)

    def standard_normal(self, size: int) -> np.ndarray:
        """``Generator.standard_normal(size)``."""
        return self._generator().standard_normal(size)

    def standard_exponential(self, size: int) -> np.ndarray:
        """``Generator.standard_exponential(size)``."""
        return self._generator().standard_exponential(size)


def stream_from_state(states: np.ndarray, block: int | tuple = BLOCK) -> Stream:
    """A `Stream` whose three generators have the given seed states (3, 4).

    The same stream as ``Stream(default_rng(SeedSequence(e, spawn_key=key)))``, whose
    children have the keys ``key + (0,)``, ``key + (1,)`` and ``key + (2,)``. Each
    generator is made at its first draw.
    """
    return Stream(None, block, (_LazyGenerator(states[0]), _LazyGenerator(states[1]),
                                _LazyGenerator(states[2])))


# ----------------------------------------------------------------------- daily draws
class Poisson:
    """``rng.poisson(lam)``, one call at a time, with the uniforms drawn in blocks.

    For ``lam < 10`` numpy draws a Poisson variate by multiplying uniforms until their
    product falls below ``exp(-lam)``; this class does the same with the same uniforms
    (`Generator.random` gives exactly the doubles that algorithm consumes), drawn in blocks.
    For ``lam >= 10`` (numpy's other algorithm) it puts the generator where the values used
    so far leave it and lets numpy draw. The values are numpy's, bit for bit (checked once
    per process; if the check fails every call goes to numpy).

    Args:
        rng: The generator; nothing else may draw from it.
        block: Uniforms drawn per vectorised call.
    """

    __slots__ = ("_rng", "_block", "_values", "_i", "_state")

    def __init__(self, rng: np.random.Generator, block: int = 256) -> None:
        self._rng = rng
        self._block = block
        self._values: list[float] = []
        self._i = 0
        self._state = None  # generator state before the current block

    def _refill(self) -> None:
        self._state = self._rng.bit_generator.state
        self._values = self._rng.random(self._block).tolist()
        self._i = 0

    def __call__(self, lam: float) -> int:
        """One Poisson variate with mean ``lam``."""
        if lam == 0.0:
            return 0
        if not 0.0 < lam < 10.0 or not (_POISSON_OK or _poisson_ok()):  # NaN: numpy raises
            return self._numpy(lam)
        enlam = math.exp(-lam)
        x = 0
        prod = 1.0
        values = self._values
        i = self._i
        while True:
            if i >= len(values):
                self._refill()
                values, i = self._values, 0
            prod *= values[i]
            i += 1
            if prod > enlam:
                x += 1
            else:
                self._i = i
                return x

    def _numpy(self, lam: float) -> int:
        """A draw by numpy itself, from where the uniforms used so far leave the generator."""
        if self._state is not None:
            bg = self._rng.bit_generator
            bg.state = self._state
            bg.advance(self._i)  # one 64-bit output per double
        self._values, self._i, self._state = [], 0, None
        return int(self._rng.poisson(lam))


_POISSON_OK: bool | None = None


def _poisson_ok() -> bool:
    """Once per process: whether `Poisson` gives numpy's values (else numpy draws all)."""
    global _POISSON_OK
    if _POISSON_OK is None:
        _POISSON_OK = True  # the check itself uses the fast path
        lams = [0.01, 0.3, 1.0, 2.5, 7.0, 9.99, 12.0, 0.5, 30.0, 3.0] * 20
        mine = Poisson(np.random.default_rng(12345), block=7)
        ref = np.random.default_rng(12345)
        _POISSON_OK = all(mine(lam) == int(ref.poisson(lam)) for lam in lams)
    return _POISSON_OK


class ScreenedUniforms:
    """Uniforms taken ``n`` at a time (one per customer slot and day), screened in blocks.

    The same values as calling ``rng.random(n)`` once a day, but drawn for many days at
    once, and only those below ``bound`` are handed out: a defection draw at or above the
    largest hazard any customer can have decides nothing.

    Args:
        rng: The generator; nothing else may draw from it.
        bound: Values at or above it are skipped.
    """

    __slots__ = ("_rng", "_bound", "_values", "_hits", "_hit_values", "_h", "_pos")

    def __init__(self, rng: np.random.Generator, bound: float) -> None:
        self._rng = rng
        self._bound = bound
        self._values = np.empty(0)
        self._hits: list[int] = []
        self._hit_values: list[float] = []
        self._h = 0
        self._pos = 0

    def take(self, n: int, days_hint: int = 1) -> tuple[list[int], list[float]]:
        """Today's ``n`` draws: positions (0..n-1) and values of those below the bound.

        Args:
            n: Number of draws (customer slots) today.
            days_hint: Days left to run, to size the next block (speed only).
        """
        pos = self._pos
        if pos + n > self._values.size:
            self._refill(n, days_hint)
            pos = 0
        end = pos + n
        self._pos = end
        hits, h = self._hits, self._h
        if h >= len(hits) or hits[h] >= end:
            return [], []
        j = bisect.bisect_left(hits, end, h)
        self._h = j
        return [k - pos for k in hits[h:j]], self._hit_values[h:j]

    def _refill(self, n: int, days_hint: int) -> None:
        days = max(1, min(days_hint, 65536 // max(n, 1)))
        fresh = self._rng.random(n * days)
        kept = self._values[self._pos:]
        values = np.concatenate([kept, fresh]) if kept.size else fresh
        hits = np.flatnonzero(values < self._bound)
        self._values = values
        self._hits = hits.tolist()
        self._hit_values = values[hits].tolist()
        self._h = 0
        self._pos = 0
