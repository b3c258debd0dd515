// relais-ingest's spool directory (ingest.spool.dir, off by default; docs/operations.md): batch
// files dropped there are ingested by the same core as `relaisctl ingest-file`
// (relais/ingest/batch_file.hpp), one file at a time, then moved to done/ (or failed/) with their
// result file beside them.
//
// The drop protocol: write the file under a name ending in ".tmp" in the spool directory (or
// anywhere on the same filesystem), then rename it to its final name: a rename is atomic, so the
// spool never reads a half-written file. Names: an XML batch "<anything>.xml" (its records name
// their flows); an NDJSON file "<flow>.<anything>.ndjson" (the flow of every line). Hidden files,
// "*.tmp", and the spool's own "*.progress" / "*.results.ndjson" are never taken.
//
// A restart halfway resumes from FILE.progress (the core's crash rule); the same file dropped
// again is delivered again under the same tickets (NDJSON: derived from its name and content;
// XML: from its FileId), so nothing is published twice.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "relais/common/metrics.hpp"
#include "relais/ingest/batch_file.hpp"

namespace relais::ingest {

struct SpoolOptions {
  std::string dir;
  std::chrono::milliseconds poll{1000};
  std::uint64_t max_file_bytes = 1ull << 30;  // larger files go to failed/ unread
  std::size_t chunk = 1000;                   // records per batch call
};

// Pure: which kind of spool entry a name is.
enum class SpoolName { xml, ndjson, ignored };
SpoolName classify_spool_name(std::string_view name);
// The flow of an NDJSON spool file ("notify-person.2026-12-05.ndjson" -> "notify-person"); empty
// when the name does not start with a known flow id.
std::string flow_of_spool_name(std::string_view name);
// The next file to take among `entries` (name, modification time): the oldest, then by name.
struct SpoolEntry {
  std::string name;
  std::filesystem::file_time_type mtime;
};
std::optional<std::string> next_spool_file(const std::vector<SpoolEntry>& entries);

class Spool {
 public:
  // `send` delivers one chunk to the batch handler (in process); `gateway` maps XML records.
  Spool(SpoolOptions o, const SoapGateway* gateway, ChunkSender send, metrics::Registry& m);
  ~Spool();
  Spool(const Spool&) = delete;
  Spool& operator=(const Spool&) = delete;
  void start();
  // Stops after the chunk in progress (the file resumes at the next start) and waits for it.
  void stop();
  // The same without waiting (e.g. from an event loop the chunk in progress needs).
  void request_stop() { stop_.store(true); }
  // One pass: takes the next file, if any, and ingests it. True when a file was handled.
  bool run_once();

 private:
  void finish(const std::filesystem::path& file, const std::string& to, const std::string& error);
  SpoolOptions o_;
  const SoapGateway* gateway_;
  ChunkSender send_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  metrics::Family<metrics::Counter>& files_;
  metrics::Family<metrics::Counter>& records_;
  metrics::Gauge& pending_;
};

}  // namespace relais::ingest
