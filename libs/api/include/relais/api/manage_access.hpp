// relais-api's ManageAccess route (docs/bcss.md): POST /v1/cpas/{cbe}/soap/manage-access takes
// BCSS's ManageAccessRequest (SOAP, bare or in an SSDNRequest; libs/manageaccess) for the CPAS of
// the path, which the access guard has already matched against the caller's token scope (the
// CPAS named in the body is never used). Mirror mode records the change through the directory's
// write path (service.hpp); proxy mode forwards it to BCSS and records it only when BCSS accepted.
#pragma once

#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "relais/api/routes.hpp"
#include "relais/common/metrics.hpp"
#include "relais/http/client.hpp"
#include "relais/http/router.hpp"
#include "relais/http/url.hpp"
#include "relais/pg/pool.hpp"
#include "relais/xml/xml.hpp"

namespace relais::api {

struct ManageAccessOptions {
  bool enabled = false;
  bool proxy = false;   // false: mirror
  std::string xsd_dir;  // the public BCSS XSD folder (…/XSD)
  // proxy: BCSS's endpoint, https://host[:port]/path (mTLS with bcss_tls), or http:// towards
  // a local egress proxy that holds the client certificate.
  std::string bcss_url;
  // https: the CAs trusted for BCSS's server certificate ("" = the system store), the data
  // centre's client certificate and key (both required: BCSS authenticates the data centre by
  // it), the name BCSS's certificate must carry ("" = the URL's host).
  http::ClientTls bcss_tls{};
  std::chrono::milliseconds bcss_timeout{10000};
  std::string user_id;  // proxy: AuthorizedUser/UserID and Email sent when the caller gave none
  std::string email;
};

// Where proxy mode sends its calls: the URL read and the TLS settings checked against it (pure:
// no file is read). An error names the setting: a URL that does not parse, an https URL without
// manage_access.tls.cert_file or key_file, or TLS files set for an http:// URL.
struct BcssEndpoint {
  http::HttpUrl url;
  bool mtls = false;  // https: the call carries the client certificate
};
std::optional<BcssEndpoint> bcss_endpoint(const std::string& url, const http::ClientTls& tls,
                                          std::string& error);

// How a call to BCSS that got no answer is answered, from the kind of the transport failure
// (http::failure_kind: stage and error code, never the message): a timeout is 504 BCSS_TIMEOUT;
// a failed TLS handshake (BCSS's certificate not trusted, the client certificate refused), a
// refused or reset connection, any other I/O error are 503 BCSS_UNAVAILABLE. `result` is the
// label of relais_api_manage_access_total.
struct BcssFailure {
  unsigned status = 503;
  std::string_view code;    // BCSS_TIMEOUT | BCSS_UNAVAILABLE
  std::string_view result;  // bcss_timeout | bcss_tls_error | bcss_unreachable
};
BcssFailure bcss_failure(http::FailureKind kind);

class ManageAccessService {
 public:
  // Throws std::runtime_error when the XSD set does not compile, the BCSS URL is not usable, or
  // (https) a TLS file cannot be read or used or the key does not match the certificate: the
  // message names the setting and the file. The TLS context is built here, once.
  ManageAccessService(ManageAccessOptions o, pg::Pool& pool, metrics::Registry& m);
  ~ManageAccessService();
  void add_routes(RouteTable& table);

 private:
  boost::asio::awaitable<http::Response> handle(http::Request& req, const Caller& caller);
  ManageAccessOptions o_;
  pg::Pool& pool_;
  std::shared_ptr<const xml::Schema> schema_;
  http::HttpUrl bcss_;
  std::shared_ptr<const http::ClientTlsContext> bcss_tls_;  // https only
  boost::asio::thread_pool bcss_calls_{2};
  metrics::Family<metrics::Counter>& calls_;
};

}  // namespace relais::api
