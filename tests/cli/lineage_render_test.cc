// What `orchard lineage`, `orchard reproduce` and the model card say, from hand-made API messages.
#include "cli/lineage_render.h"

#include <gtest/gtest.h>

namespace orchard::cli {
namespace {

Provenance Record() {
  Provenance p;
  p.attempt = 2;
  p.recipe_file = "/r/digits.yaml";
  p.resolved_recipe = "name: digits\n";
  p.recipe_sha256 = "1f2e3d4c5b6a79881f2e3d4c5b6a79881f2e3d4c5b6a79881f2e3d4c5b6a7988";
  p.data = {{"/d/night.csv", 2048, "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789"}};
  p.orchard_version = "0.1.0";
  p.commit = "0123456789abcdef0123456789abcdef01234567";
  p.libtorch = "2.11.0";
  p.device = "cpu";
  p.host = "node-1";
  p.start_step = 40;
  return p;
}

v1::TrialLineage Lineage() {
  v1::TrialLineage lineage;
  lineage.mutable_sweep()->set_id(7);
  lineage.mutable_sweep()->set_name("nightly");
  lineage.mutable_sweep()->set_strategy("grid");
  lineage.mutable_sweep()->set_metric("val_accuracy");
  lineage.mutable_sweep()->set_recipe_file("/r/digits.yaml");
  v1::Trial* trial = lineage.mutable_trial();
  trial->set_id(31);
  trial->set_number(1);
  trial->set_state(v1::TRIAL_COMPLETED);
  trial->set_has_objective(true);
  trial->set_objective(0.97);
  trial->set_objective_step(80);
  v1::TrialAttempt* lost = lineage.add_attempts();
  lost->set_number(1);
  lost->set_worker_id("w-1");
  lost->set_state("lost");
  v1::TrialAttempt* done = lineage.add_attempts();
  done->set_number(2);
  done->set_worker_id("w-2");
  done->set_state("exited");
  done->set_provenance_json(ProvenanceJson(Record()));
  done->set_parameter_digest(std::string(64, '5'));
  return lineage;
}

TEST(Lineage, NamesTheModelSweepTrialAndEachAttemptsOrigins) {
  v1::ModelVersion version;
  version.set_version(3);
  version.set_metric("val_accuracy");
  version.set_has_value(true);
  version.set_value(0.97);
  version.set_checkpoint("registry/digits/v3/step-80");
  version.set_step(80);
  const std::string text = LineageText(Lineage(), "digits", &version);
  for (const char* expected :
       {"model digits v3: val_accuracy 0.97, checkpoint registry/digits/v3/step-80 (step 80)\n",
        "sweep 7 nightly (grid, recipe /r/digits.yaml)\n", "trial 31 (number 1): completed, val_accuracy 0.97 at step 80\n",
        "  attempt 1: lost on w-1", "    provenance   none reported",
        "  attempt 2: exited with code 0 on w-2",
        "    recipe       sha256 1f2e3d4c5b6a7988 (resolved from /r/digits.yaml)\n",
        "    data         /d/night.csv  2.0 KiB  sha256 abcdef0123456789\n",
        "    code         orchard 0.1.0, commit 0123456789abcdef\n",
        "    environment  LibTorch 2.11.0; device cpu, 1 rank, host node-1\n",
        "    resumed      from its checkpoint at step 40\n",
        "    parameters   sha256 5555555555555555555555555555555555555555555555555555555555555555\n"})
    EXPECT_NE(text.find(expected), std::string::npos) << "missing: " << expected << "\nin:\n" << text;
}

TEST(Lineage, JsonCarriesEachProvenanceParsed) {
  const nlohmann::json doc = LineageJson(Lineage(), "", nullptr);
  EXPECT_TRUE(doc["attempts"][0]["provenance"].is_null());
  EXPECT_EQ(doc["attempts"][1]["provenance"]["data"][0]["path"], "/d/night.csv");
  EXPECT_FALSE(doc["attempts"][1].contains("provenance_json"));
  EXPECT_FALSE(doc.contains("model"));
}

TEST(Lineage, TheAttemptToReproduceIsTheLastCompletedOneWithARecord) {
  v1::TrialLineage lineage = Lineage();
  ASSERT_NE(ReproducibleAttempt(lineage), nullptr);
  EXPECT_EQ(ReproducibleAttempt(lineage)->number(), 2);
  lineage.mutable_attempts(1)->clear_parameter_digest();
  EXPECT_EQ(ReproducibleAttempt(lineage), nullptr);
}

TEST(Reproduction, ExactOnlyWhenTheDigestsAreEqualWithTheMetricsSideBySide) {
  const Provenance p = Record();
  const std::string digest(64, '5');
  const ReproductionReport same = CompareReproduction(p, digest, {{"val_loss", 0.25}}, p, digest, {{"val_loss", 0.25}});
  EXPECT_TRUE(same.exact);
  EXPECT_NE(same.text.find("inputs: the same recipe, data, code, libraries, device and seeds\n"), std::string::npos) << same.text;
  EXPECT_NE(same.text.find("  val_loss 0.25 vs 0.25 (same)\n"), std::string::npos) << same.text;
  EXPECT_NE(same.text.find("reproduced exactly"), std::string::npos);
  EXPECT_EQ(same.text.find("uncommitted"), std::string::npos);
  Provenance dirty = p;
  dirty.dirty = true;
  const ReproductionReport both_dirty = CompareReproduction(dirty, digest, {}, dirty, digest, {});
  EXPECT_NE(both_dirty.text.find("inputs: the same recipe"), std::string::npos) << both_dirty.text;
  EXPECT_NE(both_dirty.text.find("(both built from commit 0123456789abcdef with uncommitted changes, which may differ)"),
            std::string::npos) << both_dirty.text;

  Provenance other = p;
  other.libtorch = "2.12.0";
  const ReproductionReport differs =
      CompareReproduction(p, digest, {{"val_loss", 0.25}}, other, std::string(64, '6'), {{"val_loss", 0.5}});
  EXPECT_FALSE(differs.exact);
  EXPECT_NE(differs.text.find("differences:\n  LibTorch 2.11.0 vs 2.12.0\n"), std::string::npos) << differs.text;
  EXPECT_NE(differs.text.find("  val_loss 0.25 vs 0.5 (differs by 0.25)\n"), std::string::npos) << differs.text;
  EXPECT_NE(differs.text.find("not reproduced"), std::string::npos);
  EXPECT_FALSE(CompareReproduction(p, "", {}, p, "", {}).exact) << "no digest proves nothing";
}

TEST(ModelCard, HoldsTheVersionItsDecisionsWithBothFiguresAndItsLineage) {
  v1::Model model;
  model.set_name("digits");
  model.set_champion(3);
  v1::ModelVersion* version = model.add_versions();
  version->set_version(3);
  version->set_trial_id(31);
  version->set_metric("val_accuracy");
  version->set_has_value(true);
  version->set_value(0.97);
  v1::PromotionDecision* promoted = model.add_decisions();
  promoted->set_trial_id(31);
  promoted->set_promoted(true);
  promoted->set_new_champion(3);
  promoted->set_has_champion_value(true);
  promoted->set_champion_value(0.91);
  promoted->set_challenger_value(0.97);
  v1::PromotionDecision* unrelated = model.add_decisions();
  unrelated->set_trial_id(12);
  unrelated->set_new_champion(1);
  const v1::TrialLineage lineage = Lineage();
  const nlohmann::json card = ModelCard(model, *version, &lineage);
  EXPECT_EQ(card["model"], "digits");
  EXPECT_EQ(card["champion"], true);
  EXPECT_DOUBLE_EQ(card["metrics"]["val_accuracy"].get<double>(), 0.97);
  ASSERT_EQ(card["decisions"].size(), 1u) << card.dump(2);
  EXPECT_DOUBLE_EQ(card["decisions"][0]["champion_value"].get<double>(), 0.91);
  EXPECT_DOUBLE_EQ(card["decisions"][0]["challenger_value"].get<double>(), 0.97);
  EXPECT_EQ(card["lineage"]["attempts"][1]["provenance"]["code"]["commit"], "0123456789abcdef0123456789abcdef01234567");
  EXPECT_TRUE(ModelCard(model, *version, nullptr)["lineage"].is_null());
}

}  // namespace
}  // namespace orchard::cli
