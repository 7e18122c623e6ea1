"""Properties of the pure pieces: shard split, chunking, part names, seeds."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from relsim.experiments.runner import Chunker, parse_shard, run_keys
from relsim.experiments.seeds import run_seed
from relsim.experiments.store import part_name

regimes_st = st.sampled_from([[""], ["a", "b"], ["relationship", "sacred", "x"]])


@settings(max_examples=60, deadline=None)
@given(rows=st.integers(0, 40), reps=st.integers(1, 4), regimes=regimes_st,
       shards=st.integers(1, 7))
def test_shards_partition_the_runs(rows, reps, regimes, shards):
    everything = list(run_keys(rows, reps, regimes))
    assert len(everything) == rows * reps * len(regimes) == len(set(everything))
    parts = [list(run_keys(rows, reps, regimes, (i, shards))) for i in range(shards)]
    assert sorted(k for p in parts for k in p) == sorted(everything)
    for i, part in enumerate(parts):
        assert all(row % shards == i for row, _, _ in part)  # pairs stay in one shard


@settings(max_examples=60, deadline=None)
@given(n=st.integers(0, 500), workers=st.integers(1, 8),
       times=st.lists(st.floats(1e-6, 5.0), min_size=1, max_size=50),
       max_runs=st.integers(1, 300))
def test_chunker_yields_every_key_once_in_order_within_bounds(n, workers, times, max_runs):
    keys = [(i, 0, "") for i in range(n)]
    chunker = Chunker(keys, workers, target_s=2.0, max_runs=max_runs)
    seen = []
    for i, chunk in enumerate(chunker):
        assert 1 <= len(chunk) <= max_runs
        seen.extend(chunk)
        chunker.observe(len(chunk), times[i % len(times)] * len(chunk))
    assert seen == keys


@given(keys=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 50),
                               st.sampled_from(["", "a", "b"])), min_size=1, max_size=30,
                     unique=True))
def test_part_names_depend_only_on_the_set_of_keys(keys):
    assert part_name(keys) == part_name(list(reversed(keys)))
    assert part_name(keys).startswith("part-") and part_name(keys).endswith(".parquet")
    if len(keys) > 1:
        assert part_name(keys) != part_name(keys[1:])


@given(master=st.integers(0, 2**32), row=st.integers(0, 10**6), rep=st.integers(0, 1000))
def test_run_seeds_are_63_bit_and_distinguish_rows_and_replicates(master, row, rep):
    seed = run_seed(master, row, rep)
    assert 0 <= seed < 2**63 and seed == run_seed(master, row, rep)
    assert seed != run_seed(master, row + 1, rep) and seed != run_seed(master, row, rep + 1)


@given(i=st.integers(0, 50), n=st.integers(1, 50))
def test_parse_shard(i, n):
    text = f"{i}/{n}"
    if i < n:
        assert parse_shard(text) == (i, n)
    else:
        try:
            parse_shard(text)
        except ValueError as exc:
            assert "0 <= I < N" in str(exc)
        else:
            raise AssertionError("accepted an out-of-range shard")
