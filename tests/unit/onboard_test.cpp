// relaisctl cpas onboard's pure parts: application names, the principal, group and topics of an
// application, and the bundle's client.properties (read by the Java client and, without its
// java-only keys, by librdkafka).
#include "relais/ctl/onboard.hpp"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <sstream>

using namespace relais;

namespace {
// The properties a librdkafka client would load: every k=v line except the java-only keys.
std::map<std::string, std::string> librdkafka_view(const std::string& props) {
  std::map<std::string, std::string> out;
  std::set<std::string> java_only;
  std::istringstream in(props);
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("# java-only:")) {
      std::istringstream ks(line.substr(12));
      for (std::string k; ks >> k;) java_only.insert(k);
    }
    if (line.empty() || line[0] == '#') continue;
    auto eq = line.find('=');
    auto k = line.substr(0, eq);
    if (!java_only.contains(k)) out[k] = line.substr(eq + 1);
  }
  return out;
}
}  // namespace

TEST(Onboard, ApplicationNames) {
  EXPECT_FALSE(ctl::validate_app_name("social-app"));
  EXPECT_FALSE(ctl::validate_app_name("a"));
  EXPECT_FALSE(ctl::validate_app_name(std::string(40, 'x')));
  EXPECT_TRUE(ctl::validate_app_name(""));
  EXPECT_TRUE(ctl::validate_app_name(std::string(41, 'x')));
  EXPECT_TRUE(ctl::validate_app_name("Social"));
  EXPECT_TRUE(ctl::validate_app_name("-x"));
  EXPECT_TRUE(ctl::validate_app_name("a.b"));  // a '.' would leave the group prefix ambiguous
  EXPECT_TRUE(ctl::validate_app_name("a b"));
}

TEST(Onboard, PrincipalGroupAndTopicsStayInsideTheCpasPrefix) {
  EXPECT_EQ(ctl::app_principal("0212344876", "social"), "cpas-0212344876-social");
  EXPECT_EQ(ctl::app_group("0212344876", "social"), "cpas.0212344876.social");
  for (const auto& t : ctl::cpas_topics("0212344876"))
    EXPECT_TRUE(t.starts_with("cpas.0212344876.")) << t;
  EXPECT_EQ(ctl::cpas_topics("0212344876").front(), "cpas.0212344876.notifications.v1");
}

TEST(Onboard, ClientPropertiesForBothClients) {
  ctl::BundleSettings b{
      "0212344876",     "social", "k1:9093,k2:9093", "SASL_PLAINTEXT", "SCRAM-SHA-512",
      "pw0123456789ab", false};
  const auto props = ctl::render_client_properties(b);
  auto rd = librdkafka_view(props);
  EXPECT_EQ(rd["bootstrap.servers"], "k1:9093,k2:9093");
  EXPECT_EQ(rd["isolation.level"], "read_committed");
  EXPECT_EQ(rd["enable.auto.commit"], "false");
  EXPECT_EQ(rd["group.id"], "cpas.0212344876.social");
  EXPECT_EQ(rd["sasl.username"], "cpas-0212344876-social");
  EXPECT_EQ(rd["sasl.password"], "pw0123456789ab");
  EXPECT_FALSE(rd.contains("sasl.jaas.config"));
  EXPECT_FALSE(rd.contains("ssl.ca.location"));
  EXPECT_NE(props.find(
                "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required "
                "username=\"cpas-0212344876-social\" password=\"pw0123456789ab\";\n"),
            std::string::npos);
  b.security_protocol = "SASL_SSL";
  b.with_ca = true;
  const auto tls = ctl::render_client_properties(b);
  rd = librdkafka_view(tls);
  EXPECT_EQ(rd["ssl.ca.location"], "ca.pem");
  EXPECT_EQ(rd["security.protocol"], "SASL_SSL");
  EXPECT_FALSE(rd.contains("ssl.truststore.location"));
  EXPECT_NE(tls.find("ssl.truststore.type=PEM\nssl.truststore.location=ca.pem\n"),
            std::string::npos);
}

TEST(Onboard, NextCommandsNameTheBundleAndTheCpas) {
  auto s = ctl::next_commands("relais-0212344876-social", "0212344876");
  EXPECT_NE(s.find("1. "), std::string::npos);
  EXPECT_NE(s.find("3. "), std::string::npos);
  EXPECT_NE(s.find("relais-0212344876-social/api.token"), std::string::npos);
  EXPECT_NE(s.find("/v1/cpas/0212344876"), std::string::npos);
}
