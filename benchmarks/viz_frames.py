"""Frame time of the visual server: one Step click = a model month plus redrawing the page's charts.

    python -m benchmarks.viz_frames [--steps 24] [--scale 0.05]

Rendered server-side with solara.render (what the server does before it sends the new images);
the browser adds only the transfer and painting of two PNGs.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=24)
    ap.add_argument("--scale", type=float, default=None, help="default: the lever's default (0.05)")
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    import ipyvuetify as v
    import solara

    from simmodel.viz import app

    if args.scale is not None:
        app.model.value = app.make_model(scale=args.scale)
    box, rc = solara.render(solara.AppLayout(children=[app.page]), handle_error=False)
    step = next(b for b in rc.find(v.Btn).widgets if b.children == ["Step"])
    times = []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        step.click()
        times.append(time.perf_counter() - t0)
    m = app.model.value
    print(f"visual server, scale {m.params['run.scale']} ({m.firms.n:,} agents): {args.steps} frames, "
          f"median {1e3 * statistics.median(times):.0f} ms, max {1e3 * max(times):.0f} ms per frame "
          f"(model month + both figures)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
