#include "relais/api/archive.hpp"

#include <zlib.h>

#include <charconv>
#include <regex>

#include "relais/common/log.hpp"
#include "relais/pg/pg.hpp"
#include "relais/v1/records.pb.h"

namespace relais::api {
namespace {
const log::Logger logger{"archive"};

constexpr std::string_view kMagic = "A1";
constexpr std::uint64_t kMaxRaw = std::uint64_t{64} << 20;  // a routed record is at most ~32 MiB

void put_varint(std::string& out, std::uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

bool get_varint(std::string_view& in, std::uint64_t& v) {
  v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (in.empty()) return false;
    auto b = static_cast<unsigned char>(in.front());
    in.remove_prefix(1);
    v |= std::uint64_t{b & 0x7fu} << shift;
    if (!(b & 0x80)) return true;
  }
  return false;
}

void put_bytes(std::string& out, std::string_view s) {
  put_varint(out, s.size());
  out.append(s);
}

bool get_bytes(std::string_view& in, std::string& out) {
  std::uint64_t n = 0;
  if (!get_varint(in, n) || n > in.size()) return false;
  out.assign(in.substr(0, n));
  in.remove_prefix(n);
  return true;
}

// NOLINTNEXTLINE(cert-err58-cpp): a constant, valid pattern; the unit tests construct it
const std::regex kCbe("^[01][0-9]{9}$");
}  // namespace

std::string encode_archived(const ArchivedRecord& r) {
  std::string raw;
  raw.reserve(r.value.size() + 64);
  raw.push_back(r.key ? '\1' : '\0');
  if (r.key) put_bytes(raw, *r.key);
  put_varint(raw, r.headers.size());
  for (const auto& h : r.headers) {
    put_bytes(raw, h.key);
    put_bytes(raw, h.value);
  }
  raw.append(r.value);
  std::string out(kMagic);
  put_varint(out, raw.size());
  const auto head = out.size();
  uLongf n = compressBound(static_cast<uLong>(raw.size()));
  out.resize(head + n);
  // Level 1: most of what deflate saves on these records, for a fraction of its CPU.
  if (compress2(reinterpret_cast<Bytef*>(out.data() + head), &n,
                reinterpret_cast<const Bytef*>(raw.data()), static_cast<uLong>(raw.size()),
                1) != Z_OK)
    throw std::runtime_error("archive: deflate failed");
  out.resize(head + n);
  return out;
}

std::optional<ArchivedRecord> decode_archived(std::string_view blob) {
  if (!blob.starts_with(kMagic)) return std::nullopt;
  blob.remove_prefix(kMagic.size());
  std::uint64_t size = 0;
  if (!get_varint(blob, size) || size > kMaxRaw) return std::nullopt;
  std::string raw(size, '\0');
  uLongf n = static_cast<uLongf>(size);
  if (uncompress(reinterpret_cast<Bytef*>(raw.data()), &n,
                 reinterpret_cast<const Bytef*>(blob.data()),
                 static_cast<uLong>(blob.size())) != Z_OK ||
      n != size)
    return std::nullopt;
  std::string_view in(raw);
  ArchivedRecord r;
  if (in.empty() || (in.front() != '\0' && in.front() != '\1')) return std::nullopt;
  const bool has_key = in.front() == '\1';
  in.remove_prefix(1);
  if (has_key && !get_bytes(in, r.key.emplace())) return std::nullopt;
  std::uint64_t count = 0;
  if (!get_varint(in, count) || count > in.size()) return std::nullopt;
  r.headers.resize(count);
  for (auto& h : r.headers)
    if (!get_bytes(in, h.key) || !get_bytes(in, h.value)) return std::nullopt;
  r.value.assign(in);
  return r;
}

std::string to_string(const ArchivePosition& p) {
  return std::to_string(p.routed_at_us) + ":" + std::to_string(p.partition) + ":" +
         std::to_string(p.offset);
}

std::optional<ArchivePosition> parse_position(std::string_view s) {
  ArchivePosition p;
  auto num = [&s](auto& out, bool last) {
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    if (ec != std::errc{} || out < 0) return false;
    s.remove_prefix(static_cast<std::size_t>(ptr - s.data()));
    if (last) return s.empty();
    if (s.empty() || s.front() != ':') return false;
    s.remove_prefix(1);
    return true;
  };
  if (!num(p.routed_at_us, false) || !num(p.partition, false) || !num(p.offset, true))
    return std::nullopt;
  return p;
}

ArchiveSink::ArchiveSink(const ArchiveSinkOptions& o, metrics::Registry& m)
    : written_(m.counter("relais_api_archive_rows_written_total",
                         "Routed records copied to the notification archive")
                   .with()),
      bytes_(m.counter("relais_api_archive_bytes_total",
                       "Bytes of the archive's compressed records (before PostgreSQL's overhead)")
                 .with()),
      undecodable_(m.counter("relais_api_archive_undecodable_total",
                             "CPAS topic records that are not a RoutedNotification (skipped)")
                       .with()),
      sink_(
          o.options("archive", m), [this](pg::Connection& c, const sink::Batch& b) { write(c, b); },
          m.counter("relais_api_archive_failures_total", "Failed archive batch writes (retried)")
              .with()) {}

void ArchiveSink::write(pg::Connection& conn, const sink::Batch& batch) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string rows;
  std::size_t n = 0, bytes = 0;
  for (const auto& m : batch) {
    v1::RoutedNotification r;
    // Only the routing fields are needed: the notification (field 1) is parsed too, which is
    // the price of protobuf's API; at the archive's rate it is not the bottleneck
    // (docs/performance.md).
    if (!r.ParseFromArray(m.value().data(), static_cast<int>(m.value().size())) ||
        !std::regex_match(r.cpas_cbe(), kCbe) || r.routed_at_us() <= 0) {
      undecodable_.inc();
      logger.warn("not a RoutedNotification: not archived", {{"source", sink::source_of(m)}});
      continue;
    }
    ArchivedRecord a;
    if (m.key()) a.key = *m.key();
    a.headers = m.headers();
    a.value.assign(m.value());
    const std::string blob = encode_archived(a);
    bytes += blob.size();
    std::string hex = "\\x";
    hex.reserve(2 + blob.size() * 2);
    for (unsigned char c : blob) {
      hex.push_back(kHex[c >> 4]);
      hex.push_back(kHex[c & 15]);
    }
    sink::copy_field(rows, r.cpas_cbe());
    sink::copy_timestamp_us(rows, r.routed_at_us());
    sink::copy_field(rows, std::to_string(m.partition()));
    sink::copy_field(rows, std::to_string(m.offset()));
    sink::copy_field(rows, hex, true);
    ++n;
  }
  if (n == 0) return;
  conn.exec(
      "CREATE TEMP TABLE IF NOT EXISTS archive_in (LIKE notification_archive) ON COMMIT DELETE "
      "ROWS");
  conn.copy_in(
      "COPY archive_in (cpas_cbe, routed_at, kafka_partition, kafka_offset, record) FROM STDIN",
      std::move(rows));
  auto res =
      conn.exec("INSERT INTO notification_archive SELECT * FROM archive_in ON CONFLICT DO NOTHING");
  written_.inc(static_cast<double>(res.affected()));
  bytes_.inc(static_cast<double>(bytes));
}

}  // namespace relais::api
