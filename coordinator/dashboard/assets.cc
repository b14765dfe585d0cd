#include "coordinator/dashboard/assets.h"

extern "C" {
// Defined by the generated embedded_assets.cc (scripts/embed-files).
extern const char orchard_asset_index_html[], orchard_asset_index_html_end[];
extern const char orchard_asset_app_js[], orchard_asset_app_js_end[];
extern const char orchard_asset_style_css[], orchard_asset_style_css_end[];
extern const char orchard_asset_plotly_js[], orchard_asset_plotly_js_end[];
extern const char orchard_asset_plotly_js_gz[], orchard_asset_plotly_js_gz_end[];
}

namespace orchard::dashboard {
namespace {

std::string_view Bytes(const char* begin, const char* end) { return {begin, static_cast<size_t>(end - begin)}; }

}  // namespace

std::optional<Asset> FindAsset(std::string_view name) {
  // JavaScript is sent as "application/javascript; charset=utf-8": the HTTP library compresses only
  // the bare type, and plotly.js comes compressed already.
  if (name == "index.html")
    return Asset{"text/html; charset=utf-8", Bytes(orchard_asset_index_html, orchard_asset_index_html_end), {}};
  if (name == "app.js")
    return Asset{"application/javascript; charset=utf-8", Bytes(orchard_asset_app_js, orchard_asset_app_js_end), {}};
  if (name == "style.css")
    return Asset{"text/css; charset=utf-8", Bytes(orchard_asset_style_css, orchard_asset_style_css_end), {}};
  if (name == "plotly.min.js")
    return Asset{"application/javascript; charset=utf-8", Bytes(orchard_asset_plotly_js, orchard_asset_plotly_js_end),
                 Bytes(orchard_asset_plotly_js_gz, orchard_asset_plotly_js_gz_end)};
  return std::nullopt;
}

}  // namespace orchard::dashboard
