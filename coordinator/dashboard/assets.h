// The dashboard's files, compiled into the binary (coordinator/dashboard/assets/ and plotly.js).
//
//   if (auto asset = FindAsset("app.js")) Serve(asset->content_type, asset->body);
#pragma once

#include <optional>
#include <string_view>

namespace orchard::dashboard {

struct Asset {
  std::string_view content_type;
  std::string_view body;
  std::string_view gzipped;  // the same body compressed, where one is embedded; else empty
};

// "index.html", "app.js", "style.css" or "plotly.min.js"; nullopt for any other name.
std::optional<Asset> FindAsset(std::string_view name);

}  // namespace orchard::dashboard
