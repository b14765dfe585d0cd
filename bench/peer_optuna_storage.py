"""The Optuna peer of orchard-bench-coordinator --optuna-python: Optuna's storage taking intermediate values.

    PY=$(bash bench/setup_optuna_venv.sh | tail -n1)
    $PY bench/peer_optuna_storage.py --storage rdb --clients 32 --rate 500 --seconds 10 --dir /tmp/x

One study in a SQLite file through RDBStorage (what most Optuna users run), or in a journal file
through JournalStorage with JournalFileBackend. --clients processes each ask one trial, then call
trial.report(value, step) in an open loop: together --rate calls a second, each on its own schedule,
latency measured from the call's scheduled time so that queueing shows, nothing sent after the end. A call that raises (say
"database is locked") counts as an error. Prints one JSON line: reports, elapsed seconds, latency
percentiles in ms, errors and the first error.
"""

import argparse
import json
import math
import multiprocessing
import os
import time

import optuna


def open_storage(kind, folder):
    if kind == "rdb":
        return optuna.storages.RDBStorage("sqlite:///" + os.path.join(folder, "optuna.db"))
    backend = optuna.storages.journal.JournalFileBackend(os.path.join(folder, "optuna.journal"))
    return optuna.storages.JournalStorage(backend)


def client(kind, folder, index, clients, rate, seconds, ready, go, start_time, out):
    try:
        study = optuna.load_study(study_name="bench", storage=open_storage(kind, folder))
        trial = study.ask()
    except Exception as error:  # no trial: this client's failure is the measurement
        ready.wait(timeout=60)
        out.put(([], 1, "setting up: " + repr(error)[:200], time.time()))
        return
    ready.wait(timeout=60)
    go.wait(timeout=60)
    start = start_time.value
    period = clients / rate
    first = start + period * index / clients
    end = start + seconds
    latencies, errors, first_error = [], 0, ""
    step = 0
    while True:
        scheduled = first + step * period
        # As orchard's reporters: nothing is sent after the end, however far behind schedule.
        if scheduled >= end or time.time() >= end:
            break
        delay = scheduled - time.time()
        if delay > 0:
            time.sleep(delay)
        try:
            trial.report(1.0 / (step + 1), step)
        except Exception as error:  # the peer's failure is a measurement, not a crash of the bench
            errors += 1
            first_error = first_error or repr(error)[:200]
        latencies.append((time.time() - scheduled) * 1000.0)  # failed calls too, as orchard's side counts them
        step += 1
    out.put((latencies, errors, first_error, time.time()))


def percentile(values, q):
    # Nearest rank, as orchard-bench-coordinator computes it.
    if not values:
        return 0.0
    return values[min(len(values), max(1, math.ceil(q * len(values)))) - 1]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--storage", choices=["rdb", "journal"], required=True)
    parser.add_argument("--clients", type=int, required=True)
    parser.add_argument("--rate", type=float, required=True)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--dir", required=True)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    optuna.create_study(study_name="bench", storage=open_storage(args.storage, args.dir))

    out = multiprocessing.Queue()
    # Every client has its trial before the clock starts.
    ready, go = multiprocessing.Barrier(args.clients + 1), multiprocessing.Event()
    start_time = multiprocessing.Value("d", 0.0)
    processes = [
        multiprocessing.Process(target=client, args=(args.storage, args.dir, i, args.clients, args.rate, args.seconds,
                                                     ready, go, start_time, out))
        for i in range(args.clients)
    ]
    for process in processes:
        process.start()
    ready.wait(timeout=120)
    start = time.time() + 0.2
    start_time.value = start
    go.set()
    results = [out.get() for _ in processes]
    for process in processes:
        process.join()
    latencies = sorted(value for result in results for value in result[0])
    errors = sum(result[1] for result in results)
    first_error = next((result[2] for result in results if result[2]), "")
    elapsed = max(result[3] for result in results) - start
    print(json.dumps({
        "reports": len(latencies),
        "elapsed": elapsed,
        "p50_ms": percentile(latencies, 0.5),
        "p99_ms": percentile(latencies, 0.99),
        "p999_ms": percentile(latencies, 0.999),
        "errors": errors,
        "first_error": first_error,
    }))


if __name__ == "__main__":
    main()
