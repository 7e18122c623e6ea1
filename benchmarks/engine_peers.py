"""Children of the engine throughput benchmark (`benchmarks.runner_bench`, part ``ishigami``).

Each runs in a fresh interpreter, so that its wall-clock time, measured by the parent from
process start to exit, is what a user waits for; it prints one JSON line with its own
timings. This module imports nothing heavy itself (no Mesa: importing Mesa switches
multiprocessing's default start method, which would change how EMA Workbench starts its
workers).

- ``relsim``: the ``relsim sweep`` command as the ``relsim`` console script runs it
  (``cli.entry``, which also ends the process as the script does) on an experiment file,
  results on disk, ``--quiet``; reports the seconds inside the command after the modules
  it imports (`imports`) are loaded, which is comparable with EMA's evaluator block.
- ``imports``: only those imports, then exit as ``cli.entry`` does: the floor of the
  command's process time.
- ``ema``: EMA Workbench's ``MultiprocessingEvaluator`` on the same function and the same
  kind of design (Sobol' through SALib, N = ``samples``, second-order, 3 factors on
  [-pi, pi]), results in memory only; reports the seconds of the evaluator block (pool
  start, sampling and runs) and EMA's version. Its model is ``tests/sweep_models.ishigami``,
  the function relsim sweeps, called through a keyword wrapper as EMA requires.

Run: ``python -m benchmarks.engine_peers relsim|ema '{json args}'``.
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()

import json  # noqa: E402 - the start time is taken first
import math  # noqa: E402
import sys  # noqa: E402


def ishigami_text(samples: int) -> str:
    """The experiment file of the Ishigami sweep: Sobol' (second order) of x1..x3 on ±pi."""
    pi = repr(math.pi)
    return (f'[experiment]\nname = "ishigami"\nmodel = "sweep_models:ishigami"\n'
            f'design = "sobol"\nsamples = {samples}\ncalc_second_order = true\n'
            f'seed = 12345\noutputs = ["y"]\n[factors]\n'
            + "".join(f"{x} = [-{pi}, {pi}]\n" for x in ("x1", "x2", "x3")))


def imports() -> dict:
    """What ``relsim sweep`` of a Sobol' design of ``sweep_models:ishigami`` imports."""
    import SALib.sample.sobol  # noqa: F401 - the design (SALib imports scipy.stats)
    import sweep_models  # noqa: F401 - the model
    from relsim.experiments import cli, runner  # noqa: F401 - the command

    return {"in_process_s": time.perf_counter() - STARTED}


def relsim(experiment: str, out: str, workers: int) -> dict:
    """The ``relsim sweep`` command, in this process (its imports loaded first)."""
    from relsim.experiments import cli

    imported = imports()["in_process_s"]
    t0 = time.perf_counter()
    argv = ["sweep", experiment, "--out", out, "--workers", str(workers), "--quiet"]
    # What the console script runs: the command, then the exit's preparation (cli.entry;
    # a relsim older than cli.entry ran cli.main, which the before/after figures need).
    entry = getattr(cli, "entry", None)
    try:
        status = cli.main(argv) if entry is None else entry(argv)
    except SystemExit as done:
        status = done.code
    t1 = time.perf_counter()
    if status != 0:
        raise SystemExit(f"relsim sweep exited with status {status}")
    return {"command_s": t1 - t0, "in_process_s": t1 - STARTED, "imports_s": imported}


def _ishigami_kw(x1: float = 0.0, x2: float = 0.0, x3: float = 0.0) -> dict:
    from sweep_models import ishigami

    return ishigami({"x1": x1, "x2": x2, "x3": x3}, 0)


def ema(samples: int, workers: int) -> dict:
    """EMA Workbench's MultiprocessingEvaluator on the Ishigami function."""
    import warnings

    warnings.filterwarnings("ignore")
    import ema_workbench
    from ema_workbench import Model as EmaModel
    from ema_workbench import MultiprocessingEvaluator, RealParameter, ScalarOutcome
    from ema_workbench.em_framework.evaluators import Samplers

    model = EmaModel("ishigami", function=_ishigami_kw)
    model.uncertainties = [RealParameter(n, -math.pi, math.pi) for n in ("x1", "x2", "x3")]
    model.outcomes = [ScalarOutcome("y")]
    t0 = time.perf_counter()
    with MultiprocessingEvaluator(model, n_processes=workers) as evaluator:
        experiments, outcomes = evaluator.perform_experiments(
            samples, uncertainty_sampling=Samplers.SOBOL)
    t1 = time.perf_counter()
    runs = len(experiments)
    if runs != len(outcomes["y"]) or not all(map(math.isfinite, outcomes["y"])):
        raise SystemExit("EMA Workbench returned incomplete results")
    return {"runs": runs, "evaluator_s": t1 - t0, "in_process_s": t1 - STARTED,
            "version": ema_workbench.__version__}


def main() -> int:
    """``python -m benchmarks.engine_peers KIND ARGS_JSON``."""
    kind, args = sys.argv[1], json.loads(sys.argv[2])
    result = {"relsim": relsim, "ema": ema, "imports": imports}[kind](**args)
    print(json.dumps(result))
    if kind == "imports" and "entry" in vars(sys.modules["relsim.experiments.cli"]):
        import gc

        gc.freeze()  # end as the command's process does (cli.entry)
    return 0


if __name__ == "__main__":
    sys.exit(main())
