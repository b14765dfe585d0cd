#include "worker/train/datasets.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <numbers>
#include <sstream>

#include "core/atomic_file.h"
#include "core/data_fingerprint.h"

namespace orchard::train {
namespace {

// SplitMix64: a small generator whose output is fixed by its definition, unlike std:: distributions.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }
  double Normal() {  // Box-Muller
    double u1 = std::max(Uniform(), 1e-300), u2 = Uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
  }

 private:
  uint64_t state_;
};

struct Loaded {
  std::string task;
  std::vector<int64_t> shape;
  int64_t classes = 0;
  Samples all;
};

int64_t ShapeSize(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

StatusOr<std::string> ReadDataFile(const std::string& path, const std::string& what) {
  std::optional<std::string> bytes = ReadWholeFile(path);
  if (!bytes) return NotFound(path + ": cannot open the " + what + " (check data.path in the recipe)");
  return std::move(*bytes);
}

Loaded Synthetic(const DataSpec& s) {
  Loaded out;
  out.task = s.task;
  out.shape = {s.features};
  Rng rng(s.seed * 0x2545F4914F6CDD1Dull + 1);
  const int64_t f = s.features;
  out.all.count = s.samples;
  out.all.inputs.resize(s.samples * f);
  out.all.targets.resize(s.samples);
  if (s.task == "classification") {
    // Two clusters per class: learnable, but not by a single linear boundary.
    out.classes = s.classes;
    std::vector<double> centers(2 * s.classes * f);
    for (double& c : centers) c = rng.Normal();
    for (int64_t i = 0; i < s.samples; ++i) {
      int64_t label = static_cast<int64_t>(rng.Next() % s.classes);
      int64_t cluster = 2 * label + static_cast<int64_t>(rng.Next() % 2);
      for (int64_t j = 0; j < f; ++j) {
        out.all.inputs[i * f + j] = static_cast<float>(centers[cluster * f + j] + s.noise * rng.Normal());
      }
      out.all.targets[i] = static_cast<float>(label);
    }
  } else {
    std::vector<double> w1(f), w2(f);
    for (int64_t j = 0; j < f; ++j) w1[j] = rng.Normal() / std::sqrt(f), w2[j] = rng.Normal() / std::sqrt(f);
    for (int64_t i = 0; i < s.samples; ++i) {
      double a = 0, b = 0;
      for (int64_t j = 0; j < f; ++j) {
        double x = rng.Normal();
        out.all.inputs[i * f + j] = static_cast<float>(x);
        a += x * w1[j], b += x * w2[j];
      }
      out.all.targets[i] = static_cast<float>(std::sin(2.0 * a) + b + 0.1 * s.noise * rng.Normal());
    }
  }
  return out;
}

std::vector<std::string> SplitCsvLine(const std::string& line) {
  std::vector<std::string> cells;
  std::stringstream in(line);
  for (std::string cell; std::getline(in, cell, ',');) {
    cell.erase(0, cell.find_first_not_of(" \t\r"));
    cell.erase(cell.find_last_not_of(" \t\r") + 1);
    cells.push_back(cell);
  }
  if (!line.empty() && line.back() == ',') cells.emplace_back();
  return cells;
}

bool ParseFloat(const std::string& text, float* out) {
  if (text.empty()) return false;
  char* end = nullptr;
  *out = std::strtof(text.c_str(), &end);
  return end == text.c_str() + text.size() && std::isfinite(*out);
}

// Numeric rows; `label_index` < 0 means the last column is the label (headerless digits file).
StatusOr<Loaded> Csv(const std::string& path, bool header, const std::string& label_column,
                     const std::string& task) {
  std::ifstream in(path);
  if (!in) return NotFound(path + ": cannot open the csv file (check data.path in the recipe)");
  Loaded out;
  out.task = task;
  std::string line;
  int64_t line_number = 0;
  size_t width = 0, label_index = 0;
  std::vector<std::string> names;
  if (header) {
    if (!std::getline(in, line)) return InvalidArgument(path + ": the csv file is empty");
    ++line_number;
    names = SplitCsvLine(line);
    auto it = std::find(names.begin(), names.end(), label_column);
    if (it == names.end()) {
      return InvalidArgument(path + ":1: no column named \"" + label_column +
                             "\" in the header; set data.label to one of the header's names");
    }
    label_index = it - names.begin();
    width = names.size();
    if (width < 2) return InvalidArgument(path + ":1: need at least one feature column besides the label");
  }
  int64_t max_label = -1;
  while (std::getline(in, line)) {
    ++line_number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    std::vector<std::string> cells = SplitCsvLine(line);
    if (width == 0) width = cells.size(), label_index = width - 1;
    if (cells.size() != width) {
      return InvalidArgument(path + ":" + std::to_string(line_number) + ": expected " +
                             std::to_string(width) + " columns, found " + std::to_string(cells.size()));
    }
    for (size_t c = 0; c < width; ++c) {
      float v;
      if (!ParseFloat(cells[c], &v)) {
        std::string column = names.empty() ? "column " + std::to_string(c + 1) : "column \"" + names[c] + "\"";
        return InvalidArgument(path + ":" + std::to_string(line_number) + ": " + column +
                               ": expected a finite number, found \"" + cells[c] + "\"");
      }
      if (c != label_index) {
        out.all.inputs.push_back(v);
      } else if (task == "classification") {
        if (v < 0 || v != std::floor(v) || v > 1e6) {
          return InvalidArgument(path + ":" + std::to_string(line_number) +
                                 ": the label must be a class index 0, 1, 2, ... for classification, found \"" +
                                 cells[c] + "\" (or set data.task: regression)");
        }
        max_label = std::max<int64_t>(max_label, static_cast<int64_t>(v));
        out.all.targets.push_back(v);
      } else {
        out.all.targets.push_back(v);
      }
    }
    ++out.all.count;
  }
  if (out.all.count < 2) return InvalidArgument(path + ": need at least 2 data rows, found " + std::to_string(out.all.count));
  out.shape = {static_cast<int64_t>(width - 1)};
  out.classes = task == "classification" ? std::max<int64_t>(2, max_label + 1) : 0;
  return out;
}

uint32_t BigEndian32(const std::string& bytes, size_t offset) {
  auto b = [&](size_t i) { return static_cast<uint32_t>(static_cast<unsigned char>(bytes[offset + i])); };
  return b(0) << 24 | b(1) << 16 | b(2) << 8 | b(3);
}

StatusOr<Loaded> Idx(const std::string& images_path, const std::string& labels_path) {
  ASSIGN_OR_RETURN(std::string images, ReadDataFile(images_path, "idx image file"));
  ASSIGN_OR_RETURN(std::string labels, ReadDataFile(labels_path, "idx label file"));
  if (images.size() < 16 || BigEndian32(images, 0) != 0x00000803) {
    return InvalidArgument(images_path + ": not an idx image file (expected magic 0x00000803: "
                                         "unsigned bytes, 3 dimensions)");
  }
  if (labels.size() < 8 || BigEndian32(labels, 0) != 0x00000801) {
    return InvalidArgument(labels_path + ": not an idx label file (expected magic 0x00000801)");
  }
  int64_t n = BigEndian32(images, 4), rows = BigEndian32(images, 8), cols = BigEndian32(images, 12);
  int64_t label_count = BigEndian32(labels, 4);
  if (static_cast<int64_t>(images.size()) != 16 + n * rows * cols) {
    return InvalidArgument(images_path + ": header says " + std::to_string(n) + " images of " +
                           std::to_string(rows) + "x" + std::to_string(cols) + " but the file has " +
                           std::to_string(images.size()) + " bytes (truncated?)");
  }
  if (label_count != n || static_cast<int64_t>(labels.size()) != 8 + n) {
    return InvalidArgument(labels_path + ": expected " + std::to_string(n) +
                           " labels to match the images, found " + std::to_string(label_count));
  }
  Loaded out;
  out.task = "classification";
  out.shape = {1, rows, cols};
  out.all.count = n;
  out.all.inputs.resize(n * rows * cols);
  out.all.targets.resize(n);
  int64_t max_label = 0;
  for (int64_t i = 0; i < n * rows * cols; ++i) {
    out.all.inputs[i] = static_cast<unsigned char>(images[16 + i]) / 255.0f;
  }
  for (int64_t i = 0; i < n; ++i) {
    int64_t label = static_cast<unsigned char>(labels[8 + i]);
    out.all.targets[i] = static_cast<float>(label);
    max_label = std::max(max_label, label);
  }
  out.classes = std::max<int64_t>(2, max_label + 1);
  return out;
}

StatusOr<Loaded> Text(const std::string& path, int64_t context) {
  ASSIGN_OR_RETURN(std::string corpus, ReadDataFile(path, "text corpus"));
  const int64_t window = context + 1;
  int64_t n = (static_cast<int64_t>(corpus.size()) - 1) / context;
  if (n < 2) {
    return InvalidArgument(path + ": the corpus has " + std::to_string(corpus.size()) +
                           " bytes; a context of " + std::to_string(context) + " needs at least " +
                           std::to_string(2 * context + 1));
  }
  Loaded out;
  out.task = "language_model";
  out.shape = {window};
  out.classes = 256;
  out.all.count = n;
  out.all.inputs.resize(n * window);
  out.all.targets.assign(n, 0.0f);
  // Windows overlap by one byte so that every byte is predicted exactly once.
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < window; ++j) {
      out.all.inputs[i * window + j] = static_cast<unsigned char>(corpus[i * context + j]);
    }
  }
  return out;
}

Samples Select(const Samples& all, const std::vector<int64_t>& rows, int64_t width) {
  Samples out;
  out.count = static_cast<int64_t>(rows.size());
  out.inputs.reserve(rows.size() * width);
  for (int64_t r : rows) {
    out.inputs.insert(out.inputs.end(), all.inputs.begin() + r * width, all.inputs.begin() + (r + 1) * width);
    out.targets.push_back(all.targets[r]);
  }
  return out;
}

void Standardise(int64_t width, Samples* train, Samples* validation, std::vector<float>* applied_mean,
                 std::vector<float>* applied_inv_std) {
  std::vector<double> mean(width, 0), var(width, 0);
  for (int64_t i = 0; i < train->count; ++i)
    for (int64_t j = 0; j < width; ++j) mean[j] += train->inputs[i * width + j];
  for (double& m : mean) m /= std::max<int64_t>(1, train->count);
  for (int64_t i = 0; i < train->count; ++i)
    for (int64_t j = 0; j < width; ++j) {
      double d = train->inputs[i * width + j] - mean[j];
      var[j] += d * d;
    }
  std::vector<float> inv_std(width);
  for (int64_t j = 0; j < width; ++j) {
    double sd = std::sqrt(var[j] / std::max<int64_t>(1, train->count));
    inv_std[j] = sd > 1e-6 ? static_cast<float>(1.0 / sd) : 1.0f;  // constant pixels stay as they are
  }
  for (Samples* s : {train, validation})
    for (int64_t i = 0; i < s->count; ++i)
      for (int64_t j = 0; j < width; ++j) {
        float& v = s->inputs[i * width + j];
        v = static_cast<float>((v - mean[j]) * inv_std[j]);
      }
  applied_mean->assign(mean.begin(), mean.end());
  *applied_inv_std = std::move(inv_std);
}

}  // namespace

std::vector<int64_t> Permutation(int64_t n, uint64_t seed) {
  std::vector<int64_t> p(n);
  for (int64_t i = 0; i < n; ++i) p[i] = i;
  Rng rng(seed);
  for (int64_t i = n - 1; i > 0; --i) std::swap(p[i], p[rng.Next() % static_cast<uint64_t>(i + 1)]);
  return p;
}

StatusOr<SplitDataset> LoadDataset(const DataSpec& spec, int64_t text_context) {
  Loaded loaded;
  if (spec.type == "synthetic") {
    loaded = Synthetic(spec);
  } else if (spec.type == "csv") {
    ASSIGN_OR_RETURN(loaded, Csv(spec.path, true, spec.label_column, spec.task));
  } else if (spec.type == "digits") {
    std::string path = spec.path.empty() ? DefaultDigitsPath() : spec.path;
    auto digits = Csv(path, false, "", "classification");
    if (!digits.ok() && digits.status().code() == StatusCode::kNotFound) {
      return NotFound(path + ": the digits data set is missing; run scripts/setup, which extracts "
                             "it from the scikit-learn wheel (or set data.path)");
    }
    ASSIGN_OR_RETURN(loaded, std::move(digits));
    loaded.shape = {1, 8, 8};
  } else if (spec.type == "idx") {
    ASSIGN_OR_RETURN(loaded, Idx(spec.path, spec.labels_path));
  } else if (spec.type == "text") {
    ASSIGN_OR_RETURN(loaded, Text(spec.path, spec.context > 0 ? spec.context : text_context));
  } else {
    return InvalidArgument("data.type: unknown data source \"" + spec.type + "\"");
  }
  if (!spec.shape.empty()) {
    if (ShapeSize(spec.shape) != ShapeSize(loaded.shape)) {
      return InvalidArgument(spec.path + ": data.shape has " + std::to_string(ShapeSize(spec.shape)) +
                             " values per sample but each row has " +
                             std::to_string(ShapeSize(loaded.shape)) + " features");
    }
    loaded.shape = spec.shape;
  }

  const int64_t width = ShapeSize(loaded.shape);
  const int64_t n = loaded.all.count;
  int64_t held_out = static_cast<int64_t>(std::llround(spec.validation_fraction * n));
  if (spec.validation_fraction > 0) held_out = std::clamp<int64_t>(held_out, 1, n - 1);
  std::vector<int64_t> order = Permutation(n, spec.seed ^ 0xD1B54A32D192ED03ull);
  std::vector<int64_t> validation_rows(order.begin(), order.begin() + held_out);
  std::vector<int64_t> train_rows(order.begin() + held_out, order.end());
  std::sort(validation_rows.begin(), validation_rows.end());
  std::sort(train_rows.begin(), train_rows.end());

  SplitDataset out;
  out.task = loaded.task;
  out.sample_shape = loaded.shape;
  out.classes = loaded.classes;
  out.train = Select(loaded.all, train_rows, width);
  out.validation = Select(loaded.all, validation_rows, width);
  if (spec.normalize && out.task != "language_model")
    Standardise(width, &out.train, &out.validation, &out.mean, &out.inv_std);
  return out;
}

}  // namespace orchard::train
