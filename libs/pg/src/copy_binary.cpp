#include "relais/pg/copy_binary.hpp"

#include <limits>
#include <stdexcept>

namespace relais::pg {
namespace {
// "PGCOPY\n\377\r\n\0", flags (no OIDs), header extension length.
constexpr char kSignature[] = {'P', 'G', 'C', 'O', 'P', 'Y', '\n', '\377', '\r', '\n', '\0'};
constexpr std::int64_t kPgEpochUnixUs = 946684800LL * 1000000;  // 2000-01-01 00:00 UTC
constexpr std::int32_t kTextOid = 25;

std::int32_t length_of(std::size_t n) {
  if (n > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max()))
    throw std::length_error("a COPY field is limited to 2 GiB");
  return static_cast<std::int32_t>(n);
}
}  // namespace

CopyBinary::CopyBinary() {
  header();
}

void CopyBinary::header() {
  out_.append(kSignature, sizeof kSignature);
  be32(0);
  be32(0);
}

void CopyBinary::be16(std::int16_t v) {
  const auto u = static_cast<std::uint16_t>(v);
  out_.push_back(static_cast<char>(u >> 8));
  out_.push_back(static_cast<char>(u));
}

void CopyBinary::be32(std::int32_t v) {
  const auto u = static_cast<std::uint32_t>(v);
  for (int s = 24; s >= 0; s -= 8) out_.push_back(static_cast<char>(u >> s));
}

void CopyBinary::be64(std::int64_t v) {
  const auto u = static_cast<std::uint64_t>(v);
  for (int s = 56; s >= 0; s -= 8) out_.push_back(static_cast<char>(u >> s));
}

void CopyBinary::row(std::int16_t fields) {
  be16(fields);
  ++rows_;
}

void CopyBinary::null() {
  be32(-1);
}

void CopyBinary::text(std::string_view v) {
  be32(length_of(v.size()));
  out_.append(v);
}

void CopyBinary::int4(std::int32_t v) {
  be32(4);
  be32(v);
}

void CopyBinary::boolean(bool v) {
  be32(1);
  out_.push_back(v ? '\1' : '\0');
}

void CopyBinary::timestamptz(std::int64_t unix_us) {
  be32(8);
  be64(unix_us - kPgEpochUnixUs);
}

void CopyBinary::text_array(const std::vector<std::string_view>& elements) {
  // ndim, has-nulls flag, element type; then per dimension its length and lower bound; then each
  // element's length and bytes. An empty array has no dimension.
  std::size_t size = 12 + (elements.empty() ? 0 : 8);
  for (auto e : elements) size += 4 + e.size();
  be32(length_of(size));
  be32(elements.empty() ? 0 : 1);
  be32(0);
  be32(kTextOid);
  if (!elements.empty()) {
    be32(length_of(elements.size()));
    be32(1);
  }
  for (auto e : elements) text(e);
}

std::string CopyBinary::finish() {
  be16(-1);
  std::string done;
  done.swap(out_);
  rows_ = 0;
  header();
  return done;
}

}  // namespace relais::pg
