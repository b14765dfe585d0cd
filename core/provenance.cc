#include "core/provenance.h"

#include <map>
#include <nlohmann/json.hpp>

namespace orchard {
namespace {

using nlohmann::json;

std::string Short(const std::string& digest) { return digest.size() > 12 ? digest.substr(0, 12) : digest; }

std::string OrNone(const std::string& value) { return value.empty() ? "none" : value; }

void Compare(const std::string& what, const std::string& a, const std::string& b, std::vector<std::string>* out) {
  if (a != b) out->push_back(what + " " + OrNone(a) + " vs " + OrNone(b));
}

}  // namespace

std::string ProvenanceJson(const Provenance& p) {
  json data = json::array();
  for (const FileFingerprint& f : p.data) data.push_back({{"path", f.path}, {"bytes", f.bytes}, {"sha256", f.sha256}});
  const json record = {
      {"format", 1},
      {"attempt", p.attempt},
      {"recipe", {{"file", p.recipe_file}, {"sha256", p.recipe_sha256}, {"resolved", p.resolved_recipe}}},
      {"data", data},
      {"code", {{"orchard_version", p.orchard_version}, {"commit", p.commit}, {"dirty", p.dirty}}},
      {"environment",
       {{"libtorch", p.libtorch}, {"cuda", p.cuda}, {"cudnn", p.cudnn}, {"nccl", p.nccl}, {"device", p.device},
        {"host", p.host}}},
      {"world_size", p.world_size},
      {"seeds", {{"train", p.train_seed}, {"data", p.data_seed}}},
      {"start_step", p.start_step},
      {"recorded_at", p.recorded_at}};
  // A path or host name that is not UTF-8 is written with replacement characters, not refused.
  return record.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

StatusOr<Provenance> ParseProvenance(const std::string& text) {
  const json record = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!record.is_object()) return InvalidArgument("provenance: not a JSON object");
  const json format = record.value("format", json(nullptr));
  if (format != 1)
    return InvalidArgument("provenance: format " + format.dump(-1, ' ', false, json::error_handler_t::replace) +
                           " is not one this build reads (1)");
  Provenance p;
  try {
    p.attempt = record.at("attempt").get<int64_t>();
    const json& recipe = record.at("recipe");
    p.recipe_file = recipe.at("file").get<std::string>();
    p.recipe_sha256 = recipe.at("sha256").get<std::string>();
    p.resolved_recipe = recipe.at("resolved").get<std::string>();
    for (const json& f : record.at("data"))
      p.data.push_back({f.at("path").get<std::string>(), f.at("bytes").get<int64_t>(), f.at("sha256").get<std::string>()});
    const json& code = record.at("code");
    p.orchard_version = code.at("orchard_version").get<std::string>();
    p.commit = code.at("commit").get<std::string>();
    p.dirty = code.at("dirty").get<bool>();
    const json& env = record.at("environment");
    p.libtorch = env.at("libtorch").get<std::string>();
    p.cuda = env.at("cuda").get<std::string>();
    p.cudnn = env.at("cudnn").get<std::string>();
    p.nccl = env.at("nccl").get<std::string>();
    p.device = env.at("device").get<std::string>();
    p.host = env.at("host").get<std::string>();
    p.world_size = record.at("world_size").get<int64_t>();
    p.train_seed = record.at("seeds").at("train").get<int64_t>();
    p.data_seed = record.at("seeds").at("data").get<int64_t>();
    p.start_step = record.at("start_step").get<int64_t>();
    p.recorded_at = record.at("recorded_at").get<double>();
  } catch (const json::exception& e) {
    return InvalidArgument(std::string("provenance: ") + e.what());
  }
  return p;
}

std::vector<std::string> ProvenanceDifferences(const Provenance& original, const Provenance& again) {
  std::vector<std::string> out;
  if (original.recipe_sha256 != again.recipe_sha256)
    out.push_back("resolved recipe changed: sha256 " + Short(original.recipe_sha256) + " vs " + Short(again.recipe_sha256));
  std::map<std::string, const FileFingerprint*> again_files;
  for (const FileFingerprint& f : again.data) again_files[f.path] = &f;
  for (const FileFingerprint& f : original.data) {
    const auto match = again_files.find(f.path);
    if (match == again_files.end()) {
      out.push_back("data file " + f.path + " was not read this time");
      continue;
    }
    if (match->second->sha256 != f.sha256)
      out.push_back("data file " + f.path + " changed: sha256 " + f.sha256 + " vs " + match->second->sha256 + " (" +
                    std::to_string(f.bytes) + " vs " + std::to_string(match->second->bytes) + " bytes)");
    again_files.erase(match);
  }
  for (const auto& [path, f] : again_files) out.push_back("data file " + path + " is read now but was not then");
  if (original.commit != again.commit) out.push_back("built from commit " + original.commit + " vs " + again.commit);
  if (original.dirty != again.dirty)
    out.push_back(std::string("built from ") + (original.dirty ? "a modified" : "a clean") + " tree vs " +
                  (again.dirty ? "a modified" : "a clean") + " one");
  Compare("Orchard", original.orchard_version, again.orchard_version, &out);
  Compare("LibTorch", original.libtorch, again.libtorch, &out);
  Compare("CUDA", original.cuda, again.cuda, &out);
  Compare("cuDNN", original.cudnn, again.cudnn, &out);
  Compare("NCCL", original.nccl, again.nccl, &out);
  Compare("device", original.device, again.device, &out);
  if (original.world_size != again.world_size)
    out.push_back("world size " + std::to_string(original.world_size) + " vs " + std::to_string(again.world_size));
  if (original.train_seed != again.train_seed || original.data_seed != again.data_seed)
    out.push_back("seeds train " + std::to_string(original.train_seed) + ", data " + std::to_string(original.data_seed) +
                  " vs train " + std::to_string(again.train_seed) + ", data " + std::to_string(again.data_seed));
  return out;
}

}  // namespace orchard
