// Synthetic but realistic data for the micro benchmarks: valid SSINs (National
// Register form, born 1940-1999, correct check digits), CBE numbers, UUIDs, and
// a deterministic directory layout shared by directory_bench and directory_load_bench.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>

#include "relais/directory/directory.hpp"

namespace relais::bench {

// Person p (0 <= p < 60*12*28*998, about 20 million) -> a valid SSIN, distinct per p.
inline std::uint64_t ssin_of_person(std::uint64_t p) {
  // Scatter persons over birth dates so consecutive ids are not consecutive keys.
  constexpr std::uint64_t kDates = 60ull * 12 * 28;  // 1940-1999, months 1-12, days 1-28
  std::uint64_t date = (p * 7919ull) % kDates;       // 7919 is prime, coprime with kDates
  std::uint64_t serial = 1 + p / kDates;             // 001..998
  std::uint64_t yy = 40 + date / (12 * 28), mm = 1 + (date / 28) % 12, dd = 1 + date % 28;
  std::uint64_t first9 = ((yy * 100 + mm) * 100 + dd) * 1000 + serial;
  std::uint64_t cc = 97 - first9 % 97;
  return first9 * 100 + cc;
}

// A valid CBE (enterprise) number for CPAS i: 0 + 7 digits + check digits.
inline std::string cbe_of_cpas(unsigned i) {
  std::uint64_t first8 = 2070000ull + i * 13;  // leading 0, 8 digits in all
  std::uint64_t cc = 97 - first8 % 97;
  char buf[16];
  std::snprintf(buf, sizeof buf, "%08llu%02llu", static_cast<unsigned long long>(first8),
                static_cast<unsigned long long>(cc));
  return buf;
}

inline std::string uuid_of(std::uint64_t i) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%08llx-%04llx-4%03llx-8%03llx-%012llx",
                static_cast<unsigned long long>(i & 0xffffffff),
                static_cast<unsigned long long>((i >> 32) & 0xffff),
                static_cast<unsigned long long>(i % 0xfff),
                static_cast<unsigned long long>((i * 7) % 0xfff),
                static_cast<unsigned long long>(i * 2654435761ull & 0xffffffffffffull));
  return buf;
}

inline constexpr unsigned kCpas = 50;
inline constexpr std::int32_t kDay2000 = 10957;       // 2000-01-01
inline constexpr std::int32_t kEffectiveDay = 20468;  // 2026-01-15

// Integration i of n: about 5 lines for 4 persons (every 5th line is a person's
// earlier, closed line at another CPAS), so ~20% closed periods; 50 CPAS.
struct Line {
  std::uint64_t person;
  unsigned cpas;
  std::uint16_t quality;
  std::int32_t start, end;
};
inline Line line_of(std::uint64_t i) {
  Line l;
  l.person = i - i / 5;
  bool closed = i % 5 == 0 && i > 0;  // shares the person of line i-1
  l.cpas = static_cast<unsigned>((l.person * 31 + (closed ? 17 : 0)) % kCpas);
  static constexpr std::uint16_t kQualities[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 20, 21, 40};
  l.quality = kQualities[(i * 13) % 14];
  l.start = kDay2000 + static_cast<std::int32_t>((i * 7919) % 9000);  // 2000-2024
  l.end = closed ? l.start + 30 + static_cast<std::int32_t>(i % 300) : directory::kOpenEnd;
  return l;
}
// Number of distinct persons for n lines.
inline std::uint64_t persons_for(std::uint64_t n) {
  return n == 0 ? 0 : (n - 1) - (n - 1) / 5 + 1;
}

// Resident set size in bytes (/proc/self/statm).
inline std::size_t rss_bytes() {
  std::ifstream f("/proc/self/statm");
  std::size_t size = 0, resident = 0;
  f >> size >> resident;
  return resident * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}

}  // namespace relais::bench
