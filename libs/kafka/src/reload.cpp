#include "relais/kafka/reload.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cctype>
#include <memory>

#include "relais/kafka/security.hpp"

namespace relais::kafka {
namespace {

using Bio = std::unique_ptr<BIO, decltype(&BIO_free)>;
using X509Ptr = std::unique_ptr<X509, decltype(&X509_free)>;
using KeyPtr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;

std::string lower(std::string t) {
  for (auto& ch : t) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return t;
}

// OpenSSL's reason for the last failure (and the error queue emptied).
std::string openssl_reason() {
  const unsigned long e = ERR_peek_last_error();
  ERR_clear_error();
  if (e == 0) return "no PEM data";
  const char* r = ERR_reason_error_string(e);
  return r ? r : "unknown error";
}

Bio open_file(const std::string& path) {
  return Bio(BIO_new_file(path.c_str(), "r"), BIO_free);
}

std::time_t utc_seconds(const ASN1_TIME* t) {
  std::tm tm{};
  if (ASN1_TIME_to_tm(t, &tm) != 1) return 0;
  return timegm(&tm);
}

std::string utc_date(std::time_t t) {
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

}  // namespace

bool has_client_files(const Security& sec) {
  return lower(sec.protocol).ends_with("ssl") &&
         (!sec.ssl_ca_file.empty() || !sec.ssl_cert_file.empty() || !sec.ssl_key_file.empty());
}

ClientFileFacts read_client_files(const Security& sec) {
  ClientFileFacts f;
  auto fail = [&](const char* key, const std::string& path, const std::string& why) {
    if (f.unreadable.empty())
      f.unreadable = std::string(key) + ": cannot read " + path + ": " + why;
    return f;
  };
  ERR_clear_error();
  if (!sec.ssl_ca_file.empty()) {
    auto bio = open_file(sec.ssl_ca_file);
    if (!bio) return fail("kafka.ssl_ca_file", sec.ssl_ca_file, openssl_reason());
    X509Ptr ca(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr), X509_free);
    if (!ca) return fail("kafka.ssl_ca_file", sec.ssl_ca_file, openssl_reason());
  }
  X509Ptr cert(nullptr, X509_free);
  if (!sec.ssl_cert_file.empty()) {
    auto bio = open_file(sec.ssl_cert_file);
    if (!bio) return fail("kafka.ssl_cert_file", sec.ssl_cert_file, openssl_reason());
    cert.reset(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (!cert) return fail("kafka.ssl_cert_file", sec.ssl_cert_file, openssl_reason());
    f.has_certificate = true;
    f.not_before = utc_seconds(X509_get0_notBefore(cert.get()));
    f.not_after = utc_seconds(X509_get0_notAfter(cert.get()));
  }
  if (!sec.ssl_key_file.empty()) {
    auto bio = open_file(sec.ssl_key_file);
    if (!bio) return fail("kafka.ssl_key_file", sec.ssl_key_file, openssl_reason());
    KeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr), EVP_PKEY_free);
    if (!key) return fail("kafka.ssl_key_file", sec.ssl_key_file, openssl_reason());
    f.key_matches = cert && X509_check_private_key(cert.get(), key.get()) == 1;
  }
  ERR_clear_error();
  return f;
}

std::optional<std::string> judge_client_files(const Security& sec, const ClientFileFacts& facts,
                                              std::time_t now) {
  if (!facts.unreadable.empty()) return facts.unreadable;
  if (sec.ssl_cert_file.empty() != sec.ssl_key_file.empty())
    return std::string("kafka.ssl_cert_file and kafka.ssl_key_file go together");
  if (sec.ssl_cert_file.empty()) return std::nullopt;
  if (!facts.has_certificate)
    return "kafka.ssl_cert_file: " + sec.ssl_cert_file + " holds no certificate";
  if (!facts.key_matches)
    return "kafka.ssl_key_file: " + sec.ssl_key_file + " is not the private key of " +
           sec.ssl_cert_file;
  if (now >= facts.not_after)
    return "kafka.ssl_cert_file: " + sec.ssl_cert_file + " expired " + utc_date(facts.not_after);
  if (now < facts.not_before)
    return "kafka.ssl_cert_file: " + sec.ssl_cert_file + " is not valid before " +
           utc_date(facts.not_before);
  return std::nullopt;
}

std::optional<std::string> check_client_files(const Security& sec, std::time_t now) {
  return judge_client_files(sec, read_client_files(sec), now);
}

}  // namespace relais::kafka
