#include "relais/fingerprint/sha256.hpp"

#include <openssl/evp.h>

#include <memory>
#include <stdexcept>

namespace relais::fingerprint {
namespace {
const EVP_MD* algorithm() {
  // Fetched once and kept for the life of the process (reachable: no leak report).
  static EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return md;
}
struct CtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
}  // namespace

std::array<unsigned char, 32> sha256(std::string_view bytes) {
  thread_local std::unique_ptr<EVP_MD_CTX, CtxFree> ctx(EVP_MD_CTX_new());
  std::array<unsigned char, 32> out{};
  unsigned int n = 0;
  const EVP_MD* md = algorithm();
  if (!md || !ctx || EVP_DigestInit_ex(ctx.get(), md, nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), bytes.data(), bytes.size()) != 1 ||
      EVP_DigestFinal_ex(ctx.get(), out.data(), &n) != 1 || n != out.size())
    throw std::runtime_error("SHA-256 unavailable from OpenSSL");
  return out;
}

}  // namespace relais::fingerprint
