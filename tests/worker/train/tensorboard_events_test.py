#!/usr/bin/env python3
"""orchard-train's TensorBoard event files, read back by TensorBoard's own reader.

Trains two short trials of a sweep recipe the way the worker starts them (the trial's
hyperparameters as --set overrides, --out <storage>/<sweep>-<id>/trial-<n>), then reads each
trial's folder with tensorboard's EventAccumulator and its hparams plugin parsers, and checks:
  - every record of the trial's metrics.jsonl is a scalar point with the same tag, step and value
    (as a 32-bit float, which is how TensorBoard stores scalars), at the steps the recipe logs at;
  - the HParams session holds the trial's hyperparameters (numbers as numbers) and its group, its
    end says success, and the experiment lists the sweep's parameters and metric;
  - a trial resumed from an older checkpoint than its last step (its newest checkpoint deleted)
    shows each step once, with the resumed attempt's values, as its metrics file does.

  tensorboard_events_test.py --train build/bin/orchard-train --recipe recipes/quickstart.yaml
"""
import argparse
import glob
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import unittest

from tensorboard.backend.event_processing import event_accumulator
from tensorboard.plugins.hparams import api_pb2
from tensorboard.plugins.hparams import metadata as hparams_metadata

ARGS = None

# Short trials of the quickstart sweep: 24 steps, a point every 4, an evaluation and a checkpoint
# every 8. trial-1 is then resumed from step 16 to 32.
COMMON = ["train.steps=24", "data.samples=1024", "metrics.log_interval=4", "train.eval_interval=8",
          "checkpoint.interval=8", "train.threads=1"]
TRIALS = {
    "trial-0": {"optimizer.lr": "0.0123", "model.hidden": "[32]", "train.batch_size": "32"},
    "trial-1": {"optimizer.lr": "0.003", "model.hidden": "[64, 64]", "train.batch_size": "64"},
}
LOG_STEPS = {"trial-0": [4, 8, 12, 16, 20, 24], "trial-1": [4, 8, 12, 16, 20, 24, 28, 32]}
EVAL_STEPS = {"trial-0": [8, 16, 24], "trial-1": [8, 16, 24, 32]}
EVENT_FILES = {"trial-0": 1, "trial-1": 2}


def as_float32(value):
    return struct.unpack("f", struct.pack("f", value))[0]


class TensorBoardEventsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.storage = tempfile.mkdtemp(prefix="orchard-tb-")
        cls.sweep_dir = os.path.join(cls.storage, "quickstart-1")
        for trial, hparams in TRIALS.items():
            command = [ARGS.train, ARGS.recipe, "--out", os.path.join(cls.sweep_dir, trial), "--quiet"]
            for override in COMMON + [f"{path}={value}" for path, value in hparams.items()]:
                command += ["--set", override]
            run = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=240)
            if run.returncode != 0:
                raise AssertionError(f"{' '.join(command)} exited with {run.returncode}:\n{run.stdout}")
            if "TensorBoard" in run.stdout:
                raise AssertionError(f"{trial} warned about its TensorBoard file:\n{run.stdout}")
        # trial-1 again, from its checkpoint of step 16 (not 24): the first attempt's points at 20
        # and 24 are past it, and 8 more steps.
        trial_dir = os.path.join(cls.sweep_dir, "trial-1")
        shutil.rmtree(os.path.join(trial_dir, "checkpoints", "step-24"))
        command = [ARGS.train, ARGS.recipe, "--out", trial_dir, "--quiet", "--resume"]
        for override in COMMON + [f"{path}={value}" for path, value in TRIALS["trial-1"].items()] + ["train.steps=32"]:
            command += ["--set", override]
        run = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=240)
        if run.returncode != 0:
            raise AssertionError(f"{' '.join(command)} exited with {run.returncode}:\n{run.stdout}")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.storage, ignore_errors=True)

    def load(self, trial):
        folder = os.path.join(self.sweep_dir, trial)
        files = glob.glob(os.path.join(folder, "*tfevents*"))
        self.assertEqual(len(files), EVENT_FILES[trial], files)
        accumulator = event_accumulator.EventAccumulator(
            folder, size_guidance={event_accumulator.SCALARS: 0, event_accumulator.TENSORS: 0})
        accumulator.Reload()
        return accumulator

    def metrics(self, trial):
        """{name: [(step, value, time)]} from the trial's metrics.jsonl."""
        records = {}
        with open(os.path.join(self.sweep_dir, trial, "metrics.jsonl")) as f:
            for line in f:
                r = json.loads(line)
                records.setdefault(r["name"], []).append((r["step"], r["value"], r["time"]))
        return records

    def test_scalars_match_the_metrics_file(self):
        for trial in TRIALS:
            with self.subTest(trial=trial):
                accumulator = self.load(trial)
                records = self.metrics(trial)
                self.assertEqual(sorted(accumulator.Tags()["scalars"]), sorted(records))
                self.assertEqual(sorted(records), sorted(["train_loss", "lr", "grad_norm", "samples_per_second",
                                                          "step_time_ms", "val_loss", "val_accuracy"]))
                for name, points in records.items():
                    scalars = accumulator.Scalars(name)
                    self.assertEqual([(s.step, s.value) for s in scalars],
                                     [(step, as_float32(value)) for step, value, _ in points], name)
                    for s, (_, _, time) in zip(scalars, points):
                        self.assertAlmostEqual(s.wall_time, time, delta=1.0)
                self.assertEqual([s.step for s in accumulator.Scalars("train_loss")], LOG_STEPS[trial])
                self.assertEqual([s.step for s in accumulator.Scalars("val_loss")], EVAL_STEPS[trial])

    def test_hparams_session_and_experiment(self):
        for trial, hparams in TRIALS.items():
            with self.subTest(trial=trial):
                content = self.load(trial).PluginTagToContent(hparams_metadata.PLUGIN_NAME)
                self.assertEqual(sorted(content), sorted([hparams_metadata.EXPERIMENT_TAG,
                                                          hparams_metadata.SESSION_START_INFO_TAG,
                                                          hparams_metadata.SESSION_END_INFO_TAG]))
                start = hparams_metadata.parse_session_start_info_plugin_data(
                    content[hparams_metadata.SESSION_START_INFO_TAG])
                self.assertEqual(start.group_name, "quickstart-1/" + trial)
                self.assertEqual(sorted(start.hparams), sorted(hparams))
                for path, text in hparams.items():
                    value = start.hparams[path]
                    if path == "model.hidden":
                        self.assertEqual(value.WhichOneof("kind"), "string_value", path)
                        self.assertEqual(value.string_value, text)
                    else:
                        self.assertEqual(value.WhichOneof("kind"), "number_value", path)
                        self.assertEqual(value.number_value, float(text))

                end = hparams_metadata.parse_session_end_info_plugin_data(
                    content[hparams_metadata.SESSION_END_INFO_TAG])
                self.assertEqual(end.status, api_pb2.STATUS_SUCCESS)
                self.assertGreaterEqual(end.end_time_secs, start.start_time_secs)

                experiment = hparams_metadata.parse_experiment_plugin_data(content[hparams_metadata.EXPERIMENT_TAG])
                self.assertEqual([(h.name, h.type) for h in experiment.hparam_infos],
                                 [("optimizer.lr", api_pb2.DATA_TYPE_FLOAT64),
                                  ("model.hidden", api_pb2.DATA_TYPE_STRING),
                                  ("train.batch_size", api_pb2.DATA_TYPE_FLOAT64)])
                self.assertEqual([(m.name.group, m.name.tag) for m in experiment.metric_infos],
                                 [("", "val_loss"), ("", "train_loss")])


def main():
    global ARGS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", required=True, help="the orchard-train binary")
    parser.add_argument("--recipe", required=True, help="a recipe with a sweep block: recipes/quickstart.yaml")
    ARGS, rest = parser.parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == "__main__":
    main()
