"""What the command line imports, and how its process ends (issue 12, item 3).

Each case runs in a fresh interpreter, so that the modules a command imports are its
own (the test process has imported everything already). Timings are not tested here:
`python -m benchmarks.startup_bench` measures them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

TESTS = Path(__file__).resolve().parent
#: Packages that `relsim --help` must not import (module prefixes).
HEAVY = ("numpy", "pandas", "pyarrow", "scipy", "SALib", "mesa", "matplotlib", "seaborn",
         "networkx", "dask", "distributed", "solara")
#: Standard-library modules only `relsim app` uses.
APP_ONLY = ("urllib.request", "webbrowser", "http.client")


def _python(code: str, *, cwd: Path | None = None, path: Path | None = None,
            ) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if path is not None:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(path), env.get("PYTHONPATH"))
                                            if p)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=120)


def _imported(modules: list[str], names: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if m in names or m.split(".")[0] in names)


def test_help_imports_no_heavy_package_and_no_app_helper():
    proc = _python("""
        import contextlib, io, json, sys
        from relsim.experiments import cli
        for argv in (["--help"], ["sweep", "--help"], ["run", "--help"]):
            with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
                cli.main(argv)
        print(json.dumps(sorted(sys.modules)))
    """)
    assert proc.returncode == 0, proc.stderr
    modules = json.loads(proc.stdout)
    assert "relsim.experiments.cli_sweep" in modules  # the parser was built
    assert _imported(modules, HEAVY) == []
    assert [m for m in APP_ONLY if m in modules] == []


def _plain_model(tmp_path: Path) -> Path:
    """An experiment sweeping a plain function that reports what its process imported."""
    (tmp_path / "plainmodel.py").write_text(textwrap.dedent("""
        import math
        import sys

        def f(params, seed):
            return {"y": math.sin(params["x1"]) + params["x2"] ** 2,
                    "mesa": float("mesa" in sys.modules),
                    "matplotlib": float("matplotlib" in sys.modules)}
    """))
    path = tmp_path / "plain.toml"
    path.write_text(textwrap.dedent("""
        [experiment]
        name = "plain"
        model = "plainmodel:f"
        design = "sobol"
        samples = 8
        seed = 3
        [factors]
        x1 = [0.0, 1.0]
        x2 = [-1.0, 1.0]
    """))
    return path


def test_sweep_of_a_plain_function_imports_neither_mesa_nor_plotting(tmp_path):
    exp = _plain_model(tmp_path)
    out = tmp_path / "out"
    proc = _python(f"""
        import json, sys
        from relsim.experiments import cli
        status = cli.main(["sweep", {str(exp)!r}, "--out", {str(out)!r}, "--workers", "2",
                           "--quiet"])
        print(json.dumps({{"status": status, "modules": sorted(sys.modules)}}))
    """, path=tmp_path)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["status"] == 0
    modules = result["modules"]
    assert "SALib.sample.sobol" in modules  # it did sample and run the design
    unused = ("mesa", "matplotlib", "seaborn", "networkx", "dask", "distributed", "solara")
    assert _imported(modules, unused) == []
    assert "relsim.model.model" not in modules and "relsim.analysis.figures" not in modules
    assert [m for m in APP_ONLY if m in modules] == []
    # ... nor do its workers, where the runs ran.
    import pyarrow.parquet as pq

    runs = pq.read_table(out / "plain" / "runs").to_pydict()
    assert len(runs["y"]) == 8 * 4 and set(runs["status"]) == {"ok"}
    assert set(runs["mesa"]) == {0.0} and set(runs["matplotlib"]) == {0.0}


def test_console_entry_passes_the_status_on_and_freezes_the_collector(tmp_path):
    for argv, status in ((["params", "--json"], 0), (["sweep", str(tmp_path / "nope.toml")], 2)):
        proc = _python(f"""
            import atexit, gc, sys
            from relsim.experiments import cli
            atexit.register(lambda: print("frozen", gc.get_freeze_count(), file=sys.stderr))
            cli.entry({argv!r})
        """)
        assert proc.returncode == status, proc.stderr
        frozen = [line for line in proc.stderr.splitlines() if line.startswith("frozen")]
        assert len(frozen) == 1 and int(frozen[0].split()[1]) > 1000


def test_console_script_and_module_run_the_entry_point():
    root = Path(__file__).resolve().parents[1]
    text = (root / "pyproject.toml").read_text()
    assert 'relsim = "relsim.experiments.cli:entry"' in text
    proc = subprocess.run([sys.executable, "-m", "relsim.experiments", "sweep", "nope.toml"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "experiment file not found" in proc.stderr
