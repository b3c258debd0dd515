// SHA-256 of a byte string, for the hashes computed per notification (content fingerprints, alert
// ids). OpenSSL 3's one-shot SHA256() looks the algorithm up in its provider registry on every
// call (EVP_MD_fetch), which cost more than the hashing itself on the router's hot path: here
// the algorithm is fetched once per process and the digest context kept per thread.
#pragma once

#include <array>
#include <string_view>

namespace relais::fingerprint {

std::array<unsigned char, 32> sha256(std::string_view bytes);

}  // namespace relais::fingerprint
