// A reaction code file (api.reaction_codes_file), parsed and validated by
// relais::alerts::parse_reaction_codes; every code of a file that loads must be found again.
#include <string>

#include "fuzz_util.hpp"
#include "relais/alerts/reaction_codes.hpp"

using namespace relais;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto parsed = alerts::parse_reaction_codes(fuzz::text(data, size), "fuzz.yaml");
  if (const auto* err = std::get_if<std::string>(&parsed)) {
    RELAIS_FUZZ_CHECK(!err->empty());
    return 0;
  }
  const auto& codes = std::get<alerts::ReactionCodes>(parsed);
  RELAIS_FUZZ_CHECK(!codes.codes.empty());
  for (const auto& c : codes.codes) {
    const auto* found = codes.find(c.code);
    RELAIS_FUZZ_CHECK(found == &c);
  }
  RELAIS_FUZZ_CHECK(codes.find("") == nullptr);
  return 0;
}
