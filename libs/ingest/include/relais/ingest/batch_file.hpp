// A BCSS batch file (NDJSON, one notification of one flow per line; or the XML batch form, read
// as a stream, each record validated and mapped like a SOAP body) delivered in chunks to
// relais-ingest's batch handler (POST /v1/notifications/{flow}:batch: over HTTP from
// `relaisctl ingest-file`, in process from relais-ingest's spool directory), with:
// - per-line results in FILE.results.ndjson ({"line", "ticket", "status": accepted | rejected,
//   "code", "message", "field"}), one line per data line of the file;
// - resumption after a crash: FILE.progress (written atomically after each acknowledged chunk)
//   holds the file's SHA-256, the next line to send and the size of the results file at that
//   point; a resumed run truncates the results to that size and goes on from that line;
// - idempotent re-delivery: every line keeps (or gets) the file id and its line number as
//   source_file_id / sequence_number, and a line without a ticket gets one derived from (file id,
//   line number), so a chunk sent twice (crash after Kafka had it, or the same file delivered
//   again) carries the same tickets and the router's ticket deduplication keeps one copy.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "relais/ingest/soap.hpp"

namespace relais::ingest {

// A record refused before or by relais-ingest, as the result file reports it.
struct RecordError {
  std::uint64_t line = 0;  // NDJSON: the line number; XML batch: the record's sequence number
  std::string code, message, field;
};

struct FileProgress {
  std::string sha256;           // of the whole file: a changed file never resumes an old run
  std::string file_id;          // source_file_id given to lines that have none
  std::uint64_t next_line = 1;  // first line not yet acknowledged
  std::uint64_t accepted = 0, rejected = 0;
  std::uint64_t results_bytes = 0;  // size of FILE.results.ndjson when next_line was reached
  bool complete = false;
};
std::string to_json(const FileProgress& p);
std::optional<FileProgress> progress_from_json(std::string_view text);

// A deterministic UUID (RFC 9562 version 8 layout) from SHA-256 of "file_id:line".
std::string derived_ticket(std::string_view file_id, std::uint64_t line);

// One data line made ready to send: its JSON with source_file_id / sequence_number / ticket
// filled when absent, or a local error (not a JSON object; a sequence_number that is not this
// line's number) recorded in the results without sending.
struct PreparedLine {
  std::uint64_t line = 0;  // NDJSON: the line number; XML batch: the record's sequence number
  std::string flow;        // the flow whose :batch endpoint takes it
  std::string ticket;
  std::string body;
  std::optional<RecordError> error;
};
PreparedLine prepare_line(std::string_view text, std::uint64_t line, std::string_view file_id);

// The XML batch form (docs/bcss.md "Batch files", deploy/xsd/relais/batch.xsd): the batch's
// own namespace, and whether a file is XML (its first non-blank byte, after a BOM, is '<').
inline constexpr std::string_view kBatchNamespace = "urn:be:relais:bcss:batch:v1";
bool looks_like_xml(std::string_view head);

struct BatchFileOptions {
  std::string flow;  // notify-person, ... (NDJSON; an XML record names its own)
  // XML batches: the XSD set and mappings of relais-ingest's SOAP boundary (same defaults).
  std::vector<std::string> xsd_files{"var/bcss/cbss/XSD/SSDN/Common/NamespaceRoot.xsd",
                                     "deploy/xsd/relais/notifications.xsd",
                                     "deploy/xsd/relais/sppis-clignotants.xsd"};
  std::vector<std::string> xsd_roots{"var/bcss/cbss/XSD", "deploy/xsd/relais"};
  std::string mappings_dir = "deploy/mappings";
  std::uint64_t max_file_bytes = 1ull << 30;  // XML batches: larger files are refused
  std::size_t chunk = 1000;                   // lines per request
  std::string file_id;  // default: the file's name and the first 16 hex of its SHA-256
  bool again = false;   // deliver a completed file again (idempotent by tickets)
  std::uint64_t stop_after_chunks = 0;  // tests: simulate a crash (return without completing)
  const SoapGateway* gateway =
      nullptr;                 // XML: use this one (relais-ingest's) instead of loading the XSDs
  std::function<bool()> stop;  // polled before each chunk: stop (resumable) when true
};

// One chunk of NDJSON lines of `flow` sent to the batch handler: its status, its JSON report
// (body), and Retry-After for a busy answer (429, 503: sent again after it). Throws when the
// handler cannot be reached (retried 10 times).
struct ChunkReply {
  unsigned status = 0;
  std::string body;
  int retry_after_seconds = 1;
};
using ChunkSender = std::function<ChunkReply(const std::string& flow, const std::string& ndjson)>;

// ChunkReply::retry_after_seconds from a busy answer's Retry-After header value (RFC 9110
// delay-seconds, 1*DIGIT): 1 when the header is absent (""), and at least 1. Throws
// std::invalid_argument naming the value when it is not a number of seconds (e.g. an HTTP-date).
int retry_after_seconds(std::string_view header);

struct BatchFileProgress {
  std::uint64_t lines = 0;        // records with a result so far
  std::uint64_t bytes = 0;        // bytes of the file consumed so far
  std::uint64_t total_bytes = 0;  // file size
  double seconds = 0;
};

struct BatchFileSummary {
  bool ok = false;
  bool already_complete = false;
  bool resumed = false;
  std::uint64_t from_line = 1;
  std::uint64_t accepted = 0, rejected = 0, chunks = 0;
  double seconds = 0;
  std::string error;  // when !ok
};

// `on_progress` after each acknowledged chunk. Throws std::invalid_argument on a problem of the
// file as a whole (missing, unknown flow, an XML batch whose header is wrong or unreadable).
// Busy answers (429/503) are retried after Retry-After.
BatchFileSummary ingest_batch_file(
    const std::string& path, const BatchFileOptions& o, const ChunkSender& send,
    const std::function<void(const BatchFileProgress&)>& on_progress);

}  // namespace relais::ingest
