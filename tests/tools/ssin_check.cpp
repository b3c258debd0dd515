// relais_ssin_check: Relais's SSIN verdict for each line of standard input, for the differential
// test against the schema and python-stdnum (tests/validation/test_ssin_differential.py,
// docs/validation.md).
//
//   relais_ssin_check CURRENT_YEAR < numbers.txt
//
// One output line per input line, in order: "ok nr", "ok bis", "bad_format" or "bad_checksum".
// The line is checked as it is (only its '\n' is removed), with the given current year so that
// the future-birth-year rule does not depend on the clock.
#include <charconv>
#include <cstdio>
#include <iostream>
#include <string>
#include <string_view>

#include "relais/validation/ids.hpp"

namespace {

std::string_view verdict(std::string_view ssin, int current_year) {
  using relais::validation::SsinCheck;
  using relais::validation::SsinKind;
  switch (relais::validation::check_ssin(ssin, current_year)) {
    case SsinCheck::ok:
      return relais::validation::ssin_kind(ssin, current_year) == SsinKind::bis ? "ok bis"
                                                                                : "ok nr";
    case SsinCheck::bad_format:
      return "bad_format";
    case SsinCheck::bad_checksum:
      break;
  }
  return "bad_checksum";
}

}  // namespace

int main(int argc, char** argv) {
  int year = 0;
  const std::string_view arg = argc == 2 ? argv[1] : "";
  const auto [end, ec] = std::from_chars(arg.data(), arg.data() + arg.size(), year);
  if (argc != 2 || ec != std::errc{} || end != arg.data() + arg.size() || year < 1900 ||
      year > 2199) {
    std::cerr << "usage: relais_ssin_check CURRENT_YEAR < ssins (one per line)\n";
    return 2;
  }
  std::ios::sync_with_stdio(false);
  std::string line;
  std::string out;
  while (std::getline(std::cin, line)) {
    out.append(verdict(line, year));
    out.push_back('\n');
    if (out.size() > (1u << 16)) {
      std::cout << out;
      out.clear();
    }
  }
  std::cout << out << std::flush;
  return std::cout ? 0 : 1;
}
