// The TensorBoard event writer and the trainer's log around it, read back with the framing reader
// and Orchard's copies of TensorBoard's protos (tensorboard_events_test.py reads them with
// TensorBoard's own reader).
#include "worker/train/tensorboard_writer.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "core/recipe.h"
#include "tensorboard/event.pb.h"
#include "tensorboard/hparams.pb.h"
#include "tests/util/test_util.h"
#include "worker/train/progress.h"
#include "worker/train/tensorboard_log.h"
#include "worker/train/tfrecord.h"

namespace orchard::train {
namespace {

namespace tb = orchard::tensorboard;
namespace hp = orchard::tensorboard::hparams;
namespace fs = std::filesystem;
using orchard::testing::ReadFile;
using orchard::testing::TempDir;
using orchard::testing::WriteFile;

std::vector<tb::Event> ReadEvents(const std::string& path) {
  auto records = ParseRecords(ReadFile(path));
  EXPECT_TRUE(records.ok()) << records.status().message();
  std::vector<tb::Event> events;
  if (!records.ok()) return events;
  for (const std::string& record : *records) {
    EXPECT_TRUE(events.emplace_back().ParseFromString(record));
  }
  return events;
}

std::vector<std::string> EventFiles(const fs::path& dir) {
  std::vector<std::string> files;
  if (!fs::exists(dir)) return files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().filename().string().find("tfevents") != std::string::npos) files.push_back(entry.path().string());
  }
  return files;
}

// The hparams plugin's content of an event's only summary value, checked to look like TensorBoard's.
hp::HParamsPluginData PluginData(const tb::Event& event, const std::string& tag) {
  EXPECT_EQ(event.summary().value_size(), 1);
  const tb::Summary::Value& value = event.summary().value(0);
  EXPECT_EQ(value.tag(), tag);
  EXPECT_EQ(value.metadata().plugin_data().plugin_name(), "hparams");
  EXPECT_EQ(value.tensor().dtype(), tb::DT_FLOAT);
  EXPECT_EQ(value.tensor().tensor_shape().dim_size(), 1);
  hp::HParamsPluginData data;
  EXPECT_TRUE(data.ParseFromString(value.metadata().plugin_data().content()));
  EXPECT_EQ(data.version(), 0);
  return data;
}

TEST(TensorBoardWriterTest, WritesTheBytesOfTensorBoardsOwnWriter) {
  TempDir dir;
  auto writer = TensorBoardWriter::Open(dir / "events", 1700000000.5);
  ASSERT_TRUE(writer.ok()) << writer.status().message();
  (*writer)->AddScalar(7, "train_loss", 0.5, 1700000001.25);
  ASSERT_TRUE((*writer)->Flush().ok());
  // tensorboard.summary.writer.record_writer.RecordWriter of Event{wall_time: 1700000000.5,
  // file_version: "brain.Event:2"} and Event{wall_time: 1700000001.25, step: 7, summary: {value:
  // {tag: "train_loss", simple_value: 0.5}}}.
  const std::string expected_hex =
      "1800000000000000a37f4b220900002040fc54d9411a0d627261696e2e4576656e743a322b353110200000000000000029eda950"
      "0900005040fc54d94110072a130a110a0a747261696e5f6c6f7373150000003f8b9f07c6";
  std::string hex;
  for (unsigned char c : ReadFile(dir / "events")) {
    static const char* digits = "0123456789abcdef";
    hex += digits[c >> 4], hex += digits[c & 15];
  }
  EXPECT_EQ(hex, expected_hex);
}

TEST(TensorBoardWriterTest, NothingReachesTheFileBeforeFlush) {
  TempDir dir;
  auto writer = TensorBoardWriter::Open(dir / "events", 1.0);
  ASSERT_TRUE(writer.ok());
  (*writer)->AddScalar(1, "lr", 0.1, 2.0);
  EXPECT_EQ(ReadFile(dir / "events"), "");
  ASSERT_TRUE((*writer)->Flush().ok());
  EXPECT_EQ(ReadEvents(dir / "events").size(), 2u);
  (*writer)->AddScalar(2, "lr", 0.2, 3.0);
  ASSERT_TRUE((*writer)->Flush().ok());
  const std::vector<tb::Event> events = ReadEvents(dir / "events");
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[2].step(), 2);
  EXPECT_FLOAT_EQ(events[2].summary().value(0).simple_value(), 0.2f);
}

TEST(TensorBoardWriterTest, HParamsRecords) {
  TempDir dir;
  auto writer = TensorBoardWriter::Open(dir / "events", 100.0);
  ASSERT_TRUE(writer.ok());
  TensorBoardExperiment experiment;
  experiment.hparams = {{"optimizer.lr", TensorBoardExperiment::Type::kNumber},
                        {"model.hidden", TensorBoardExperiment::Type::kString},
                        {"mixed", TensorBoardExperiment::Type::kUnset}};
  experiment.metrics = {"val_accuracy", "train_loss"};
  (*writer)->AddRestart(41, 100.5);
  (*writer)->AddExperiment(experiment, 101.0);
  (*writer)->AddSessionStart({{"optimizer.lr", 0.01}, {"model.hidden", std::string("[64, 64]")}}, "sweep-1/trial-3", 102.0);
  (*writer)->AddSessionEnd(SessionStatus::kSuccess, 103.0);
  (*writer)->AddSessionEnd(SessionStatus::kFailure, 104.0);
  (*writer)->AddSessionEnd(SessionStatus::kStopped, 105.0);
  ASSERT_TRUE((*writer)->Flush().ok());

  const std::vector<tb::Event> events = ReadEvents(dir / "events");
  ASSERT_EQ(events.size(), 7u);
  EXPECT_EQ(events[0].file_version(), "brain.Event:2");
  EXPECT_EQ(events[0].wall_time(), 100.0);
  EXPECT_EQ(events[1].session_log().status(), tb::SessionLog::START);
  EXPECT_EQ(events[1].step(), 41);

  const hp::Experiment columns = PluginData(events[2], "_hparams_/experiment").experiment();
  ASSERT_EQ(columns.hparam_infos_size(), 3);
  EXPECT_EQ(columns.hparam_infos(0).name(), "optimizer.lr");
  EXPECT_EQ(columns.hparam_infos(0).type(), hp::DATA_TYPE_FLOAT64);
  EXPECT_EQ(columns.hparam_infos(1).type(), hp::DATA_TYPE_STRING);
  EXPECT_EQ(columns.hparam_infos(2).type(), hp::DATA_TYPE_UNSET);
  ASSERT_EQ(columns.metric_infos_size(), 2);
  EXPECT_EQ(columns.metric_infos(0).name().tag(), "val_accuracy");
  EXPECT_EQ(columns.metric_infos(0).name().group(), "");

  const hp::SessionStartInfo start = PluginData(events[3], "_hparams_/session_start_info").session_start_info();
  EXPECT_EQ(start.group_name(), "sweep-1/trial-3");
  EXPECT_EQ(start.start_time_secs(), 102.0);
  ASSERT_EQ(start.hparams().size(), 2u);
  EXPECT_EQ(start.hparams().at("optimizer.lr").number_value(), 0.01);
  EXPECT_EQ(start.hparams().at("model.hidden").string_value(), "[64, 64]");

  struct Case { size_t event; hp::Status status; double end; };
  for (const Case& c : std::vector<Case>{{4, hp::STATUS_SUCCESS, 103}, {5, hp::STATUS_FAILURE, 104}, {6, hp::STATUS_UNKNOWN, 105}}) {
    const hp::SessionEndInfo end = PluginData(events[c.event], "_hparams_/session_end_info").session_end_info();
    EXPECT_EQ(end.status(), c.status) << c.event;
    EXPECT_EQ(end.end_time_secs(), c.end) << c.event;
  }
}

TEST(TensorBoardWriterTest, FileNames) {
  EXPECT_EQ(TensorBoardWriter::FileName(1700000000.25, "node-1", 4242, 0),
            "events.out.tfevents.1700000000.node-1.250000.4242.0.orchard");
  EXPECT_EQ(TensorBoardWriter::FileName(12.0, "h", 1, 3), "events.out.tfevents.0000000012.h.000000.1.3.orchard");
  // A later attempt sorts after an earlier one within the same second, whatever their pids.
  EXPECT_LT(TensorBoardWriter::FileName(1700000000.5, "h", 99999, 0),
            TensorBoardWriter::FileName(1700000000.5001, "h", 100000, 0));
}

TEST(TensorBoardWriterTest, CreateMakesANewFileEachTime) {
  TempDir dir;
  auto first = TensorBoardWriter::Create(dir / "a/b", 1700000000.0);
  auto second = TensorBoardWriter::Create(dir / "a/b", 1700000000.0);
  ASSERT_TRUE(first.ok()) << first.status().message();
  ASSERT_TRUE(second.ok()) << second.status().message();
  EXPECT_NE((*first)->path(), (*second)->path());
  EXPECT_EQ(EventFiles(dir.path() / "a/b").size(), 2u);

  WriteFile(dir / "file", "not a directory");
  auto refused = TensorBoardWriter::Create(dir / "file", 1.0);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find(dir / "file"), std::string::npos) << refused.status().message();
}

TEST(TensorBoardLogTest, AFailedWriteWarnsOnceAndTurnsTheLogOff) {
  std::ostringstream warnings;
  TensorBoardRun run;
  run.group_name = "g";
  // /dev/full opens, and every write to it fails with ENOSPC.
  TensorBoardLog log = TensorBoardLog::Start(TensorBoardWriter::Open("/dev/full", 1.0), run, std::nullopt, 1.0, &warnings);
  EXPECT_FALSE(log.on());
  for (int step = 1; step <= 3; ++step) {
    log.Record(step, "train_loss", 0.5, 2.0);
    log.Flush();
  }
  log.End(SessionStatus::kSuccess, 3.0);
  EXPECT_EQ(warnings.str(),
            "orchard-train: warning: no more TensorBoard records for this run: cannot write the TensorBoard file "
            "/dev/full: No space left on device (training goes on, and so does the metrics file)\n");
}

TEST(TensorBoardLogTest, AFileThatCannotBeCreatedWarnsOnce) {
  TempDir dir;
  WriteFile(dir / "file", "");
  std::ostringstream warnings;
  TensorBoardLog log =
      TensorBoardLog::Start(TensorBoardWriter::Create(dir / "file/sub", 1.0), TensorBoardRun{}, 5, 1.0, &warnings);
  EXPECT_FALSE(log.on());
  log.Record(6, "lr", 0.1, 2.0);
  log.Flush();
  EXPECT_NE(warnings.str().find("no more TensorBoard records for this run: cannot create the directory"), std::string::npos)
      << warnings.str();
  EXPECT_EQ(warnings.str().find('\n'), warnings.str().size() - 1) << warnings.str();
}

TEST(TensorBoardLogTest, OpensWithTheRunsRecordsAndEndsItsSession) {
  TempDir dir;
  TensorBoardRun run = {"sweep-1/trial-0", {{"train.batch_size", 32.0}}, TensorBoardExperiment{}};
  TensorBoardLog log = TensorBoardLog::Start(TensorBoardWriter::Create(dir / "out", 10.0), run, 200, 10.0);
  ASSERT_TRUE(log.on());
  const std::vector<std::string> files = EventFiles(dir.path() / "out");
  ASSERT_EQ(files.size(), 1u);
  // Flushed at once: a live TensorBoard lists the session before the first point.
  std::vector<tb::Event> events = ReadEvents(files[0]);
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[1].session_log().status(), tb::SessionLog::START);
  EXPECT_EQ(events[1].step(), 201);
  EXPECT_EQ(events[2].summary().value(0).tag(), "_hparams_/experiment");
  EXPECT_EQ(events[3].summary().value(0).tag(), "_hparams_/session_start_info");

  log.Record(201, "train_loss", 1.5, 11.0);
  log.Record(201, "lr", 0.25, 11.0);
  EXPECT_EQ(ReadEvents(files[0]).size(), 4u);
  log.Flush();
  log.End(SessionStatus::kFailure, 12.0);
  events = ReadEvents(files[0]);
  ASSERT_EQ(events.size(), 7u);
  EXPECT_EQ(events[4].step(), 201);
  EXPECT_EQ(events[4].summary().value(0).simple_value(), 1.5f);
  EXPECT_EQ(events[5].summary().value(0).tag(), "lr");
  EXPECT_EQ(PluginData(events[6], "_hparams_/session_end_info").session_end_info().status(), hp::STATUS_FAILURE);
}

TEST(TensorBoardLogTest, YamlNumbers) {
  struct Case { std::string text; std::optional<double> number; };
  for (const Case& c : std::vector<Case>{{"32", 32.0}, {"0.01", 0.01}, {"1.0e-4", 1e-4}, {" -2.5 ", -2.5},
                                         {"[64, 64]", std::nullopt}, {"relu", std::nullopt}, {"true", std::nullopt},
                                         {"", std::nullopt}, {"1.5x", std::nullopt}, {"nan", std::nullopt},
                                         {"inf", std::nullopt}, {"0x10", std::nullopt}}) {
    EXPECT_EQ(YamlNumber(c.text), c.number) << '"' << c.text << '"';
  }
}

Recipe MustParse(const std::string& yaml, const std::vector<std::string>& overrides) {
  auto recipe = ParseRecipe(yaml, "/recipes/r.yaml", overrides);
  EXPECT_TRUE(recipe.ok()) << recipe.status().message();
  return recipe.ok() ? *recipe : Recipe{};
}

TEST(TensorBoardLogTest, RunOfASweepTrial) {
  const Recipe recipe = MustParse(R"(name: q
model: {type: mlp}
data: {type: synthetic}
train: {steps: 10}
sweep:
  metric: val_accuracy
  mode: max
  parameters:
    optimizer.lr: {distribution: log_uniform, min: 1.0e-4, max: 1.0e-1}
    model.hidden: {values: [[32], [64, 64]]}
    train.batch_size: {values: [32, 64]}
    model.activation: {values: [relu, gelu]}
)",
                                  // The sweep's overrides, the trial's hyperparameters, the worker's threads.
                                  {"train.steps=20", "optimizer.lr=0.5", "optimizer.lr=0.0123", "model.hidden=[64, 64]",
                                   "train.batch_size=32", "model.activation=relu", "train.threads=2"});
  const TensorBoardRun run = TensorBoardRunOf(recipe, "/storage/q-7/trial-3/");
  EXPECT_EQ(run.group_name, "q-7/trial-3");
  ASSERT_EQ(run.hparams.size(), 4u);
  EXPECT_EQ(run.hparams[0].name, "optimizer.lr");
  EXPECT_EQ(run.hparams[0].value, (std::variant<double, std::string>(0.0123)));
  EXPECT_EQ(run.hparams[1].name, "model.hidden");
  EXPECT_EQ(run.hparams[1].value, (std::variant<double, std::string>(std::string("[64, 64]"))));
  EXPECT_EQ(run.hparams[2].value, (std::variant<double, std::string>(32.0)));
  EXPECT_EQ(run.hparams[3].value, (std::variant<double, std::string>(std::string("relu"))));
  ASSERT_TRUE(run.experiment.has_value());
  using Type = TensorBoardExperiment::Type;
  std::vector<std::pair<std::string, Type>> columns;
  for (const auto& h : run.experiment->hparams) columns.emplace_back(h.name, h.type);
  EXPECT_EQ(columns, (std::vector<std::pair<std::string, Type>>{{"optimizer.lr", Type::kNumber},
                                                                 {"model.hidden", Type::kString},
                                                                 {"train.batch_size", Type::kNumber},
                                                                 {"model.activation", Type::kString}}));
  EXPECT_EQ(run.experiment->metrics, (std::vector<std::string>{"val_accuracy", "val_loss", "train_loss"}));
}

TEST(TensorBoardLogTest, RunWithoutASweep) {
  const Recipe recipe = MustParse("name: solo\nmodel: {type: mlp}\ndata: {type: synthetic}\ntrain: {steps: 10}\n",
                                  {"optimizer.lr=0.01", "model.hidden=[8]", "optimizer.lr=0.02"});
  const TensorBoardRun run = TensorBoardRunOf(recipe, "runs/solo");
  EXPECT_EQ(run.group_name, "runs/solo");
  EXPECT_FALSE(run.experiment.has_value());
  ASSERT_EQ(run.hparams.size(), 2u);
  EXPECT_EQ(run.hparams[0].name, "optimizer.lr");
  EXPECT_EQ(run.hparams[0].value, (std::variant<double, std::string>(0.02)));
  EXPECT_EQ(run.hparams[1].name, "model.hidden");
}

TEST(TensorBoardLogTest, OnlyRankZeroWrites) {
  TempDir dir;
  Progress rank_one(nullptr, 1);
  rank_one.OpenTensorBoard(dir / "one", TensorBoardRun{}, std::nullopt);
  rank_one.Record(1, "train_loss", 1.0);
  rank_one.Flush();
  rank_one.EndTensorBoard(SessionStatus::kSuccess);
  EXPECT_TRUE(EventFiles(dir.path() / "one").empty());

  Progress rank_zero(nullptr, 0);
  rank_zero.OpenTensorBoard(dir / "zero", TensorBoardRun{}, std::nullopt);
  rank_zero.Record(1, "train_loss", 1.0);
  rank_zero.Flush();
  rank_zero.EndTensorBoard(SessionStatus::kSuccess);
  const std::vector<std::string> files = EventFiles(dir.path() / "zero");
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(ReadEvents(files[0]).size(), 4u);  // file_version, session start, train_loss, session end
}

}  // namespace
}  // namespace orchard::train
