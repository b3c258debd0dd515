#include "relais/ctl/certs.hpp"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <memory>
#include <sstream>

namespace relais::ctl {
namespace {

std::string subject_of(X509* x) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
  X509_NAME_print_ex(bio.get(), X509_get_subject_name(x), 0, XN_FLAG_RFC2253);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(std::max(0L, n)));
}

std::string utc_date(std::time_t t) {
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%SZ", &tm);
  return buf;
}

void collect(const YAML::Node& node, const std::string& key, std::vector<std::string>& out) {
  if (node.IsMap()) {
    for (const auto& kv : node) {
      const auto k = kv.first.as<std::string>();
      collect(kv.second, key.empty() ? k : key + "." + k, out);
    }
    return;
  }
  if (!node.IsScalar()) return;
  const auto value = node.as<std::string>();
  if (value.empty()) return;
  if (key.ends_with("cert_file") || key.ends_with("ca_file")) {
    out.push_back(value);
  } else if (key == "pg.dsn") {  // libpq keyword/value form: sslrootcert=FILE
    std::istringstream words(value);
    for (std::string w; words >> w;)
      if (w.starts_with("sslrootcert=") && w.size() > 12) out.push_back(w.substr(12));
  }
}

}  // namespace

std::variant<std::vector<CertInfo>, std::string> read_pem_certificates(const std::string& file) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_file(file.c_str(), "r"), BIO_free);
  if (!bio) return file + ": cannot read";
  std::vector<CertInfo> out;
  for (;;) {
    std::unique_ptr<X509, decltype(&X509_free)> x(
        PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr), X509_free);
    if (!x) break;
    CertInfo c{file, static_cast<int>(out.size()), subject_of(x.get()), 0};
    std::tm tm{};
    if (ASN1_TIME_to_tm(X509_get0_notAfter(x.get()), &tm) != 1)
      return file + ": certificate " + std::to_string(c.index) + " has no readable expiry date";
    c.not_after = timegm(&tm);
    out.push_back(std::move(c));
  }
  // End of file is the normal way out; anything else is a damaged or foreign PEM block.
  const unsigned long e = ERR_peek_last_error();
  const bool eof =
      e != 0 && ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE;
  ERR_clear_error();
  if (e != 0 && !eof) return file + ": not a PEM certificate file (or a damaged one)";
  if (out.empty()) return file + ": no PEM certificate in it";
  return out;
}

CertVerdict judge_certificate(const CertInfo& cert, std::time_t now, int warn_days) {
  const double seconds = std::difftime(cert.not_after, now);
  CertVerdict v;
  v.days_left = static_cast<long long>(seconds / 86400.0);
  if (seconds <= 0)
    v.state = CertState::expired;
  else if (seconds <= static_cast<double>(warn_days) * 86400.0)
    v.state = CertState::expiring;
  return v;
}

std::string describe_certificate(const CertInfo& cert, const CertVerdict& v) {
  const char* state = v.state == CertState::ok         ? "OK      "
                      : v.state == CertState::expiring ? "EXPIRING"
                                                       : "EXPIRED ";
  std::string where = cert.file;
  if (cert.index > 0) where += "#" + std::to_string(cert.index);
  std::string when = v.state == CertState::expired
                         ? "expired " + utc_date(cert.not_after) + " (" +
                               std::to_string(-v.days_left) + " days ago)"
                         : "expires " + utc_date(cert.not_after) + " (" +
                               std::to_string(v.days_left) + " days left)";
  return std::string(state) + " " + where + " " + cert.subject + ": " + when;
}

std::variant<std::vector<std::string>, std::string> certificate_files_of_config(
    const std::string& yaml_file) {
  try {
    std::vector<std::string> out;
    collect(YAML::LoadFile(yaml_file), "", out);
    return out;
  } catch (const YAML::Exception& e) {
    return yaml_file + ": " + e.what();
  }
}

}  // namespace relais::ctl
