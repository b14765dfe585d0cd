"""The Optuna peer of orchard-bench-search's tpe_vs_optuna: Optuna's TPESampler on Branin or
Hartmann-6, one sequential study per seed, printing the best value of each as one JSON line.

    PY=$(bash bench/setup_optuna_venv.sh | tail -n1)
    $PY bench/peer_optuna_tpe.py --function branin --seeds 30 --evaluations 50

--multivariate picks Optuna's default for a single objective since 4.x (a joint Parzen estimator
over all parameters); without it the sampler is univariate, one estimator per parameter, which is
the algorithm Orchard's TPE implements.
"""

import argparse
import json
import math
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


def branin(trial):
    x1 = trial.suggest_float("x1", -5.0, 10.0)
    x2 = trial.suggest_float("x2", 0.0, 15.0)
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1 * x1 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


def hartmann6(trial):
    x = [trial.suggest_float(f"x{j}", 0.0, 1.0) for j in range(6)]
    total = 0.0
    for alpha, a, p in zip(HARTMANN6_ALPHA, HARTMANN6_A, HARTMANN6_P):
        total += alpha * math.exp(-sum(a[j] * (x[j] - p[j]) ** 2 for j in range(6)))
    return -total


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--function", choices=["branin", "hartmann6"], required=True)
    parser.add_argument("--seeds", type=int, default=30)
    parser.add_argument("--evaluations", type=int, default=50)
    parser.add_argument("--startup", type=int, default=10)
    parser.add_argument("--candidates", type=int, default=24)
    parser.add_argument("--multivariate", action="store_true")
    args = parser.parse_args()

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    objective = branin if args.function == "branin" else hartmann6
    bests = []
    start = time.perf_counter()
    for seed in range(1, args.seeds + 1):
        sampler = optuna.samplers.TPESampler(
            n_startup_trials=args.startup,
            n_ei_candidates=args.candidates,
            multivariate=args.multivariate,
            seed=seed,
        )
        study = optuna.create_study(direction="minimize", sampler=sampler)
        study.optimize(objective, n_trials=args.evaluations)
        bests.append(study.best_value)
    print(json.dumps({
        "function": args.function,
        "optuna": optuna.__version__,
        "multivariate": args.multivariate,
        "bests": bests,
        "median_best": statistics.median(bests),
        "seconds": time.perf_counter() - start,
    }))


if __name__ == "__main__":
    main()
