"""The Optuna peer of orchard-bench-search's tpe_vs_optuna: Optuna's TPESampler on Branin, Hartmann-6
or Rosenbrock-10, one study per seed, printing the best value of each as one JSON line.

    PY=$(bash bench/setup_optuna_venv.sh | tail -n1)
    $PY bench/peer_optuna_tpe.py --function branin --seeds 30 --evaluations 50 [--in-flight 4]

--multivariate models all parameters jointly and --constant-liar counts running trials among the
worst; Optuna 5's TPESampler() turns both on for one objective. Without them the sampler is
univariate (one estimator per parameter) and ignores running trials.
--in-flight N keeps N trials asked and not yet told, as N workers would: each trial's parameters are
drawn when it is asked, and the oldest is told first (as orchard's simulation evaluates them), then
the next is asked.
"""

import argparse
import json
import math
import collections
import statistics
import time

import optuna

HARTMANN6_ALPHA = [1.0, 1.2, 3.0, 3.2]
HARTMANN6_A = [
    [10, 3, 17, 3.5, 1.7, 8],
    [0.05, 10, 17, 0.1, 8, 14],
    [3, 3.5, 1.7, 10, 17, 8],
    [17, 8, 0.05, 10, 0.1, 14],
]
HARTMANN6_P = [
    [0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886],
    [0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991],
    [0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650],
    [0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381],
]


def branin(x):
    x1, x2 = x
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1 * x1 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


def hartmann6(x):
    total = 0.0
    for alpha, a, p in zip(HARTMANN6_ALPHA, HARTMANN6_A, HARTMANN6_P):
        total += alpha * math.exp(-sum(a[j] * (x[j] - p[j]) ** 2 for j in range(6)))
    return -total


def rosenbrock10(x):
    return sum(100 * (x[j + 1] - x[j] ** 2) ** 2 + (1 - x[j]) ** 2 for j in range(9))


# Each function's parameters: (name, low, high), as tests/util/search_simulation.h defines them.
FUNCTIONS = {
    "branin": (branin, [("x1", -5.0, 10.0), ("x2", 0.0, 15.0)]),
    "hartmann6": (hartmann6, [(f"x{j}", 0.0, 1.0) for j in range(6)]),
    "rosenbrock10": (rosenbrock10, [(f"x{j}", -5.0, 10.0) for j in range(10)]),
}


def run_study(sampler, function, space, evaluations, in_flight):
    study = optuna.create_study(direction="minimize", sampler=sampler)
    running = collections.deque()
    asked = 0

    def ask():
        trial = study.ask()
        running.append((trial, [trial.suggest_float(name, low, high) for name, low, high in space]))

    while asked < min(in_flight, evaluations):
        ask()
        asked += 1
    while running:
        trial, x = running.popleft()
        study.tell(trial, function(x))
        if asked < evaluations:
            ask()
            asked += 1
    return study.best_value


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--function", choices=sorted(FUNCTIONS), required=True)
    parser.add_argument("--seeds", type=int, default=30)
    parser.add_argument("--evaluations", type=int, default=50)
    parser.add_argument("--startup", type=int, default=10)
    parser.add_argument("--candidates", type=int, default=24)
    parser.add_argument("--multivariate", action="store_true")
    parser.add_argument("--constant-liar", action="store_true")
    parser.add_argument("--in-flight", type=int, default=1)
    args = parser.parse_args()

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    function, space = FUNCTIONS[args.function]
    bests = []
    start = time.perf_counter()
    for seed in range(1, args.seeds + 1):
        sampler = optuna.samplers.TPESampler(
            n_startup_trials=args.startup,
            n_ei_candidates=args.candidates,
            multivariate=args.multivariate,
            constant_liar=args.constant_liar,
            seed=seed,
        )
        bests.append(run_study(sampler, function, space, args.evaluations, args.in_flight))
    print(json.dumps({
        "function": args.function,
        "optuna": optuna.__version__,
        "multivariate": args.multivariate,
        "constant_liar": args.constant_liar,
        "in_flight": args.in_flight,
        "bests": bests,
        "median_best": statistics.median(bests),
        "seconds": time.perf_counter() - start,
    }))


if __name__ == "__main__":
    main()
