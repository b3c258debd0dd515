#include "relais/ingest/spool.hpp"

#include <algorithm>
#include <fstream>
#include <system_error>

#include "relais/codec/flow.hpp"
#include "relais/common/log.hpp"

namespace relais::ingest {
namespace fs = std::filesystem;

namespace {
const log::Logger logger("spool");

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}
}  // namespace

SpoolName classify_spool_name(std::string_view name) {
  if (name.empty() || name.front() == '.' || ends_with(name, ".tmp") ||
      ends_with(name, ".progress") || ends_with(name, ".results.ndjson")) {
    return SpoolName::ignored;
  }
  if (ends_with(name, ".xml")) return SpoolName::xml;
  if (ends_with(name, ".ndjson")) return SpoolName::ndjson;
  return SpoolName::ignored;
}

std::string flow_of_spool_name(std::string_view name) {
  const auto dot = name.find('.');
  if (dot == std::string_view::npos) return {};
  std::string flow(name.substr(0, dot));
  return codec::flow_from_id(flow) ? flow : std::string();
}

std::optional<std::string> next_spool_file(const std::vector<SpoolEntry>& entries) {
  const SpoolEntry* best = nullptr;
  for (const auto& e : entries) {
    if (classify_spool_name(e.name) == SpoolName::ignored) continue;
    if (best == nullptr || e.mtime < best->mtime || (e.mtime == best->mtime && e.name < best->name))
      best = &e;
  }
  if (best == nullptr) return std::nullopt;
  return best->name;
}

Spool::Spool(SpoolOptions o, const SoapGateway* gateway, ChunkSender send, metrics::Registry& m)
    : o_(std::move(o)),
      gateway_(gateway),
      send_(std::move(send)),
      files_(m.counter("relais_ingest_spool_files_total",
                       "Spool files handled, by outcome (done, failed)", {"outcome"})),
      records_(m.counter("relais_ingest_spool_records_total",
                         "Spool records with a result, by status", {"status"})),
      pending_(m.gauge("relais_ingest_spool_pending_files", "Files waiting in the spool directory")
                   .with()) {
  fs::create_directories(fs::path(o_.dir) / "done");
  fs::create_directories(fs::path(o_.dir) / "failed");
}

Spool::~Spool() {
  stop();
}

void Spool::start() {
  thread_ = std::thread([this] {
    logger.info("spool directory watched", {{"dir", o_.dir}});
    while (!stop_.load()) {
      bool worked = false;
      try {
        worked = run_once();
      } catch (const std::exception& e) {
        logger.error("spool pass failed", {{"error", e.what()}});
      }
      if (worked) continue;
      for (auto waited = std::chrono::milliseconds(0); waited < o_.poll && !stop_.load();
           waited += std::chrono::milliseconds(50)) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    }
  });
}

void Spool::stop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
}

// Moves the file and its result file into done/ or failed/ (a name already there gets a
// numbered suffix: the same file dropped twice keeps both results); the progress file goes.
void Spool::finish(const fs::path& file, const std::string& to, const std::string& error) {
  const fs::path dir = fs::path(o_.dir) / to;
  std::string name = file.filename().string();
  for (int n = 1; fs::exists(dir / name); ++n)
    name = file.filename().string() + "." + std::to_string(n);
  const fs::path results = file.string() + ".results.ndjson";
  if (fs::exists(results)) fs::rename(results, dir / (name + ".results.ndjson"));
  if (!error.empty()) std::ofstream(dir / (name + ".error")) << error << "\n";
  fs::rename(file, dir / name);
  std::error_code ec;
  fs::remove(file.string() + ".progress", ec);
  files_.with({to}).inc();
}

bool Spool::run_once() {
  std::vector<SpoolEntry> entries;
  for (const auto& e : fs::directory_iterator(o_.dir)) {
    std::error_code ec;
    if (!e.is_regular_file(ec)) continue;
    entries.push_back({e.path().filename().string(), e.last_write_time(ec)});
  }
  const auto pick = next_spool_file(entries);
  pending_.set(
      static_cast<double>(std::count_if(entries.begin(), entries.end(), [](const SpoolEntry& e) {
        return classify_spool_name(e.name) != SpoolName::ignored;
      })));
  if (!pick) return false;
  const fs::path file = fs::path(o_.dir) / *pick;
  std::error_code ec;
  const auto size = fs::file_size(file, ec);
  if (ec) return false;  // gone meanwhile
  if (size > o_.max_file_bytes) {
    logger.warn("spool file too large",
                {{"file", *pick}, {"bytes", size}, {"max", o_.max_file_bytes}});
    finish(file, "failed",
           "FILE_TOO_LARGE: " + std::to_string(size) +
               " bytes, more than ingest.spool.max_file_bytes");
    return true;
  }
  BatchFileOptions bo;
  bo.chunk = o_.chunk;
  bo.gateway = gateway_;
  bo.max_file_bytes = o_.max_file_bytes;
  bo.stop = [this] { return stop_.load(); };
  if (classify_spool_name(*pick) == SpoolName::ndjson) {
    bo.flow = flow_of_spool_name(*pick);
    if (bo.flow.empty()) {
      finish(file, "failed", "UNKNOWN_FLOW: an NDJSON spool file is named <flow>.<name>.ndjson");
      return true;
    }
  } else if (gateway_ == nullptr) {
    finish(file, "failed",
           "SOAP_DISABLED: XML batches need ingest.soap.enabled (the XSD set and mappings)");
    return true;
  }
  logger.info("spool file taken", {{"file", *pick}, {"bytes", size}});
  BatchFileSummary sum;
  try {
    sum = ingest_batch_file(file.string(), bo, send_, nullptr);
  } catch (const std::invalid_argument& e) {
    logger.warn("spool file refused", {{"file", *pick}, {"error", e.what()}});
    finish(file, "failed", e.what());
    return true;
  }
  if (!sum.ok) {
    if (stop_.load()) {
      logger.info("spool file interrupted; resumes at the next start", {{"file", *pick}});
      return false;
    }
    // A malformed XML tail is final; anything else (relais-ingest busy, Kafka down) is retried.
    if (sum.error.find("XML_") != std::string::npos) {
      logger.warn("spool file failed", {{"file", *pick}, {"error", sum.error}});
      records_.with({"accepted"}).inc(static_cast<double>(sum.accepted));
      records_.with({"rejected"}).inc(static_cast<double>(sum.rejected));
      finish(file, "failed", sum.error);
      return true;
    }
    logger.warn("spool file stopped; retried", {{"file", *pick}, {"error", sum.error}});
    return false;
  }
  if (!sum.already_complete) {
    records_.with({"accepted"}).inc(static_cast<double>(sum.accepted));
    records_.with({"rejected"}).inc(static_cast<double>(sum.rejected));
  }
  logger.info("spool file delivered", {{"file", *pick},
                                       {"accepted", sum.accepted},
                                       {"rejected", sum.rejected},
                                       {"resumed", sum.resumed ? "yes" : "no"},
                                       {"seconds", sum.seconds}});
  finish(file, "done", "");
  return true;
}

}  // namespace relais::ingest
