#include "relais/ctl/import.hpp"

#include <boost/beast/http/verb.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "relais/http/client.hpp"

namespace relais::ctl {
namespace json = boost::json;

namespace {

std::string errors_field(const json::object& o, const char* k) {
  auto it = o.find(k);
  return it != o.end() && it->value().is_string() ? std::string(it->value().as_string())
                                                  : std::string{};
}

}  // namespace

ImportSummary import_directory(const Settings& s, const std::string& cbe, const std::string& path,
                               std::size_t chunk,
                               const std::function<void(const ImportProgress&)>& on_progress) {
  ImportSummary sum;
  auto url = parse_url(s.api_url);
  if (!url) throw std::invalid_argument("api.url: not an http://host:port URL: " + s.api_url);
  bool csv = false;
  if (path.ends_with(".csv"))
    csv = true;
  else if (path.ends_with(".ndjson") || path.ends_with(".jsonl"))
    csv = false;
  else
    throw std::invalid_argument(path + ": the file name must end in .csv or .ndjson");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::invalid_argument(path + ": cannot open");
  std::error_code ec;
  ImportProgress prog;
  prog.total_bytes = std::filesystem::file_size(path, ec);
  if (ec) prog.total_bytes = 0;

  http::Client client(url->host, url->port, std::chrono::milliseconds(s.timeout_ms));
  const std::string target = url->base_path + "/v1/cpas/" + cbe + "/integrations:import";
  const std::string ctype = csv ? "text/csv" : "application/x-ndjson";
  // relais-api needs a bearer token (docs/security.md): RELAIS_API_TOKEN, never a command-line
  // argument (it would show in the process list and the shell history).
  // Who imports is the credential's name and id (relais-api's verified caller), nothing the request
  // declares.
  std::vector<std::pair<std::string, std::string>> headers;
  // NOLINTNEXTLINE(concurrency-mt-unsafe): read once, before any thread of the import starts.
  if (const char* t = std::getenv("RELAIS_API_TOKEN"); t && *t)
    headers.emplace_back("Authorization", std::string("Bearer ") + t);
  auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };

  std::string header;  // CSV header line, repeated at the top of every chunk
  std::string body;
  std::vector<std::uint64_t> numbers;  // file line number of each body line (header excluded)
  std::uint64_t lineno = 0, bytes = 0;
  std::string line;

  auto send = [&]() -> bool {
    if (numbers.empty()) return true;
    std::string payload = header.empty() ? body : header + "\n" + body;
    auto r =
        client.request(boost::beast::http::verb::post, target, std::move(payload), ctype, headers);
    ++sum.chunks;
    if (r.status == 200) {
      auto v = json::parse(r.body);
      auto& o = v.as_object();
      sum.lines += static_cast<std::uint64_t>(o.at("lines").to_number<long long>());
      sum.written += static_cast<std::uint64_t>(o.at("written").to_number<long long>());
      sum.unchanged += static_cast<std::uint64_t>(o.at("unchanged").to_number<long long>());
      prog.lines = sum.lines;
      prog.bytes = bytes;
      prog.seconds = elapsed();
      if (on_progress) on_progress(prog);
      body.clear();
      numbers.clear();
      return true;
    }
    sum.failed_chunk_first_line = numbers.front();
    boost::system::error_code jec;
    auto v = json::parse(r.body, jec);
    if (jec || !v.is_object()) {
      sum.error = "HTTP " + std::to_string(r.status) + ": " + r.body.substr(0, 500);
      return false;
    }
    auto& o = v.as_object();
    sum.error = "HTTP " + std::to_string(r.status) + " " + errors_field(o, "code") + ": " +
                errors_field(o, "message");
    if (auto it = o.find("errors"); it != o.end() && it->value().is_array()) {
      std::size_t offset = header.empty() ? 1 : 2;  // API line 1 = the repeated header in CSV
      for (auto& e : it->value().as_array()) {
        if (!e.is_object()) continue;
        auto& eo = e.as_object();
        LineError le;
        auto n = eo.contains("line")
                     ? static_cast<std::size_t>(eo.at("line").to_number<long long>())
                     : 0;
        le.line = n >= offset && n - offset < numbers.size() ? numbers[n - offset] : 0;
        le.code = errors_field(eo, "code");
        le.message = errors_field(eo, "message");
        le.field = errors_field(eo, "field");
        sum.errors.push_back(std::move(le));
      }
    }
    return false;
  };

  while (std::getline(in, line)) {
    ++lineno;
    bytes += line.size() + 1;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    if (csv && header.empty() && numbers.empty() && sum.chunks == 0 && line.starts_with("ssin")) {
      header = line;
      continue;
    }
    body += line;
    body += '\n';
    numbers.push_back(lineno);
    if (numbers.size() >= chunk && !send()) {
      sum.seconds = elapsed();
      return sum;
    }
  }
  if (!send()) {
    sum.seconds = elapsed();
    return sum;
  }
  sum.ok = true;
  sum.seconds = elapsed();
  return sum;
}

std::string progress_line(const ImportProgress& p, bool tty) {
  double rate = p.seconds > 0 ? static_cast<double>(p.lines) / p.seconds : 0;
  double frac =
      p.total_bytes > 0
          ? std::min(1.0, static_cast<double>(p.bytes) / static_cast<double>(p.total_bytes))
          : 0;
  double eta = frac > 0 ? p.seconds * (1 - frac) / frac : 0;
  char buf[256];
  if (tty) {
    constexpr int width = 30;
    int filled = static_cast<int>(std::lround(frac * width));
    std::string bar(static_cast<std::size_t>(filled), '#');
    bar.append(static_cast<std::size_t>(width - filled), '-');
    std::snprintf(buf, sizeof buf, "[%s] %3.0f%% %llu %s %.0f %s/s ETA %.0fs", bar.c_str(),
                  frac * 100, static_cast<unsigned long long>(p.lines), p.unit, rate, p.unit, eta);
  } else {
    std::snprintf(buf, sizeof buf, "progress: %llu %s (%.0f%%), %.0f %s/s, ETA %.0fs",
                  static_cast<unsigned long long>(p.lines), p.unit, frac * 100, rate, p.unit, eta);
  }
  return buf;
}

}  // namespace relais::ctl
