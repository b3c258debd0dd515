// relaisctl certs check: the expiry of the PEM certificates a Relais deployment uses (the TLS
// stack's, docs/operations.md "The TLS stack"; a service's http.tls.*, kafka.ssl_*,
// upstream.tls.* files and the sslrootcert of its pg.dsn). Reading a file (OpenSSL) and finding
// the files a configuration names are thin shells; the verdict is pure.
#pragma once

#include <ctime>
#include <string>
#include <variant>
#include <vector>

namespace relais::ctl {

// One certificate of a PEM file (a file may hold a chain or a CA bundle: one entry each).
struct CertInfo {
  std::string file;
  int index = 0;        // position in the file, from 0
  std::string subject;  // one line, RFC 2253 (e.g. "CN=relais-router,O=Relais")
  std::time_t not_after = 0;
};

// Every certificate of a PEM file; an error message (naming the file) when it cannot be read or
// holds no certificate, or a PEM block that is not one.
std::variant<std::vector<CertInfo>, std::string> read_pem_certificates(const std::string& file);

enum class CertState { ok, expiring, expired };

struct CertVerdict {
  CertState state = CertState::ok;
  long long days_left = 0;  // whole days until not_after (negative: expired that long ago)
};

// Pure: expired when not_after <= now; expiring when it falls within warn_days days of now.
CertVerdict judge_certificate(const CertInfo& cert, std::time_t now, int warn_days);

// One line for people: "<STATE> <file>[#i] <subject>: expires <UTC date> (<n> days left)".
std::string describe_certificate(const CertInfo& cert, const CertVerdict& v);

// The certificate files a service configuration file (YAML) names: every non-empty value of a
// key ending in cert_file or ca_file (http.tls.cert_file, kafka.ssl_ca_file, upstream.tls...),
// and the sslrootcert of a pg.dsn; relative paths as written. Error message when the file
// cannot be parsed.
std::variant<std::vector<std::string>, std::string> certificate_files_of_config(
    const std::string& yaml_file);

}  // namespace relais::ctl
