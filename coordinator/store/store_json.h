// How the store keeps structured values in TEXT columns, shared by store.cc and registry_store.cc:
// JSON, with hyperparameters as a list of [path, value] pairs. Internal to the store.
#pragma once

#include <google/protobuf/repeated_ptr_field.h>
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "coordinator/search/search_strategy.h"
#include "orchard/v1/types.pb.h"

namespace orchard::coordinator {

// Unparseable text reads as a discarded value, which iterates as empty.
inline nlohmann::json ParseJson(const std::string& text) {
  return nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
}

inline nlohmann::json HyperparametersJson(const std::vector<Hyperparameter>& hyperparameters) {
  nlohmann::json pairs = nlohmann::json::array();
  for (const Hyperparameter& h : hyperparameters) pairs.push_back({h.path, h.value});
  return pairs;
}

inline nlohmann::json HyperparametersJson(const google::protobuf::RepeatedPtrField<v1::Hyperparameter>& hyperparameters) {
  std::vector<Hyperparameter> plain;
  for (const v1::Hyperparameter& h : hyperparameters) plain.push_back({h.path(), h.value()});
  return HyperparametersJson(plain);
}

inline void ReadHyperparameters(const nlohmann::json& pairs, google::protobuf::RepeatedPtrField<v1::Hyperparameter>* out) {
  for (const auto& pair : pairs) {
    v1::Hyperparameter* h = out->Add();
    h->set_path(pair[0].get<std::string>());
    h->set_value(pair[1].get<std::string>());
  }
}

}  // namespace orchard::coordinator
