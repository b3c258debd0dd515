#include "relais/ingest/batch_file.hpp"

#include <openssl/evp.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <charconv>
#include <chrono>
#include <climits>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <thread>
#include <vector>

#include "relais/codec/flow.hpp"
#include "relais/xml/stream.hpp"

namespace relais::ingest {
namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new()) { EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr); }
  ~Sha256() { EVP_MD_CTX_free(ctx_); }
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(std::string_view s) { EVP_DigestUpdate(ctx_, s.data(), s.size()); }
  std::string hex() {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_DigestFinal_ex(ctx_, md, &n);
    static const char* digits = "0123456789abcdef";
    std::string out;
    for (unsigned i = 0; i < n; ++i) {
      out += digits[md[i] >> 4];
      out += digits[md[i] & 15];
    }
    return out;
  }

 private:
  EVP_MD_CTX* ctx_;
};

std::string file_sha256(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::invalid_argument(path + ": cannot open");
  Sha256 h;
  std::vector<char> buf(1 << 16);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    h.update(std::string_view(buf.data(), static_cast<std::size_t>(in.gcount())));
  }
  return h.hex();
}

std::string str_of(const json::object& o, const char* k) {
  auto it = o.find(k);
  return it != o.end() && it->value().is_string() ? std::string(it->value().as_string())
                                                  : std::string{};
}

// Written to a temporary file, flushed to disk, then renamed over the old one: a crash leaves
// either the old progress or the new one, never a torn file.
void write_atomically(const std::string& path, const std::string& content) {
  const std::string tmp = path + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "wb");
  if (f == nullptr) throw std::runtime_error(tmp + ": cannot write");
  const bool ok = std::fwrite(content.data(), 1, content.size(), f) == content.size() &&
                  std::fflush(f) == 0 && ::fsync(fileno(f)) == 0;
  std::fclose(f);
  if (!ok) throw std::runtime_error(tmp + ": write failed");
  fs::rename(tmp, path);
}

json::object result_line(const PreparedLine& p, bool accepted, const RecordError* e, bool xml) {
  json::object o{{xml ? "record" : "line", p.line}, {"status", accepted ? "accepted" : "rejected"}};
  if (xml && !p.flow.empty()) o["flow"] = p.flow;
  if (!p.ticket.empty()) o["ticket"] = p.ticket;
  if (e != nullptr) {
    o["code"] = e->code;
    o["message"] = e->message;
    if (!e->field.empty()) o["field"] = e->field;
  }
  return o;
}

// An XML batch read as a stream: its header (FileId, Sender, CreatedAt in the batch namespace),
// then one notification element per record, each mapped by the SOAP boundary's XSD set and
// mappings.
class XmlBatch {
 public:
  XmlBatch(const std::string& path, const BatchFileOptions& o) {
    gateway_ = o.gateway;
    if (gateway_ == nullptr) {
      SoapConfig c;
      c.xsd_files = o.xsd_files;
      c.xsd_roots = o.xsd_roots;
      c.mappings_dir = o.mappings_dir;
      std::string err;
      own_ = SoapGateway::create(c, err);
      if (!own_) throw std::invalid_argument(err);
      gateway_ = own_.get();
    }
    auto r = xml::StreamReader::open(path, o.max_file_bytes);
    if (!r)
      throw std::invalid_argument(path + ": " + std::string(xml::code_name(r.error().code)) + ": " +
                                  r.error().message);
    reader_ = std::move(*r);
    if (reader_->root_ns() != kBatchNamespace || reader_->root_name() != "NotificationBatch") {
      throw std::invalid_argument(path + ": the root is not {" + std::string(kBatchNamespace) +
                                  "}NotificationBatch");
    }
    // The header, up to the first record.
    for (;;) {
      auto c = reader_->next();
      if (!c)
        throw std::invalid_argument(path + ": " + std::string(xml::code_name(c.error().code)) +
                                    ": " + c.error().message);
      if (!*c) break;
      if ((*c)->ns != kBatchNamespace) {
        first_ = std::move(**c);
        break;
      }
      auto doc = xml::parse((*c)->xml);
      if (!doc) throw std::invalid_argument(path + ": the batch header: " + doc.error().message);
      const std::string text = xml::text(doc->root());
      if ((*c)->name == "FileId") file_id_ = text;
      if ((*c)->name == "Sender") sender_ = text;
    }
    if (file_id_.empty() || file_id_.size() > 128 || sender_.empty()) {
      throw std::invalid_argument(
          path + ": the batch header needs a FileId (at most 128 characters) and a Sender");
    }
  }
  const std::string& file_id() const { return file_id_; }

  // The next record (nullopt at the end); records before `from` are read but not mapped. A
  // malformed file stops the run: the error is returned.
  std::optional<PreparedLine> next(std::uint64_t from, const std::string& file_id,
                                   std::string& error, std::uint64_t& bytes) {
    for (;;) {
      std::optional<xml::StreamChild> c;
      if (first_) {
        c = std::move(first_);
        first_.reset();
      } else {
        auto n = reader_->next();
        if (!n) {
          error = "record " + std::to_string(seq_ + 1) + " (line " +
                  std::to_string(n.error().line) +
                  "): " + std::string(xml::code_name(n.error().code)) + ": " + n.error().message;
          return std::nullopt;
        }
        c = std::move(*n);
      }
      if (!c) return std::nullopt;
      ++seq_;
      bytes = reader_->bytes_consumed();
      if (seq_ < from) continue;
      const std::string ticket = derived_ticket(file_id, seq_);
      auto m = gateway_->map_record(c->xml, ticket);
      if (!m.ok) {
        PreparedLine p;
        p.line = seq_;
        p.flow = m.flow_id;
        p.error = RecordError{seq_, m.code, m.message, m.path};
        return p;
      }
      auto p = prepare_line(m.json, seq_, file_id);
      p.flow = m.flow_id;
      return p;
    }
  }

 private:
  std::unique_ptr<SoapGateway> own_;
  const SoapGateway* gateway_ = nullptr;
  std::unique_ptr<xml::StreamReader> reader_;
  std::optional<xml::StreamChild> first_;
  std::string file_id_, sender_;
  std::uint64_t seq_ = 0;
};

}  // namespace

bool looks_like_xml(std::string_view head) {
  if (head.substr(0, 3) == "\xEF\xBB\xBF") head.remove_prefix(3);
  const auto p = head.find_first_not_of(" \t\r\n");
  return p != std::string_view::npos && head[p] == '<';
}

std::string to_json(const FileProgress& p) {
  return json::serialize(json::object{{"sha256", p.sha256},
                                      {"file_id", p.file_id},
                                      {"next_line", p.next_line},
                                      {"accepted", p.accepted},
                                      {"rejected", p.rejected},
                                      {"results_bytes", p.results_bytes},
                                      {"complete", p.complete}});
}

std::optional<FileProgress> progress_from_json(std::string_view text) {
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  if (ec || !v.is_object()) return std::nullopt;
  const auto& o = v.as_object();
  FileProgress p;
  try {
    p.sha256 = std::string(o.at("sha256").as_string());
    p.file_id = std::string(o.at("file_id").as_string());
    p.next_line = o.at("next_line").to_number<std::uint64_t>();
    p.accepted = o.at("accepted").to_number<std::uint64_t>();
    p.rejected = o.at("rejected").to_number<std::uint64_t>();
    p.results_bytes = o.at("results_bytes").to_number<std::uint64_t>();
    p.complete = o.at("complete").as_bool();
  } catch (const std::exception&) {
    return std::nullopt;
  }
  if (p.sha256.size() != 64 || p.next_line == 0) return std::nullopt;
  return p;
}

std::string derived_ticket(std::string_view file_id, std::uint64_t line) {
  Sha256 h;
  h.update(file_id);
  h.update(":");
  h.update(std::to_string(line));
  std::string x = h.hex().substr(0, 32);
  x[12] = '8';                                                  // version 8 (custom)
  x[16] = "89ab"[std::stoi(x.substr(16, 1), nullptr, 16) & 3];  // RFC 9562 variant
  return x.substr(0, 8) + "-" + x.substr(8, 4) + "-" + x.substr(12, 4) + "-" + x.substr(16, 4) +
         "-" + x.substr(20);
}

PreparedLine prepare_line(std::string_view text, std::uint64_t line, std::string_view file_id) {
  PreparedLine p;
  p.line = line;
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  if (ec || !v.is_object()) {
    p.error = RecordError{line, "MALFORMED_JSON", "the line is not one JSON object", ""};
    return p;
  }
  auto& o = v.as_object();
  if (!o.contains("source_file_id") && !o.contains("sourceFileId")) o["source_file_id"] = file_id;
  const json::value* seq = o.if_contains("sequence_number");
  if (seq == nullptr) seq = o.if_contains("sequenceNumber");
  if (seq == nullptr) {
    o["sequence_number"] = line;
  } else {
    // The file's own numbering is kept when it is this line's number; any other value would
    // make two deliveries of the file disagree about which record is which.
    const bool same = (seq->is_uint64() && seq->as_uint64() == line) ||
                      (seq->is_int64() && seq->as_int64() >= 0 &&
                       static_cast<std::uint64_t>(seq->as_int64()) == line) ||
                      (seq->is_string() && seq->as_string() == std::to_string(line));
    if (!same) {
      p.error = RecordError{line, "SEQUENCE_MISMATCH",
                            "sequence_number differs from the line number in the file",
                            "sequence_number"};
      return p;
    }
  }
  if (auto t = o.if_contains("ticket"); t != nullptr && t->is_string()) {
    p.ticket = std::string(t->as_string());
  } else if (t == nullptr) {
    p.ticket = derived_ticket(file_id, line);
    o["ticket"] = p.ticket;
  }
  p.body = json::serialize(o);
  return p;
}

int retry_after_seconds(std::string_view header) {
  if (header.empty()) return 1;
  const bool digits =
      std::all_of(header.begin(), header.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (!digits)
    throw std::invalid_argument("Retry-After \"" + std::string(header) +
                                "\" is not a number of seconds");
  int n = 0;
  const auto [p, ec] = std::from_chars(header.data(), header.data() + header.size(), n);
  if (ec == std::errc::result_out_of_range) return INT_MAX;  // digits only: a very long delay
  return std::max(1, n);
}

BatchFileSummary ingest_batch_file(
    const std::string& path, const BatchFileOptions& o, const ChunkSender& send,
    const std::function<void(const BatchFileProgress&)>& on_progress) {
  bool is_xml = false;
  {
    std::ifstream head_in(path, std::ios::binary);
    std::string head(4096, '\0');
    head_in.read(head.data(), static_cast<std::streamsize>(head.size()));
    head.resize(static_cast<std::size_t>(head_in.gcount()));
    is_xml = looks_like_xml(head);
  }
  if (!is_xml && !codec::flow_from_id(o.flow))
    throw std::invalid_argument("unknown flow '" + o.flow + "'");
  if (!fs::is_regular_file(path)) throw std::invalid_argument(path + ": not a readable file");
  const std::string progress_path = path + ".progress", results_path = path + ".results.ndjson";
  BatchFileSummary sum;
  auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };

  FileProgress prog;
  prog.sha256 = file_sha256(path);
  std::unique_ptr<XmlBatch> batch;
  if (is_xml) batch = std::make_unique<XmlBatch>(path, o);
  prog.file_id = !o.file_id.empty() ? o.file_id
                 : batch            ? batch->file_id()
                         : fs::path(path).filename().string() + "-" + prog.sha256.substr(0, 16);
  if (std::ifstream pin(progress_path); pin) {
    std::string text((std::istreambuf_iterator<char>(pin)), std::istreambuf_iterator<char>());
    auto old = progress_from_json(text);
    if (!old)
      throw std::invalid_argument(progress_path +
                                  ": unreadable; move it away to deliver the file anew");
    if (old->sha256 != prog.sha256) {
      throw std::invalid_argument(
          path + " changed since the run recorded in " + progress_path +
          "; move the .progress and .results.ndjson files away to deliver it as a new file");
    }
    if (!o.file_id.empty() && o.file_id != old->file_id) {
      throw std::invalid_argument("--file-id differs from the one of the recorded run (" +
                                  old->file_id + ")");
    }
    if (old->complete && !o.again) {
      sum.ok = sum.already_complete = true;
      sum.accepted = old->accepted;
      sum.rejected = old->rejected;
      return sum;
    }
    if (!old->complete) {
      prog = *old;
      sum.resumed = true;
    } else {
      prog.file_id = old->file_id;  // delivered again: same file id, same tickets
    }
  }
  sum.from_line = prog.next_line;
  // Results written after the last recorded chunk belong to a chunk that is sent again.
  {
    std::error_code ec;
    if (!fs::exists(results_path)) std::ofstream(results_path, std::ios::binary);
    fs::resize_file(results_path, prog.results_bytes, ec);
    if (ec) throw std::runtime_error(results_path + ": " + ec.message());
  }
  std::ofstream results(results_path, std::ios::binary | std::ios::app);
  std::ifstream in(path, std::ios::binary);

  BatchFileProgress ip;
  ip.total_bytes = fs::file_size(path);
  std::vector<PreparedLine> chunk;
  std::uint64_t lineno = 0, bytes = 0;

  // Sends the chunk's valid lines (retrying busy answers), then records every line's result
  // and the progress. False when the run must stop (error set).
  auto flush = [&](std::uint64_t next_line) -> bool {
    std::vector<std::optional<RecordError>> verdicts(chunk.size());
    std::vector<bool> accepted(chunk.size(), false);
    // One request per flow of the chunk (an NDJSON file has one; an XML batch may mix them).
    std::vector<std::string> flows;
    for (const auto& p : chunk) {
      if (!p.error && std::find(flows.begin(), flows.end(), p.flow) == flows.end())
        flows.push_back(p.flow);
    }
    for (const auto& flow : flows) {
      std::string body;
      std::vector<std::size_t> index;  // body line (0-based) -> chunk position
      for (std::size_t i = 0; i < chunk.size(); ++i) {
        if (chunk[i].error || chunk[i].flow != flow) continue;
        body += chunk[i].body;
        body += '\n';
        index.push_back(i);
      }
      ChunkReply r;
      for (int attempt = 0;; ++attempt) {
        if (o.stop && o.stop()) {
          sum.error = "stopped before the chunk starting at " +
                      std::string(batch ? "record " : "line ") +
                      std::to_string(chunk.front().line) + " was acknowledged";
          return false;
        }
        try {
          r = send(flow, body);
        } catch (const std::exception& e) {
          if (attempt >= 10) {
            sum.error = std::string("relais-ingest unreachable: ") + e.what();
            return false;
          }
          std::this_thread::sleep_for(std::chrono::milliseconds(500) * (attempt + 1));
          continue;
        }
        if ((r.status == 429 || r.status == 503) && attempt < 600) {
          std::this_thread::sleep_for(
              std::chrono::seconds(std::clamp(r.retry_after_seconds, 1, 30)));
          continue;
        }
        break;
      }
      if (r.status != 200) {
        sum.error = "HTTP " + std::to_string(r.status) + " for the chunk starting at " +
                    (batch ? "record " : "line ") + std::to_string(chunk.front().line) + ": " +
                    r.body.substr(0, 300);
        return false;
      }
      boost::system::error_code ec;
      auto v = json::parse(r.body, ec);
      if (ec || !v.is_object() || !v.as_object().contains("items")) {
        sum.error = "relais-ingest answered an unreadable report";
        return false;
      }
      for (const auto& item : v.as_object().at("items").as_array()) {
        const auto& it = item.as_object();
        const auto n = it.at("line").to_number<std::uint64_t>();
        if (n == 0 || n > index.size()) continue;
        const std::size_t pos = index[n - 1];
        if (it.at("status").to_number<int>() == 202) {
          accepted[pos] = true;
        } else if (auto e = it.if_contains("error"); e != nullptr && e->is_object()) {
          verdicts[pos] =
              RecordError{chunk[pos].line, str_of(e->as_object(), "code"),
                          str_of(e->as_object(), "message"), str_of(e->as_object(), "field")};
        } else {
          verdicts[pos] = RecordError{chunk[pos].line, "REJECTED", "refused by relais-ingest", ""};
        }
      }
    }
    ++sum.chunks;
    // Tests: a crash after relais-ingest (and so Kafka) acknowledged the chunk, before this
    // run recorded it: the resumed run sends it again, under the same tickets.
    if (o.stop_after_chunks > 0 && sum.chunks >= o.stop_after_chunks) {
      sum.error = "stopped after " + std::to_string(sum.chunks) + " chunks (--stop-after-chunks)";
      return false;
    }
    for (std::size_t i = 0; i < chunk.size(); ++i) {
      const RecordError* e =
          chunk[i].error ? &*chunk[i].error : (verdicts[i] ? &*verdicts[i] : nullptr);
      const bool ok = e == nullptr && accepted[i];
      RecordError missing{chunk[i].line, "NO_VERDICT",
                          "relais-ingest's report did not mention the line", ""};
      if (!ok && e == nullptr) e = &missing;
      results << json::serialize(result_line(chunk[i], ok, e, batch != nullptr)) << '\n';
      (ok ? prog.accepted : prog.rejected) += 1;
    }
    results.flush();
    if (!results) throw std::runtime_error(results_path + ": write failed");
    prog.next_line = next_line;
    prog.results_bytes = fs::file_size(results_path);
    write_atomically(progress_path, to_json(prog));
    chunk.clear();
    ip.lines = prog.accepted + prog.rejected;
    ip.bytes = bytes;
    ip.seconds = elapsed();
    if (on_progress) on_progress(ip);
    return true;
  };

  std::string line;
  bool stopped = false;
  if (batch) {
    std::string read_error;
    while (auto p = batch->next(prog.next_line, prog.file_id, read_error, bytes)) {
      lineno = p->line;
      chunk.push_back(std::move(*p));
      if (chunk.size() >= o.chunk && !flush(lineno + 1)) {
        stopped = true;
        break;
      }
    }
    if (!stopped && !chunk.empty() && !flush(lineno + 1)) stopped = true;
    if (!stopped && !read_error.empty()) {
      sum.error = read_error;
      stopped = true;
    }
    lineno = std::max<std::uint64_t>(lineno, prog.next_line - 1);
  }
  while (!batch && std::getline(in, line)) {
    ++lineno;
    bytes += line.size() + 1;
    if (lineno < prog.next_line) continue;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    chunk.push_back(prepare_line(line, lineno, prog.file_id));
    chunk.back().flow = o.flow;
    if (chunk.size() >= o.chunk && !flush(lineno + 1)) {
      stopped = true;
      break;
    }
  }
  if (!batch && !stopped && !chunk.empty() && !flush(lineno + 1)) stopped = true;
  sum.accepted = prog.accepted;
  sum.rejected = prog.rejected;
  sum.seconds = elapsed();
  if (stopped) return sum;
  prog.complete = true;
  prog.next_line = lineno + 1;
  write_atomically(progress_path, to_json(prog));
  sum.ok = true;
  return sum;
}

}  // namespace relais::ingest
