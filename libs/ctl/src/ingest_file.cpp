#include "relais/ctl/ingest_file.hpp"

#include <boost/beast/http/verb.hpp>
#include <chrono>
#include <stdexcept>

#include "relais/http/client.hpp"

namespace relais::ctl {

IngestFileSummary ingest_file(const Settings& s, const std::string& path,
                              const IngestFileOptions& o,
                              const std::function<void(const ImportProgress&)>& on_progress) {
  auto url = parse_url(s.ingest_url);
  if (!url) throw std::invalid_argument("ingest.url: not an http://host:port URL: " + s.ingest_url);
  http::Client client(url->host, url->port, std::chrono::milliseconds(s.timeout_ms));
  auto send = [&](const std::string& flow, const std::string& ndjson) {
    auto r = client.request(boost::beast::http::verb::post,
                            url->base_path + "/v1/notifications/" + flow + ":batch", ndjson,
                            "application/x-ndjson", {});
    return ingest::ChunkReply{r.status, std::move(r.body),
                              ingest::retry_after_seconds(r.header("retry-after"))};
  };
  return ingest::ingest_batch_file(path, o, send, [&](const ingest::BatchFileProgress& p) {
    if (on_progress) on_progress(ImportProgress{p.lines, p.bytes, p.total_bytes, p.seconds});
  });
}

}  // namespace relais::ctl
