"""Run seeds: a pure function of (master seed, design row, replicate).

Every run seed derives only from these three integers through
``numpy.random.SeedSequence``, so results are bit-identical whatever the number of
workers, the executor, the shard split or a resumption. Regimes of a compared pair share
the seed of their (row, replicate): common random numbers.
"""

from __future__ import annotations

import numpy as np


def run_seed(master_seed: int, row: int, replicate: int) -> int:
    """The seed of one run, a non-negative 63-bit integer.

    Args:
        master_seed: The experiment's master seed.
        row: Index of the design point (0-based).
        replicate: Index of the replicate (0-based).

    Returns:
        An integer in [0, 2**63) that depends only on the three arguments.
    """
    ss = np.random.SeedSequence(entropy=int(master_seed), spawn_key=(int(row), int(replicate)))
    return int(ss.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))
