// Directory bulk import: streams a CSV or NDJSON file to relais-api's
// POST /v1/cpas/{cbe}/integrations:import in chunks. Each chunk is all or nothing (as the API
// is); on a rejected chunk the import stops and reports the errors with the file's line numbers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "relais/ctl/settings.hpp"

namespace relais::ctl {

struct ImportProgress {
  std::uint64_t lines = 0;        // data lines sent and accepted so far
  std::uint64_t bytes = 0;        // bytes of the file consumed so far
  std::uint64_t total_bytes = 0;  // file size (0 when unknown)
  double seconds = 0;
  const char* unit = "lines";  // what `lines` counts (a replay: "records")
};

struct LineError {
  std::uint64_t line = 0;  // 1-based line number in the file
  std::string code, message, field;
};

struct ImportSummary {
  bool ok = false;
  std::uint64_t lines = 0, written = 0, unchanged = 0, chunks = 0;
  double seconds = 0;
  std::uint64_t failed_chunk_first_line = 0;  // when !ok
  std::string error;                          // when !ok: what stopped the import
  std::vector<LineError> errors;              // per-line errors of the rejected chunk
};

// `on_progress` is called after each accepted chunk.
ImportSummary import_directory(const Settings& s, const std::string& cbe, const std::string& path,
                               std::size_t chunk,
                               const std::function<void(const ImportProgress&)>& on_progress);

// One progress line: a bar when `tty`, otherwise a plain sentence.
std::string progress_line(const ImportProgress& p, bool tty);

}  // namespace relais::ctl
