// Test certificates made with OpenSSL (self-signed EC P-256, chosen validity) and temporary files,
// shared by the unit tests that read PEM files (ctl_certs_test, kafka_reload_test).
#pragma once

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

namespace relais::test {

using KeyPtr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;

inline KeyPtr new_ec_key() {
  return KeyPtr(EVP_EC_gen("P-256"), EVP_PKEY_free);
}

// What a memory BIO holds.
inline std::string bio_text(BIO* bio) {
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<std::size_t>(n));
}

// The PEM of a private key (unencrypted).
inline std::string key_pem(EVP_PKEY* key) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
  PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
  return bio_text(bio.get());
}

// A self-signed certificate CN=<cn>,O=Relais of `key`, valid from now + from_s to now + until_s.
inline std::string cert_pem(EVP_PKEY* key, const std::string& cn, long from_s, long until_s) {
  std::unique_ptr<X509, decltype(&X509_free)> x(X509_new(), X509_free);
  X509_set_version(x.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x.get()), 1);
  X509_gmtime_adj(X509_getm_notBefore(x.get()), from_s);
  X509_gmtime_adj(X509_getm_notAfter(x.get()), until_s);
  X509_NAME* name = X509_get_subject_name(x.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("Relais"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(x.get(), name);
  X509_set_pubkey(x.get(), key);
  X509_sign(x.get(), key, EVP_sha256());
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
  PEM_write_bio_X509(bio.get(), x.get());
  return bio_text(bio.get());
}

// A new file under the temporary directory holding `text` (left for the system to clean).
inline std::string write_temp_file(const std::string& prefix, const std::string& text) {
  static int n = 0;
  const auto path = std::filesystem::temp_directory_path() /
                    (prefix + std::to_string(::getpid()) + "-" + std::to_string(++n));
  std::ofstream(path) << text;
  return path.string();
}

}  // namespace relais::test
