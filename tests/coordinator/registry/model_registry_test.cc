// The model registry through the coordinator: a real SQLite file and storage root, a hand-moved
// clock, and fake workers that report what trainers would (checkpoint files, metrics, exits).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <optional>

#include "core/file_tree.h"
#include "tests/coordinator/coordinator_fixture.h"
#include "tests/util/test_util.h"

namespace orchard::coordinator {
namespace {

namespace fs = std::filesystem;
using orchard::testing::ReadFile;

// Two trials, told apart by their learning rate; the data seed says which night's data it is.
std::string Recipe(const std::string& mode, int64_t data_seed) {
  return "name: nightly\n"
         "model: {type: mlp, hidden: [8]}\n"
         "data: {type: synthetic, samples: 64, features: 4, classes: 2, seed: " + std::to_string(data_seed) + "}\n"
         "train: {steps: 5, batch_size: 8}\n"
         "sweep:\n"
         "  strategy: grid\n"
         "  metric: " + std::string(mode == "max" ? "val_accuracy" : "val_loss") + "\n"
         "  mode: " + mode + "\n"
         "  parameters:\n"
         "    optimizer.lr: {values: [0.1, 0.01]}\n";
}

class RegistryTest : public CoordinatorFixture {
 protected:
  void SetUp() override { Reopen(); }

  // A restart, and the fake worker registering again.
  void Reopen() {
    CoordinatorFixture::Reopen();
    worker_ = Register(8);
  }

  StatusOr<v1::Sweep> Submit(const std::string& recipe, const std::string& model, double margin = 0,
                             const std::string& owner = kLocalUser) {
    v1::SubmitSweepRequest request;
    request.set_recipe_yaml(recipe);
    request.set_recipe_file("/recipes/nightly.yaml");
    request.set_model(model);
    request.set_promotion_margin(margin);
    return coordinator_->Submit(request, owner);
  }

  std::vector<v1::Attempt> Lease() { return CoordinatorFixture::Lease(worker_, 8); }

  StatusOr<v1::Decision> Report(const v1::Attempt& attempt, const std::string& metric, double value, int64_t step = 5) {
    return ReportMetric(attempt, metric, value, step);
  }

  Status Exit(const v1::Attempt& attempt, int code, const std::string& reason = "") {
    return CoordinatorFixture::Exit(worker_, attempt, code, reason);
  }

  // What a trainer leaves: checkpoints/step-5/{rank-0.pt, MANIFEST}, reported to the coordinator.
  void Checkpoint(const v1::Attempt& attempt, const std::string& content) {
    const std::string relative = attempt.output_dir() + "/checkpoints/step-5";
    const fs::path dir = fs::path(coordinator_->storage_root()) / relative;
    fs::create_directories(dir);
    std::ofstream(dir / "rank-0.pt") << content;
    std::ofstream(dir / "MANIFEST") << "{\"step\": 5}";
    v1::ReportCheckpointRequest request;
    request.set_attempt_id(attempt.attempt_id());
    request.set_token(attempt.token());
    request.set_step(5);
    request.set_path(relative);
    ASSERT_TRUE(coordinator_->ReportCheckpoint(request).ok());
  }

  // Runs the sweep's trials as a worker would: trial n checkpoints "weights of trial n" and reports
  // `values[n]`; the champion's evaluation, if leased, reports `champion_value` (nullopt: it fails).
  void RunTrials(const v1::Sweep& sweep, const std::vector<double>& values, std::optional<double> champion_value) {
    for (const v1::Attempt& attempt : Lease()) {
      if (attempt.evaluate_only()) {
        ASSERT_EQ(NumberOf(sweep.id(), attempt.trial_id()), kChampionEvaluationTrial);
        if (champion_value) {
          ASSERT_TRUE(Report(attempt, sweep.metric(), *champion_value).ok());
          ASSERT_TRUE(Exit(attempt, 0).ok());
        } else {
          ASSERT_TRUE(Exit(attempt, 2, "invalid recipe: the checkpoint does not match this model").ok());
        }
        continue;
      }
      const int64_t number = NumberOf(sweep.id(), attempt.trial_id());
      Checkpoint(attempt, "weights of trial " + std::to_string(number));
      ASSERT_TRUE(Report(attempt, sweep.metric(), values.at(number)).ok());
      ASSERT_TRUE(Exit(attempt, 0).ok());
    }
  }

  int64_t NumberOf(int64_t sweep_id, int64_t trial_id) {
    const std::vector<v1::Trial> trials = coordinator_->ListTrials(sweep_id).value();
    for (const v1::Trial& t : trials)
      if (t.id() == trial_id) return t.number();
    return -2;
  }

  std::vector<std::string> Events(int64_t sweep_id) {
    std::vector<std::string> messages;
    const Coordinator::SweepEvents events = coordinator_->EventsAfter(sweep_id, 0).value();
    for (const EventRecord& e : events.events) messages.push_back(e.message);
    return messages;
  }

  bool HasEvent(int64_t sweep_id, const std::string& text) {
    for (const std::string& e : Events(sweep_id))
      if (e.find(text) != std::string::npos) return true;
    return false;
  }

  v1::Model Model(const std::string& name) {
    auto model = coordinator_->GetModel(name);
    EXPECT_TRUE(model.ok()) << model.status().message();
    return model.ok() ? *model : v1::Model();
  }

  // Submits and runs a whole sweep; its id.
  int64_t Night(const std::string& recipe, const std::vector<double>& values, std::optional<double> champion_value,
                double margin = 0) {
    auto sweep = Submit(recipe, "nightly", margin);
    EXPECT_TRUE(sweep.ok()) << sweep.status().message();
    if (!sweep.ok()) return 0;
    RunTrials(*sweep, values, champion_value);
    EXPECT_EQ(coordinator_->GetSweep(sweep->id()).value().state(), v1::SWEEP_COMPLETED);
    return sweep->id();
  }

  std::string worker_;
};

TEST_F(RegistryTest, WithoutAChampionTheBestTrialBecomesV1WithItsRecipeDataAndCheckpointCopy) {
  auto sweep = Submit(Recipe("max", 1), "nightly");
  ASSERT_TRUE(sweep.ok()) << sweep.status().message();
  EXPECT_EQ(sweep->model(), "nightly");
  const std::vector<v1::Trial> trials = coordinator_->ListTrials(sweep->id()).value();
  for (const v1::Trial& trial : trials) EXPECT_GE(trial.number(), 0) << "no champion, so nothing to evaluate";
  RunTrials(*sweep, {0.80, 0.90}, std::nullopt);

  const v1::Model model = Model("nightly");
  EXPECT_EQ(model.owner(), kLocalUser);
  EXPECT_EQ(model.champion(), 1);
  ASSERT_EQ(model.versions_size(), 1);
  const v1::ModelVersion& v1 = model.versions(0);
  EXPECT_EQ(v1.metric(), "val_accuracy");
  EXPECT_DOUBLE_EQ(v1.value(), 0.90);
  EXPECT_EQ(v1.sweep_id(), sweep->id());
  EXPECT_EQ(v1.trial_number(), 1);
  ASSERT_EQ(v1.hyperparameters_size(), 1);
  EXPECT_EQ(v1.hyperparameters(0).path(), "optimizer.lr");
  EXPECT_EQ(v1.hyperparameters(0).value(), "0.01");
  EXPECT_EQ(v1.data(), "synthetic (64 samples) (seed 1, 20% validation)");
  EXPECT_EQ(v1.recipe_name(), "nightly");
  EXPECT_EQ(v1.directory(), "registry/nightly/v1");
  EXPECT_EQ(v1.checkpoint(), "registry/nightly/v1/step-5");
  // recipe.yaml is the trial's own recipe: its learning rate, no sweep block.
  const std::string recipe = ReadFile(fs::path(model.storage_root()) / v1.directory() / "recipe.yaml");
  EXPECT_EQ(recipe, v1.recipe_yaml());
  EXPECT_NE(recipe.find("lr: 0.01"), std::string::npos) << recipe;
  EXPECT_EQ(recipe.find("sweep"), std::string::npos) << recipe;
  EXPECT_EQ(ReadFile(fs::path(model.storage_root()) / v1.checkpoint() / "rank-0.pt"), "weights of trial 1");

  ASSERT_EQ(model.decisions_size(), 1);
  const v1::PromotionDecision& d = model.decisions(0);
  EXPECT_EQ(d.kind(), "challenge");
  EXPECT_TRUE(d.promoted());
  EXPECT_DOUBLE_EQ(d.challenger_value(), 0.90);
  EXPECT_EQ(d.champion_version(), 0);
  EXPECT_FALSE(d.has_champion_value());
  EXPECT_EQ(d.new_champion(), 1);
  EXPECT_TRUE(HasEvent(sweep->id(), "model nightly: challenger trial 1 val_accuracy 0.9: promoted as v1")) << Events(sweep->id()).back();
}

TEST_F(RegistryTest, TheChampionIsEvaluatedOnTheNewDataByAWorkerAndItsFigureIsWhatTheDecisionCompares) {
  Night(Recipe("max", 1), {0.80, 0.90}, std::nullopt);  // v1: trial 1, lr 0.01, 0.90 on night 1's data

  auto sweep = Submit(Recipe("max", 2), "nightly", /*margin=*/0.01);
  ASSERT_TRUE(sweep.ok()) << sweep.status().message();
  const std::vector<v1::Trial> trials = coordinator_->ListTrials(sweep->id()).value();
  ASSERT_EQ(trials.size(), 3u);
  const v1::Trial& evaluation = trials[0];
  EXPECT_EQ(evaluation.number(), kChampionEvaluationTrial);
  ASSERT_EQ(evaluation.hyperparameters_size(), 1) << "the champion's hyperparameters";
  EXPECT_EQ(evaluation.hyperparameters(0).value(), "0.01");
  EXPECT_EQ(evaluation.output_dir(), "nightly-2/champion-v1");
  // The champion's checkpoint, copied where the evaluation resumes from.
  EXPECT_EQ(ReadFile(fs::path(coordinator_->storage_root()) / evaluation.checkpoint() / "rank-0.pt"), "weights of trial 1");
  const v1::Sweep submitted = coordinator_->GetSweep(sweep->id()).value();
  EXPECT_EQ(submitted.trials_total(), 2) << "the evaluation is not one of the search's trials";
  EXPECT_EQ(submitted.trials_by_state().at("pending"), 2);

  const std::vector<v1::Attempt> attempts = Lease();
  ASSERT_EQ(attempts.size(), 3u);
  EXPECT_TRUE(attempts[0].evaluate_only());
  EXPECT_EQ(attempts[0].output_dir(), "nightly-2/champion-v1");
  std::vector<std::string> overrides(attempts[0].overrides().begin(), attempts[0].overrides().end());
  EXPECT_EQ(overrides, std::vector<std::string>{"optimizer.lr=0.01"});
  EXPECT_FALSE(attempts[1].evaluate_only());
  // The champion is better on this night's data than its challengers' search ever sees.
  auto decision = Report(attempts[0], "val_accuracy", 0.95);
  ASSERT_TRUE(decision.ok());
  EXPECT_EQ(*decision, v1::DECISION_CONTINUE);
  ASSERT_TRUE(Exit(attempts[0], 0).ok());
  const v1::Trial evaluated = coordinator_->ListTrials(sweep->id()).value()[0];
  EXPECT_EQ(evaluated.state(), v1::TRIAL_COMPLETED);
  EXPECT_EQ(evaluated.decision(), "") << "the strategy never decided about it";
  EXPECT_EQ(coordinator_->GetSweep(sweep->id()).value().state(), v1::SWEEP_RUNNING);
  EXPECT_FALSE(coordinator_->GetSweep(sweep->id()).value().has_best_trial()) << "the champion is not the sweep's best";
  for (size_t i = 1; i < attempts.size(); ++i) {
    Checkpoint(attempts[i], "weights of night 2 trial " + std::to_string(i - 1));
    ASSERT_TRUE(Report(attempts[i], "val_accuracy", i == 1 ? 0.955 : 0.93).ok());
    ASSERT_TRUE(Exit(attempts[i], 0).ok());
  }
  const v1::Sweep done = coordinator_->GetSweep(sweep->id()).value();
  EXPECT_EQ(done.state(), v1::SWEEP_COMPLETED);
  EXPECT_EQ(done.best_trial().number(), 0);

  // 0.955 beats 0.95 by less than the margin 0.01: v1 stays.
  v1::Model model = Model("nightly");
  EXPECT_EQ(model.champion(), 1);
  EXPECT_EQ(model.versions_size(), 1);
  ASSERT_EQ(model.decisions_size(), 2);
  const v1::PromotionDecision& d = model.decisions(1);
  EXPECT_EQ(d.sweep_id(), sweep->id());
  EXPECT_EQ(d.trial_number(), 0);
  EXPECT_DOUBLE_EQ(d.challenger_value(), 0.955);
  EXPECT_EQ(d.champion_version(), 1);
  ASSERT_TRUE(d.has_champion_value());
  EXPECT_DOUBLE_EQ(d.champion_value(), 0.95);
  EXPECT_DOUBLE_EQ(d.margin(), 0.01);
  EXPECT_FALSE(d.promoted());
  EXPECT_EQ(d.new_champion(), 1);
  EXPECT_TRUE(HasEvent(sweep->id(), "model nightly: challenger trial 0 val_accuracy 0.955 vs champion v1 0.95 on the "
                                    "same data: not promoted"));

  // Night 3: 0.97 against the champion's 0.95 clears the margin.
  const int64_t night3 = Night(Recipe("max", 3), {0.97, 0.6}, 0.95, /*margin=*/0.01);
  model = Model("nightly");
  EXPECT_EQ(model.champion(), 2);
  ASSERT_EQ(model.versions_size(), 2);
  EXPECT_EQ(model.versions(1).sweep_id(), night3);
  EXPECT_EQ(model.versions(1).data(), "synthetic (64 samples) (seed 3, 20% validation)");
  EXPECT_TRUE(model.decisions(2).promoted());
  EXPECT_DOUBLE_EQ(model.decisions(2).champion_value(), 0.95);
  EXPECT_TRUE(HasEvent(night3, "vs champion v1 0.95 on the same data: promoted as v2"));
}

TEST_F(RegistryTest, InMinModeLowerWinsAndTheMarginCounts) {
  struct Case {
    double challenger, champion, margin;
    bool promoted;
  };
  const Case cases[] = {{0.30, 0.40, 0.05, true}, {0.38, 0.40, 0.05, false}, {0.45, 0.40, 0.0, false}, {0.39, 0.40, 0.0, true}};
  Night(Recipe("min", 1), {0.5, 0.6}, std::nullopt);  // v1 from trial 0
  int64_t champion = 1;
  for (const Case& c : cases) {
    Night(Recipe("min", 2), {c.challenger, 9.0}, c.champion, c.margin);
    const v1::Model model = Model("nightly");
    const v1::PromotionDecision& d = model.decisions(model.decisions_size() - 1);
    EXPECT_EQ(d.promoted(), c.promoted) << c.challenger << " vs " << c.champion << ": " << d.reason();
    EXPECT_DOUBLE_EQ(d.challenger_value(), c.challenger);
    EXPECT_DOUBLE_EQ(d.champion_value(), c.champion);
    EXPECT_EQ(d.mode(), "min");
    if (c.promoted) ++champion;
    EXPECT_EQ(model.champion(), champion);
  }
}

TEST_F(RegistryTest, AFailedEvaluationKeepsTheChampionAndSaysWhy) {
  Night(Recipe("max", 1), {0.80, 0.90}, std::nullopt);
  const int64_t night2 = Night(Recipe("max", 2), {0.99, 0.98}, /*champion_value=*/std::nullopt);
  const v1::Model model = Model("nightly");
  EXPECT_EQ(model.champion(), 1);
  const v1::PromotionDecision& d = model.decisions(1);
  EXPECT_FALSE(d.promoted());
  EXPECT_DOUBLE_EQ(d.challenger_value(), 0.99);
  EXPECT_FALSE(d.has_champion_value());
  EXPECT_NE(d.reason().find("v1 stays"), std::string::npos) << d.reason();
  EXPECT_NE(d.reason().find("did not complete: invalid recipe: the checkpoint does not match this model"),
            std::string::npos) << d.reason();
  EXPECT_TRUE(HasEvent(night2, "vs champion v1 (not evaluated): not promoted"));
}

TEST_F(RegistryTest, ASearchThatFinishesFirstWaitsForTheEvaluationAcrossARestart) {
  Night(Recipe("max", 1), {0.80, 0.90}, std::nullopt);
  auto sweep = Submit(Recipe("max", 2), "nightly");
  ASSERT_TRUE(sweep.ok());
  std::vector<v1::Attempt> attempts = Lease();
  ASSERT_EQ(attempts.size(), 3u);
  for (size_t i = 1; i < attempts.size(); ++i) {
    Checkpoint(attempts[i], "night 2");
    ASSERT_TRUE(Report(attempts[i], "val_accuracy", 0.97).ok());
    ASSERT_TRUE(Exit(attempts[i], 0).ok());
  }
  EXPECT_EQ(coordinator_->GetSweep(sweep->id()).value().state(), v1::SWEEP_RUNNING);
  EXPECT_TRUE(HasEvent(sweep->id(), "the sweep ends when the champion's evaluation does"));
  EXPECT_EQ(coordinator_->ListTrials(sweep->id()).value()[0].state(), v1::TRIAL_RUNNING) << "not stopped with the search";

  const std::string evaluating_worker = worker_;
  Reopen();  // the evaluation's worker reports to the restarted coordinator
  ASSERT_TRUE(Report(attempts[0], "val_accuracy", 0.96).ok());
  ASSERT_TRUE(CoordinatorFixture::Exit(evaluating_worker, attempts[0], 0).ok());
  EXPECT_EQ(coordinator_->GetSweep(sweep->id()).value().state(), v1::SWEEP_COMPLETED);
  const v1::Model model = Model("nightly");
  EXPECT_EQ(model.champion(), 2);
  EXPECT_DOUBLE_EQ(model.decisions(1).champion_value(), 0.96);
}

TEST_F(RegistryTest, CancelingEndsTheEvaluationAndDecidesNothing) {
  Night(Recipe("max", 1), {0.80, 0.90}, std::nullopt);
  auto sweep = Submit(Recipe("max", 2), "nightly");
  ASSERT_TRUE(sweep.ok());
  ASSERT_TRUE(coordinator_->Cancel(sweep->id()).ok());
  EXPECT_EQ(coordinator_->ListTrials(sweep->id()).value()[0].state(), v1::TRIAL_CANCELED);
  EXPECT_EQ(Model("nightly").decisions_size(), 1);
}

TEST_F(RegistryTest, RollbackReturnsToTheChampionTheCurrentOneReplacedAndIsRecorded) {
  Night(Recipe("max", 1), {0.80, 0.90}, std::nullopt);  // v1
  Night(Recipe("max", 2), {0.95, 0.90}, 0.91);          // v2
  Night(Recipe("max", 3), {0.99, 0.90}, 0.92);          // v3
  ASSERT_EQ(Model("nightly").champion(), 3);

  auto rolled = coordinator_->RollbackModel("nightly", "alice");
  ASSERT_TRUE(rolled.ok()) << rolled.status().message();
  EXPECT_EQ(rolled->champion(), 2);
  const v1::PromotionDecision& d = rolled->decisions(rolled->decisions_size() - 1);
  EXPECT_EQ(d.kind(), "rollback");
  EXPECT_EQ(d.decided_by(), "alice");
  EXPECT_EQ(d.champion_version(), 3);
  EXPECT_EQ(d.new_champion(), 2);
  EXPECT_EQ(coordinator_->RollbackModel("nightly", "alice")->champion(), 1) << "v2 had replaced v1";
  auto nothing = coordinator_->RollbackModel("nightly", "alice");
  ASSERT_FALSE(nothing.ok());
  EXPECT_EQ(nothing.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(nothing.status().message().find("v1 was its first champion"), std::string::npos) << nothing.status().message();

  // A new champion replaces v1, so rolling it back returns to v1, not to the rolled-back v3.
  Night(Recipe("max", 4), {0.99, 0.90}, 0.5);
  EXPECT_EQ(Model("nightly").champion(), 4);
  EXPECT_EQ(coordinator_->RollbackModel("nightly", "alice")->champion(), 1);

  auto unknown = coordinator_->RollbackModel("no-such-model", "alice");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), StatusCode::kNotFound);
  EXPECT_NE(unknown.status().message().find("model no-such-model does not exist"), std::string::npos);
}

TEST_F(RegistryTest, PromotingByHandRegistersTheTrialsLatestCheckpointAndRecordsAManualDecision) {
  auto sweep = Submit(Recipe("max", 1), "");
  ASSERT_TRUE(sweep.ok());
  const std::vector<v1::Attempt> attempts = Lease();
  ASSERT_EQ(attempts.size(), 2u);
  auto early = coordinator_->PromoteTrial("hand-made", attempts[0].trial_id(), "bob");
  ASSERT_FALSE(early.ok());
  EXPECT_EQ(early.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(early.status().message().find("has no checkpoint yet"), std::string::npos) << early.status().message();
  EXPECT_FALSE(coordinator_->GetModel("hand-made").ok()) << "nothing was created";

  Checkpoint(attempts[0], "trial 0 at step 5");
  ASSERT_TRUE(Report(attempts[0], "val_accuracy", 0.7).ok());
  auto promoted = coordinator_->PromoteTrial("hand-made", attempts[0].trial_id(), "bob");
  ASSERT_TRUE(promoted.ok()) << promoted.status().message();
  EXPECT_EQ(promoted->owner(), "bob");
  EXPECT_EQ(promoted->champion(), 1);
  const v1::PromotionDecision& d = promoted->decisions(0);
  EXPECT_EQ(d.kind(), "manual");
  EXPECT_EQ(d.decided_by(), "bob");
  EXPECT_DOUBLE_EQ(d.challenger_value(), 0.7);
  EXPECT_TRUE(d.promoted());
  EXPECT_TRUE(HasEvent(sweep->id(), "model hand-made: trial 0 promoted by hand as v1 by bob"));

  auto bad = coordinator_->PromoteTrial("../escape", attempts[0].trial_id(), "bob");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  auto missing = coordinator_->PromoteTrial("hand-made", 999, "bob");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
}

TEST_F(RegistryTest, TheRegistryCopySurvivesTheTrialsCheckpointsBeingDeleted) {
  const int64_t sweep = Night(Recipe("max", 1), {0.80, 0.90}, std::nullopt);
  const v1::Model model = Model("nightly");
  const fs::path root(model.storage_root());
  RemoveTree(root / ("nightly-" + std::to_string(sweep)));  // as retention (and more) would
  EXPECT_EQ(ReadFile(root / model.versions(0).checkpoint() / "rank-0.pt"), "weights of trial 1");
  EXPECT_TRUE(fs::exists(root / model.versions(0).checkpoint() / "MANIFEST"));
  // And a later night still evaluates it from there.
  auto next = Submit(Recipe("max", 2), "nightly");
  ASSERT_TRUE(next.ok()) << next.status().message();
  const v1::Trial evaluation = coordinator_->ListTrials(next->id()).value()[0];
  EXPECT_EQ(ReadFile(root / evaluation.checkpoint() / "rank-0.pt"), "weights of trial 1");
}

TEST_F(RegistryTest, ASweepMayOnlyChallengeItsOwnersModelsAndBadRequestsAreRefused) {
  ASSERT_TRUE(Submit(Recipe("max", 1), "alices", 0, "alice").ok());
  auto bobs = Submit(Recipe("max", 1), "alices", 0, "bob");
  ASSERT_FALSE(bobs.ok());
  EXPECT_EQ(bobs.status().code(), StatusCode::kPermissionDenied);
  EXPECT_NE(bobs.status().message().find("belongs to alice"), std::string::npos) << bobs.status().message();
  EXPECT_EQ(coordinator_->ListSweeps(10, "").value().items.size(), 1u) << "nothing stored";

  for (const auto& [model, margin] : std::vector<std::pair<std::string, double>>{{"a/b", 0}, {"ok", -0.1}, {"", 0.5}}) {
    auto refused = Submit(Recipe("max", 1), model, margin);
    ASSERT_FALSE(refused.ok()) << model << " " << margin;
    EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument) << refused.status().message();
  }
  EXPECT_EQ(coordinator_->ListModels().value().size(), 1u);
  EXPECT_EQ(coordinator_->ListModels(std::string("bob")).value().size(), 0u);
}

}  // namespace
}  // namespace orchard::coordinator
