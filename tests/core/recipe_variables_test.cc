// Recipe variables: substitution, the escape, and errors that name the place, the variable and the
// known ones.
#include "core/recipe_variables.h"

#include <gtest/gtest.h>

namespace orchard {
namespace {

const std::map<std::string, std::string> kValues = {
    {"date", "2026-11-21"}, {"time", "02-00"}, {"datetime", "2026-11-21T02-00"}, {"schedule", "nightly"}, {"run", "12"}};

TEST(RecipeVariablesTest, FillsEveryVariableWhereverItIs) {
  struct Case {
    std::string text;
    std::string expected;
  };
  const Case cases[] = {
      {"data: {path: data/${date}/train.csv}", "data: {path: data/2026-11-21/train.csv}"},
      {"name: ${schedule}-${run}\n# at ${datetime}\n", "name: nightly-12\n# at 2026-11-21T02-00\n"},
      {"${time}${time}", "02-0002-00"},
      {"no variables: $HOME, $date, {date}, $ {date}", "no variables: $HOME, $date, {date}, $ {date}"},
      {"literal: $${date} and $$", "literal: ${date} and $$"},
      {"", ""},
  };
  for (const Case& c : cases) {
    auto filled = SubstituteVariables(c.text, kValues, "r.yaml");
    ASSERT_TRUE(filled.ok()) << c.text << ": " << filled.status().message();
    EXPECT_EQ(*filled, c.expected) << c.text;
  }
}

TEST(RecipeVariablesTest, AnUnknownVariableIsAnErrorNamingItsPlaceAndTheKnownOnes) {
  auto filled = SubstituteVariables("name: x\ndata: {path: data/${dat}/train.csv}\n", kValues, "nightly.yaml");
  ASSERT_FALSE(filled.ok());
  EXPECT_EQ(filled.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(filled.status().message(),
            "nightly.yaml:2:19: unknown variable ${dat}; the known ones are ${date}, ${datetime}, ${run}, "
            "${schedule}, ${time}");
}

TEST(RecipeVariablesTest, EveryProblemIsReportedOnItsOwnLine) {
  auto filled = SubstituteVariables("a: ${x}\nb: ${date}\nc: ${\nd: ${y}\n", kValues, "r.yaml");
  ASSERT_FALSE(filled.ok());
  const std::string& message = filled.status().message();
  EXPECT_NE(message.find("r.yaml:1:4: unknown variable ${x}"), std::string::npos) << message;
  EXPECT_NE(message.find("r.yaml:3:4: '${' without a closing '}'"), std::string::npos) << message;
  EXPECT_NE(message.find("r.yaml:4:4: unknown variable ${y}"), std::string::npos) << message;
  EXPECT_EQ(std::count(message.begin(), message.end(), '\n'), 2) << message;
}

TEST(RecipeVariablesTest, WithNoValuesEveryVariableIsUnknown) {
  auto filled = SubstituteVariables("${date}", {}, "r.yaml");
  ASSERT_FALSE(filled.ok());
  EXPECT_NE(filled.status().message().find("the known ones are none"), std::string::npos) << filled.status().message();
  EXPECT_EQ(SubstituteVariables("plain", {}, "r.yaml").value(), "plain");
}

}  // namespace
}  // namespace orchard
