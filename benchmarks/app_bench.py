"""Explorer responsiveness: one step plus the redraw of every view, at the default size.

Run: ``python -m benchmarks.app_bench [--days-before 200] [--steps 20] [--browser]``
(needs the ``app`` extra). The page (side by side: relationship vs sacred, default
parameters) is rendered in-process by Solara exactly as the server renders it; after
``--days-before`` days, Step is pressed ``--steps`` times and each press is timed: the
model's day for both runs, then the redraw (five figures to PNG, the KPI table, Solara's
diff). ``--browser`` also times Step end to end in headless Chromium (click to the new day
on screen, images included). Medians with min and max; writes
``benchmarks/results/app.json``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import warnings
from pathlib import Path

from benchmarks import save_json


def _stats(xs: list[float]) -> dict[str, float]:
    return {"median_s": statistics.median(xs), "min_s": min(xs), "max_s": max(xs), "n": len(xs)}


def in_process(days_before: int, steps: int) -> dict[str, dict[str, float]]:
    """Time Step (model + redraw) and the model's step alone, in a Solara render."""
    import ipyvuetify as v
    import solara
    from relsim.model import app

    warnings.simplefilter("ignore", UserWarning)
    settings = solara.reactive(app.default_settings())
    model = solara.reactive(app.Explorer(settings.value))
    _, rc = solara.render(solara.AppLayout(children=[app.Page(settings=settings, model=model)]),
                          handle_error=False)
    for _ in range(days_before):
        model.value.step()
    step_button = rc.find(v.Btn, children=["Step"]).widget
    step_button.fire_event("click", None)  # warm up (first drawing loads fonts)
    total, cpu, model_only = [], [], []
    for _ in range(steps):
        t0, c0 = time.perf_counter(), time.process_time()
        step_button.fire_event("click", None)
        total.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        t0 = time.perf_counter()
        model.value.step()
        model_only.append(time.perf_counter() - t0)
    return {"step_and_redraw": _stats(total), "step_and_redraw_cpu": _stats(cpu),
            "model_step_both_runs": _stats(model_only)}


def in_browser(steps: int) -> dict[str, float]:
    """Time Step from the click to the new day on screen, in headless Chromium."""
    import importlib.util

    script = Path(__file__).resolve().parents[1] / "docs" / "app_screenshot.py"
    spec = importlib.util.spec_from_file_location("relsim_app_screenshot", script)
    shot = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(shot)
    times = []
    with shot.app_server() as url, shot.chromium() as driver:
        driver.get(url)
        shot.wait_for_text(driver, "Day 0 of", timeout=120)
        shot.step_and_wait(driver)
        for _ in range(steps):
            t0 = time.perf_counter()
            shot.step_and_wait(driver)
            times.append(time.perf_counter() - t0)
    return _stats(times)


def main(argv: list[str] | None = None) -> int:
    """Print and store the explorer's step and redraw times."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days-before", type=int, default=200)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--browser", action="store_true")
    args = ap.parse_args(argv)
    try:
        import solara  # noqa: F401
    except ImportError:
        print("app_bench: the app extra is not installed (pip install -e '.[app]'), skipped")
        return 0
    out = {"days_before": args.days_before, "load_avg_1min": os.getloadavg()[0],
           **in_process(args.days_before, args.steps)}
    if args.browser:
        out["browser_click_to_new_day"] = in_browser(max(5, args.steps // 2))
    for key, val in out.items():
        if isinstance(val, dict):
            print(f"{key:28s} median {val['median_s'] * 1000:7.0f} ms "
                  f"(min {val['min_s'] * 1000:.0f}, max {val['max_s'] * 1000:.0f}, n={val['n']})")
    print(f"load average during the run: {out['load_avg_1min']:.1f} (2 cores)")
    save_json("app", out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
