// `relaisctl ingest-file`: a BCSS batch file (NDJSON or the XML batch form) delivered to
// relais-ingest over HTTP (POST /v1/notifications/{flow}:batch). The file-ingestion core (chunks,
// results, progress and resumption, derived tickets, the XML stream) is relais::ingest's
// batch_file, shared with relais-ingest's spool directory.
#pragma once

#include <functional>
#include <string>

#include "relais/ctl/import.hpp"
#include "relais/ctl/settings.hpp"
#include "relais/ingest/batch_file.hpp"

namespace relais::ctl {

using ingest::derived_ticket;
using ingest::FileProgress;
using ingest::looks_like_xml;
using ingest::prepare_line;
using ingest::PreparedLine;
using ingest::progress_from_json;
using ingest::to_json;
using IngestFileOptions = ingest::BatchFileOptions;
using IngestFileSummary = ingest::BatchFileSummary;

// Throws std::invalid_argument on a usage problem (file missing, unknown flow, bad ingest.url).
IngestFileSummary ingest_file(const Settings& s, const std::string& path,
                              const IngestFileOptions& o,
                              const std::function<void(const ImportProgress&)>& on_progress);

}  // namespace relais::ctl
