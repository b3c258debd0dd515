#include "relais/ctl/onboard.hpp"

#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <boost/json.hpp>
#include <cctype>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <variant>

#include "relais/auth/credentials.hpp"
#include "relais/pg/pg.hpp"

extern char** environ;

namespace relais::ctl {

std::optional<std::string> validate_app_name(const std::string& app) {
  if (app.empty() || app.size() > 40) return "the application name must be 1 to 40 characters";
  for (char ch : app)
    if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-'))
      return "the application name may hold only a-z, 0-9 and '-'";
  if (app.front() == '-') return "the application name must start with a letter or a digit";
  return std::nullopt;
}

std::string app_principal(const std::string& cbe, const std::string& app) {
  return "cpas-" + cbe + "-" + app;
}
std::string app_group(const std::string& cbe, const std::string& app) {
  return "cpas." + cbe + "." + app;
}
std::vector<std::string> cpas_topics(const std::string& cbe) {
  return {"cpas." + cbe + ".notifications.v1", "cpas." + cbe + ".alerts.v1",
          "cpas." + cbe + ".replay.v1"};
}

std::string render_client_properties(const BundleSettings& b) {
  const auto principal = app_principal(b.cbe, b.app);
  std::ostringstream o;
  o << "# Relais connection bundle of " << principal << " (relaisctl cpas onboard): CPAS " << b.cbe
    << ", application " << b.app << ".\n"
    << "# Usable as is by the Java client; librdkafka-based clients skip the java-only keys "
       "below.\n"
    << "# Secret: keep this file readable by the application only.\n"
    << "bootstrap.servers=" << b.brokers << "\n"
    << "security.protocol=" << b.security_protocol << "\n"
    << "sasl.mechanism=" << b.mechanism << "\n"
    << "client.id=" << principal << "\n"
    << "group.id=" << app_group(b.cbe, b.app) << "\n"
    << "# only committed records of Relais's transactions (never an aborted write)\n"
    << "isolation.level=read_committed\n"
    << "# commit offsets yourself, after processing\n"
    << "enable.auto.commit=false\n"
    << "auto.offset.reset=earliest\n"
    << "# librdkafka (confluent-kafka, kcat...); the Java client ignores them with a warning\n"
    << "sasl.username=" << principal << "\n"
    << "sasl.password=" << b.password << "\n";
  if (b.with_ca) o << "ssl.ca.location=ca.pem\n";
  o << "# java-only: sasl.jaas.config"
    << (b.with_ca ? " ssl.truststore.type ssl.truststore.location" : "") << "\n"
    << "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required "
       "username=\""
    << principal << "\" password=\"" << b.password << "\";\n";
  if (b.with_ca) o << "ssl.truststore.type=PEM\nssl.truststore.location=ca.pem\n";
  return o.str();
}

std::string next_commands(const std::string& dir, const std::string& cbe) {
  std::ostringstream o;
  o << "next:\n"
    << "  1. hand " << dir
    << "/ to the application's team over a secure channel (it holds secrets)\n"
    << "  2. cd " << dir << " && python3 <relais>/examples/python/consumer.py --bundle . --max 10"
    << "    # read cpas." << cbe << ".notifications.v1\n"
    << "  3. curl -H \"Authorization: Bearer $(cat " << dir << "/api.token)\" <relais-api>/v1/cpas/"
    << cbe << "    # the API with the application's token\n";
  return o.str();
}

namespace {

namespace fs = std::filesystem;

void run_tool(const std::string& tool, const std::vector<std::string>& args) {
  std::vector<std::string> argv_s{tool};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  argv.reserve(argv_s.size() + 1);
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  if (int e = ::posix_spawnp(&pid, tool.c_str(), nullptr, nullptr, argv.data(), environ); e != 0)
    throw std::runtime_error("cannot run the Kafka access tool " + tool +
                             " (ctl.acls_tool): " + std::generic_category().message(e));
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) throw std::runtime_error("waitpid failed");
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw std::runtime_error(tool + " " + args.at(0) + " failed (its messages are above)");
}

void write_secret(const fs::path& p, const std::string& content) {
  auto tmp = p;
  tmp += ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    if (!f) throw std::runtime_error("cannot write " + tmp.string());
    fs::permissions(tmp, fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::replace);
    f << content;
    if (!f.flush()) throw std::runtime_error("cannot write " + tmp.string());
  }
  fs::rename(tmp, p);
}

std::string read_first_line(const fs::path& p) {
  std::ifstream f(p);
  std::string line;
  if (f) std::getline(f, line);
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
  return line;
}

void journal(pg::Connection& db, const std::string& actor, const std::string& action,
             const std::string& cbe, const boost::json::object& detail) {
  db.exec(
      "INSERT INTO directory_journal (actor, action, cbe, detail) VALUES ($1, $2, $3, $4::jsonb)",
      {actor, action, cbe, boost::json::serialize(detail)});
}

// The active credentials of this application (by name, scoped to its CPAS).
std::vector<auth::CredentialRow> app_credentials(pg::Connection& db, const std::string& cbe,
                                                 const std::string& name) {
  std::vector<auth::CredentialRow> out;
  for (auto& r : auth::list_credentials(db, false, cbe))
    if (r.name == name) out.push_back(std::move(r));
  return out;
}

}  // namespace

OnboardResult onboard(const Settings& s, const OnboardOptions& o) {
  OnboardResult r;
  r.principal = app_principal(o.cbe, o.app);
  r.group = app_group(o.cbe, o.app);
  const fs::path dir = fs::absolute(o.out_dir);
  fs::create_directories(dir);
  fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace);

  pg::Connection db(s.pg_dsn);
  // 1. The CPAS, when missing (the row relais-api's PUT /v1/cpas/{cbe} writes; journaled
  // cpas-create).
  r.cpas_created = db.exec(
                         "INSERT INTO cpas (cbe, name, updated_by) VALUES ($1, $2, $3) ON CONFLICT "
                         "(cbe) DO NOTHING",
                         {o.cbe, o.cpas_name.empty() ? "CPAS " + o.cbe : o.cpas_name, s.actor})
                       .affected() == 1;
  // 2. Kafka: its topics, the application's SCRAM user (password kept in the bundle), its ACLs.
  const auto pwfile = dir / "kafka.password";
  run_tool(o.acls_tool, {"app-add", o.cbe, o.app, pwfile.string()});
  // 3. The API token: the bundle's one while it is valid, otherwise a new one (older ones revoked).
  const auto token_file = dir / "api.token";
  auto token = read_first_line(token_file);
  auto active = app_credentials(db, o.cbe, r.principal);
  for (const auto& c : active)
    if (token.starts_with("rls_" + c.id + "_")) r.credential_id = c.id;
  if (r.credential_id.empty()) {
    auth::NewCredential n;
    n.name = r.principal;
    n.scopes = std::get<auth::Scopes>(auth::parse_scopes({"cpas:" + o.cbe}));
    n.lifetime_seconds = o.token_lifetime_seconds;
    n.created_by = s.actor;
    if (auto e = auth::validate(n)) throw std::runtime_error(*e);
    auto created = auth::create_credential(db, n);
    write_secret(token_file, created.token + "\n");
    r.credential_id = created.id;
    r.token_created = true;
    for (const auto& c : active)
      auth::revoke_credential(db, c.id, s.actor,
                              "replaced by " + created.id + " (relaisctl cpas onboard)");
  }
  // 4. The bundle: client.properties (and the CA when the brokers speak TLS).
  BundleSettings b{
      o.cbe, o.app, s.kafka_brokers, "SASL_PLAINTEXT", "SCRAM-SHA-512", read_first_line(pwfile),
      false};
  auto proto = s.kafka_security.protocol;
  for (auto& ch : proto) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  if (proto == "SSL" || proto == "SASL_SSL") {
    b.security_protocol = "SASL_SSL";
    if (!s.kafka_security.ssl_ca_file.empty()) {
      fs::copy_file(s.kafka_security.ssl_ca_file, dir / "ca.pem",
                    fs::copy_options::overwrite_existing);
      b.with_ca = true;
    }
  }
  write_secret(dir / "client.properties", render_client_properties(b));
  boost::json::array topics;
  for (const auto& t : cpas_topics(o.cbe)) topics.emplace_back(t);
  journal(db, s.actor, "app-onboard", o.cbe,
          {{"app", o.app},
           {"principal", r.principal},
           {"group_prefix", "cpas." + o.cbe + "."},
           {"group", r.group},
           {"topics", topics},
           {"credential_id", r.credential_id},
           {"token_created", r.token_created},
           {"cpas_created", r.cpas_created}});
  return r;
}

OffboardResult offboard(const Settings& s, const std::string& cbe, const std::string& app,
                        const std::string& acls_tool, const std::string& reason) {
  OffboardResult r;
  r.principal = app_principal(cbe, app);
  run_tool(acls_tool, {"app-remove", cbe, app});
  pg::Connection db(s.pg_dsn);
  for (const auto& c : app_credentials(db, cbe, r.principal)) {
    auth::revoke_credential(db, c.id, s.actor, reason);
    r.revoked_credentials.push_back(c.id);
  }
  boost::json::array revoked;
  for (const auto& id : r.revoked_credentials) revoked.emplace_back(id);
  journal(db, s.actor, "app-offboard", cbe,
          {{"app", app},
           {"principal", r.principal},
           {"revoked_credentials", revoked},
           {"reason", reason}});
  return r;
}

}  // namespace relais::ctl
