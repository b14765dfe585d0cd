"""The Ray Tune peer of Orchard's per-trial overhead benchmark: N trials of a trainable that does
almost nothing, so the wall time of Tuner.fit() is the framework's own cost of scheduling, starting,
reporting from and finishing each trial. Run it with the venv from bench/setup_ray_venv.sh.
Prints exactly one JSON line on stdout; Ray's own output goes to stderr or nowhere."""
import argparse
import json
import logging
import math
import os
import shutil
import sys
import tempfile
import time

# These must be set before ray is imported: Ray reads them at import or at ray.init, and the new
# console output is otherwise chosen before RunConfig(verbose=0) is seen.
os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
os.environ.setdefault("RAY_DEDUP_LOGS", "0")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no network here; don't even try
os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")

import ray  # noqa: E402
from ray import tune  # noqa: E402

STEPS = 5  # reports per trial: enough to exercise the result path, too few to cost anything


def trainable(config):
    # The arithmetic is deliberately negligible; each report is a round trip through Tune.
    x = 1.0
    for step in range(STEPS):
        x = x * (1.0 - config["lr"]) + math.sqrt(step + 1) * config["lr"]
        tune.report({"loss": x, "step": step})


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--cpus", type=int, default=os.cpu_count())
    args = parser.parse_args()

    # Anything Ray (or a library it pulls in) prints on stdout would corrupt the one JSON line the
    # caller parses, so stdout is pointed at stderr until the end and the real one kept aside.
    json_out = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())

    workdir = tempfile.mkdtemp(prefix="orchard-ray-")
    try:
        start = time.perf_counter()
        # A fresh single-node cluster sized to the requested cores; its session files live under
        # workdir (a short path: Ray's unix sockets have a ~107 character limit) so they go too.
        ray.init(num_cpus=args.cpus, include_dashboard=False, logging_level=logging.ERROR,
                 log_to_driver=False, _temp_dir=os.path.join(workdir, "ray"))
        init_seconds = time.perf_counter() - start

        tuner = tune.Tuner(
            tune.with_resources(trainable, {"cpu": 1}),
            param_space={"lr": tune.loguniform(1e-4, 1e-1)},
            tune_config=tune.TuneConfig(num_samples=args.trials, max_concurrent_trials=args.cpus,
                                        metric="loss", mode="min"),
            run_config=tune.RunConfig(storage_path=os.path.join(workdir, "results"), verbose=0,
                                      progress_reporter=None),
        )
        start = time.perf_counter()
        results = tuner.fit()
        seconds = time.perf_counter() - start

        # A trial that raised still "finishes" from fit()'s point of view, so count the ones that
        # ran every step rather than trusting the absence of an exception.
        done = sum(1 for r in results if r.error is None and r.metrics.get("training_iteration") == STEPS)
        if len(results) != args.trials or done != args.trials:
            print(f"only {done} of {args.trials} trials completed ({results.num_errors} errors)",
                  file=sys.stderr)
            return 1
    finally:
        ray.shutdown()
        shutil.rmtree(workdir, ignore_errors=True)

    json_out.write(json.dumps({"trials": args.trials, "seconds": round(seconds, 3),
                               "trials_per_second": round(args.trials / seconds, 2),
                               "init_seconds": round(init_seconds, 3),
                               "ray_version": ray.__version__}) + "\n")
    json_out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
