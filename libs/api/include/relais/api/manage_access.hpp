// relais-api's ManageAccess route (docs/bcss.md): POST /v1/cpas/{cbe}/soap/manage-access takes
// BCSS's ManageAccessRequest (SOAP, bare or in an SSDNRequest; libs/manageaccess) for the CPAS of
// the path, which the access guard has already matched against the caller's token scope (the
// CPAS named in the body is never used). Mirror mode records the change through the directory's
// write path (service.hpp); proxy mode forwards it to BCSS and records it only when BCSS accepted.
#pragma once

#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <memory>
#include <string>

#include "relais/api/routes.hpp"
#include "relais/common/metrics.hpp"
#include "relais/http/router.hpp"
#include "relais/pg/pool.hpp"
#include "relais/xml/xml.hpp"

namespace relais::api {

struct ManageAccessOptions {
  bool enabled = false;
  bool proxy = false;    // false: mirror
  std::string xsd_dir;   // the public BCSS XSD folder (…/XSD)
  std::string bcss_url;  // proxy: http://host:port/path of BCSS's endpoint
  std::chrono::milliseconds bcss_timeout{10000};
  std::string user_id;  // proxy: AuthorizedUser/UserID and Email sent when the caller gave none
  std::string email;
};

class ManageAccessService {
 public:
  // Throws std::runtime_error when the XSD set does not compile or the BCSS URL is not usable.
  ManageAccessService(ManageAccessOptions o, pg::Pool& pool, metrics::Registry& m);
  ~ManageAccessService();
  void add_routes(RouteTable& table);

 private:
  boost::asio::awaitable<http::Response> handle(http::Request& req, const Caller& caller);
  ManageAccessOptions o_;
  pg::Pool& pool_;
  std::shared_ptr<const xml::Schema> schema_;
  std::string bcss_host_, bcss_target_;
  unsigned short bcss_port_ = 0;
  boost::asio::thread_pool bcss_calls_{2};
  metrics::Family<metrics::Counter>& calls_;
};

}  // namespace relais::api
