// The registry's CLI text: tables, decisions in words and what each `orchard models` command prints,
// from hand-made API messages.
#include "cli/model_render.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

namespace orchard::cli {
namespace {

v1::ModelVersion Version(int64_t number, double value, int64_t sweep_id) {
  v1::ModelVersion v;
  v.set_version(number);
  v.set_metric("val_accuracy");
  v.set_mode("max");
  v.set_has_value(true);
  v.set_value(value);
  v.set_recipe_name("digits");
  v.set_data("digits (the copy scripts/setup extracts) (seed 1, 20% validation)");
  v.set_sweep_id(sweep_id);
  v.set_trial_id(10 + number);
  v.set_trial_number(3);
  v.set_step(675);
  v.set_created_at(1000);
  auto* h = v.add_hyperparameters();
  h->set_path("optimizer.lr");
  h->set_value("0.003");
  return v;
}

v1::PromotionDecision Challenge(bool promoted) {
  v1::PromotionDecision d;
  d.set_kind("challenge");
  d.set_time(1000);
  d.set_decided_by("coordinator");
  d.set_sweep_id(4);
  d.set_trial_id(12);
  d.set_trial_number(2);
  d.set_metric("val_accuracy");
  d.set_mode("max");
  d.set_margin(0.005);
  d.set_has_challenger_value(true);
  d.set_challenger_value(0.981);
  d.set_champion_version(2);
  d.set_has_champion_value(true);
  d.set_champion_value(0.975);
  d.set_promoted(promoted);
  d.set_new_champion(promoted ? 3 : 2);
  d.set_reason("0.006 higher than v2, more than the margin 0.005");
  return d;
}

TEST(ModelRender, ADecisionStatesBothFiguresTheMarginAndTheOutcome) {
  EXPECT_EQ(DecisionText(Challenge(true)),
            "sweep 4's best trial 2: val_accuracy 0.981 vs champion v2 0.975 on the same data (max, margin 0.005): "
            "promoted as v3: 0.006 higher than v2, more than the margin 0.005");
  v1::PromotionDecision unevaluated = Challenge(false);
  unevaluated.set_has_champion_value(false);
  unevaluated.set_reason("v2 stays");
  EXPECT_EQ(DecisionText(unevaluated), "sweep 4's best trial 2: val_accuracy 0.981 vs champion v2 (not evaluated on "
                                       "this data) (max, margin 0.005): not promoted: v2 stays");
  v1::PromotionDecision rollback;
  rollback.set_kind("rollback");
  rollback.set_decided_by("alice");
  rollback.set_champion_version(3);
  rollback.set_promoted(true);
  rollback.set_new_champion(2);
  rollback.set_reason("rolled back");
  EXPECT_EQ(DecisionText(rollback), "rollback by alice from v3: champion is v2: rolled back");
}

TEST(ModelRender, AModelListsItsVersionsWithTheChampionMarkedThenItsDecisions) {
  v1::Model model;
  model.set_name("digits");
  model.set_owner("alice");
  model.set_champion(2);
  *model.add_versions() = Version(1, 0.96, 1);
  *model.add_versions() = Version(2, 0.975, 2);
  *model.add_decisions() = Challenge(false);
  const std::string text = ModelText(model, 1060);
  EXPECT_EQ(text.rfind("model digits (owner alice), champion v2\n", 0), 0u) << text;
  EXPECT_NE(text.find("*  v2       val_accuracy 0.975"), std::string::npos) << text;
  EXPECT_NE(text.find("   v1       val_accuracy 0.96 "), std::string::npos) << text;
  EXPECT_NE(text.find("3 (id 12)"), std::string::npos) << text;
  EXPECT_NE(text.find("digits (the copy scripts/setup extracts) (seed 1, 20% validation)"), std::string::npos) << text;
  EXPECT_NE(text.find("optimizer.lr=0.003"), std::string::npos) << text;
  EXPECT_NE(text.find("decisions, oldest first:\n  1:00 ago  sweep 4's best trial 2: val_accuracy 0.981 vs champion v2 0.975"),
            std::string::npos) << text;
}

TEST(ModelRender, TheListShowsEachChampionOrNone) {
  v1::ModelSummary with;
  with.set_name("digits");
  with.set_owner("alice");
  with.set_versions_total(2);
  *with.mutable_champion() = Version(2, 0.975, 2);
  *with.mutable_last_decision() = Challenge(true);
  v1::ModelSummary without;
  without.set_name("fresh");
  without.set_owner("bob");
  const std::string table = ModelsTable({with, without}, 1060);
  EXPECT_NE(table.find("digits  alice  v2        val_accuracy 0.975  2         challenge: v3, 1:00 ago"), std::string::npos)
      << table;
  EXPECT_NE(table.find("fresh   bob    none      -                   0         -"), std::string::npos) << table;
}

// --json prints the response as one JSON document on one line.
nlohmann::json OneJsonLine(const std::string& text) {
  EXPECT_EQ(text.find('\n'), text.size() - 1) << text;
  return nlohmann::json::parse(text);
}

TEST(ModelRender, ListPrintsTheTableOrTheModels) {
  v1::ListModelsResponse response;
  v1::ModelSummary* digits = response.add_models();
  digits->set_name("digits");
  digits->set_owner("alice");
  digits->set_versions_total(1);
  *digits->mutable_champion() = Version(1, 0.96, 1);
  std::ostringstream text, json;
  PrintModels(response, 1060, /*json=*/false, text);
  EXPECT_EQ(text.str(),
            "NAME    OWNER  CHAMPION  METRIC             VERSIONS  LAST DECISION\n"
            "digits  alice  v1        val_accuracy 0.96  1         -\n");
  PrintModels(response, 1060, /*json=*/true, json);
  const nlohmann::json document = OneJsonLine(json.str());
  ASSERT_EQ(document["models"].size(), 1u);
  EXPECT_EQ(document["models"][0]["champion"]["value"], 0.96);
  EXPECT_EQ(document["models"][0]["versions_total"], "1");
}

TEST(ModelRender, ShowPromoteAndRollbackPrintTheModelAsItIsNow) {
  v1::Model model;
  model.set_name("digits");
  model.set_owner("alice");
  model.set_champion(1);
  model.set_storage_root("/runs");
  *model.add_versions() = Version(1, 0.96, 1);
  std::ostringstream text, json;
  PrintModel(model, 1060, /*json=*/false, text);
  EXPECT_EQ(text.str(), ModelText(model, 1060));
  EXPECT_NE(text.str().find("decisions, oldest first:\n  none yet\n"), std::string::npos) << text.str();
  PrintModel(model, 1060, /*json=*/true, json);
  const nlohmann::json document = OneJsonLine(json.str());
  EXPECT_EQ(document["champion"], "1");
  EXPECT_EQ(document["storage_root"], "/runs");
  EXPECT_EQ(document["versions"][0]["hyperparameters"][0]["value"], "0.003");
  EXPECT_EQ(document["decisions"], nlohmann::json::array());
}

TEST(ModelRender, ExportSaysWhereTheModelWentAndHowToLoadIt) {
  std::ostringstream out;
  PrintExportedModel("digits", 2, "out/model.pt", out);
  EXPECT_EQ(out.str(),
            "exported digits v2 to out/model.pt with its recipe.yaml and model-card.json; load it with torch.jit.load(\"out/model.pt\")\n");
}

}  // namespace
}  // namespace orchard::cli
