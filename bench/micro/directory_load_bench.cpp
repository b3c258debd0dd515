// Directory scale against PostgreSQL (issue 6, item 5), a plain program:
//  1. fills the real schema (migrations applied by deploy/local/stack.sh) with
//     N integrations over 50 CPAS using COPY (skipped when the table already
//     holds exactly this data set; --reload forces it);
//  2. loads the directory as the router does at start (DirectoryFeed::initial_load,
//     i.e. directory::load_all): time, peak RSS (getrusage ru_maxrss), bytes
//     per integration;
//  3. runs the DirectoryFeed (poll every --poll-ms) while a writer commits
//     --rate new integrations per second for --seconds, and measures the time
//     from each commit to the moment apply_pending() makes it visible on the
//     routing thread: p50 / p99 / max.
// Prints one JSON object on stdout; progress on stderr.
// Usage: RELAIS_BENCH_PG_DSN=... relais_directory_load_bench [--n N] [--reload]
//        [--rate R] [--seconds S] [--poll-ms P]
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bench_data.hpp"
#include "relais/directory/pg_source.hpp"
#include "relais/router/directory_feed.hpp"

namespace {
namespace dir = relais::directory;
namespace rb = relais::bench;
using Clock = std::chrono::steady_clock;

void note(const std::string& s) {
  std::cerr << "[directory_load_bench] " << s << std::endl;
}

std::size_t maxrss_bytes() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<std::size_t>(ru.ru_maxrss) * 1024;
}

// days since 1970-01-01 -> "YYYY-MM-DD" (Howard Hinnant's civil_from_days).
std::string date_of(std::int32_t z) {
  z += 719468;
  const int era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int y = static_cast<int>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  if (m <= 2) ++y;
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", y, m, d);
  return buf;
}

double secs(Clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

double pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  auto i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

// Fills cpas + integrations with the data set of bench_data.hpp. Triggers are
// skipped (session_replication_role = replica, superuser on the local stack)
// and change_seq is stamped here; the sequence is moved past it afterwards.
double fill(relais::pg::Connection& c, std::uint64_t n) {
  auto t0 = Clock::now();
  c.exec("BEGIN");
  bool replica = true;
  try {
    c.exec("SET LOCAL session_replication_role = replica");
  } catch (const std::exception& e) {
    c.exec("ROLLBACK");
    c.exec("BEGIN");
    replica = false;
    note(std::string("triggers stay on (") + e.what() + "): slower fill");
  }
  c.exec("TRUNCATE integrations, ssin_replacements, directory_journal, cpas CASCADE");
  for (unsigned i = 0; i < rb::kCpas; ++i)
    c.exec(
        "INSERT INTO cpas (cbe, name, municipalities, updated_by, change_seq) VALUES ($1, $2, "
        "'{21004}', "
        "'bench', nextval('directory_change_seq'))",
        {rb::cbe_of_cpas(i), "CPAS " + std::to_string(i)});
  auto seq0 = c.exec("SELECT nextval('directory_change_seq')").integer(0, 0);
  std::vector<std::string> cbes;
  for (unsigned i = 0; i < rb::kCpas; ++i) cbes.push_back(rb::cbe_of_cpas(i));
  std::uint64_t i = 0;
  c.copy_in(
      "COPY integrations (id, ssin, cbe, quality_code, start_date, end_date, created_by, "
      "updated_by, change_seq) "
      "FROM STDIN",
      [&](std::string& buf) {
        std::uint64_t stop = std::min(n, i + 20000);
        for (; i < stop; ++i) {
          auto l = rb::line_of(i);
          buf += std::to_string(i + 1);
          buf += '\t';
          buf += dir::ssin_string(rb::ssin_of_person(l.person));
          buf += '\t';
          buf += cbes[l.cpas];
          buf += '\t';
          buf += std::to_string(l.quality);
          buf += '\t';
          buf += date_of(l.start);
          buf += '\t';
          buf += l.end == dir::kOpenEnd ? std::string("\\N") : date_of(l.end);
          buf += "\tbench\tbench\t";
          buf += std::to_string(seq0 + static_cast<std::int64_t>(i) + 1);
          buf += '\n';
        }
        if (i % 1'000'000 == 0 && i > 0) note("copied " + std::to_string(i));
        return i < n;
      });
  c.exec("SELECT setval('directory_change_seq', " +
         std::to_string(seq0 + static_cast<std::int64_t>(n) + 1) + ")");
  c.exec("SELECT setval(pg_get_serial_sequence('integrations', 'id'), " + std::to_string(n + 1) +
         ")");
  c.exec("COMMIT");
  (void)replica;
  auto t1 = Clock::now();
  note("filled in " + std::to_string(secs(t1 - t0)) + " s; vacuum analyze");
  c.exec("VACUUM (ANALYZE) integrations");
  return secs(Clock::now() - t0);
}

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t n = 10'000'000;
  bool reload = false;
  double rate = 50, seconds = 20;
  int poll_ms = 200;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto val = [&] {
      if (i + 1 >= argc) {
        std::cerr << "missing value for " << a << "\n";
        std::exit(2);
      }
      return std::string(argv[++i]);
    };
    if (a == "--n")
      n = std::stoull(val());
    else if (a == "--reload")
      reload = true;
    else if (a == "--rate")
      rate = std::stod(val());
    else if (a == "--seconds")
      seconds = std::stod(val());
    else if (a == "--poll-ms")
      poll_ms = std::stoi(val());
    else {
      std::cerr << "usage: " << argv[0]
                << " [--n N] [--reload] [--rate R] [--seconds S] [--poll-ms P]\n";
      return 2;
    }
  }
  const char* dsn_env = std::getenv("RELAIS_BENCH_PG_DSN");
  if (!dsn_env || !*dsn_env) {
    std::cerr << "RELAIS_BENCH_PG_DSN is not set (deploy/local/stack.sh env gives RELAIS_PG_DSN)\n";
    return 2;
  }
  std::string dsn = dsn_env;
  boost::json::object out{
      {"benchmark", "directory_load"}, {"integrations", n}, {"cpas", rb::kCpas}};
  try {
    relais::pg::Connection c(dsn);
    // Reuse the data when it is exactly ours (same count, same last line).
    auto have = c.exec("SELECT count(*), COALESCE(max(id), 0) FROM integrations");
    bool same = have.integer(0, 0) == static_cast<long long>(n) &&
                have.integer(0, 1) == static_cast<long long>(n);
    if (same && !reload) {
      auto last = c.exec("SELECT ssin FROM integrations WHERE id = $1", {std::to_string(n)});
      same = last.rows() == 1 &&
             last.get(0, 0) == dir::ssin_string(rb::ssin_of_person(rb::line_of(n - 1).person));
    }
    if (!same || reload) {
      note("filling PostgreSQL with " + std::to_string(n) + " integrations");
      out["fill_s"] = fill(c, n);
    } else {
      note("reusing the " + std::to_string(n) + " integrations already in PostgreSQL");
      out["fill_s"] = nullptr;
    }
    auto db = c.exec("SELECT pg_total_relation_size('integrations')");
    out["pg_integrations_total_bytes"] = db.integer(0, 0);

    // 2. The router's start-up load.
    dir::Directory d;
    relais::router::DirectoryFeed feed(dsn, std::chrono::milliseconds(poll_ms));
    auto rss0 = rb::rss_bytes();
    auto maxrss0 = maxrss_bytes();
    auto t0 = Clock::now();
    feed.initial_load(d);
    double load_s = secs(Clock::now() - t0);
    auto rss1 = rb::rss_bytes();
    auto maxrss1 = maxrss_bytes();
    note("loaded " + std::to_string(d.size()) + " in " + std::to_string(load_s) + " s");
    auto size = static_cast<double>(d.size());
    out["load"] = {
        {"seconds", load_s},
        {"integrations_loaded", d.size()},
        {"integrations_per_s", size / load_s},
        {"memory_bytes", d.memory_bytes()},
        {"bytes_per_integration", static_cast<double>(d.memory_bytes()) / size},
        {"rss_before_bytes", rss0},
        {"rss_after_bytes", rss1},
        {"rss_delta_bytes_per_integration", static_cast<double>(rss1 - rss0) / size},
        {"peak_rss_bytes", maxrss1},
        {"peak_rss_before_load_bytes", maxrss0},
        {"peak_rss_bytes_per_integration", static_cast<double>(maxrss1) / size},
    };

    // 3. Change propagation: commit -> visible to the routing thread.
    struct Pending {
      std::uint64_t ssin;
      std::uint32_t id;
      Clock::time_point committed;
    };
    std::mutex mu;
    std::vector<Pending> pending;
    std::atomic<bool> writer_done{false};
    std::atomic<std::size_t> written{0};
    feed.start();
    std::thread writer([&] {
      relais::pg::Connection w(dsn);
      auto period =
          std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(1.0 / rate));
      auto total = static_cast<std::size_t>(rate * seconds);
      auto next = Clock::now();
      for (std::size_t k = 0; k < total; ++k) {
        std::this_thread::sleep_until(next);
        next += period;
        auto p = rb::persons_for(n) + 100 + k;  // new people: a fresh registration
        auto ssin = rb::ssin_of_person(p);
        auto r = w.exec(
            "INSERT INTO integrations (ssin, cbe, quality_code, start_date, created_by, "
            "updated_by) "
            "VALUES ($1, $2, 1, $3, 'bench', 'bench') RETURNING id",
            {dir::ssin_string(ssin), rb::cbe_of_cpas(static_cast<unsigned>(k % rb::kCpas)),
             date_of(rb::kEffectiveDay)});
        auto now = Clock::now();
        std::lock_guard lock(mu);
        pending.push_back(Pending{ssin, static_cast<std::uint32_t>(r.integer(0, 0)), now});
        written.fetch_add(1);
      }
      writer_done.store(true);
    });
    std::vector<double> lat_ms;
    std::size_t applied = 0, batches = 0;
    auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                       std::chrono::duration<double>(seconds + 10));
    // The routing thread: applies pending changes between batches (here every millisecond).
    while (Clock::now() < deadline) {
      auto k = feed.apply_pending(d);
      if (k) {
        applied += k;
        ++batches;
        auto now = Clock::now();
        std::lock_guard lock(mu);
        std::erase_if(pending, [&](const Pending& p) {
          bool seen = false;
          d.for_each(p.ssin, [&](const dir::Entry& e) { seen = seen || e.id == p.id; });
          if (seen)
            lat_ms.push_back(std::chrono::duration<double, std::milli>(now - p.committed).count());
          return seen;
        });
      }
      if (writer_done.load()) {
        std::lock_guard lock(mu);
        if (pending.empty()) break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    writer.join();
    feed.stop();
    out["change_propagation"] = {
        {"poll_ms", poll_ms},
        {"rate_per_s", rate},
        {"seconds", seconds},
        {"changes_committed", written.load()},
        {"changes_seen", lat_ms.size()},
        {"changes_applied", applied},
        {"apply_batches", batches},
        {"p50_ms", pct(lat_ms, 0.50)},
        {"p99_ms", pct(lat_ms, 0.99)},
        {"max_ms", lat_ms.empty() ? 0.0 : *std::max_element(lat_ms.begin(), lat_ms.end())},
        {"mean_ms", lat_ms.empty() ? 0.0 : [&] {
           double s = 0;
           for (double v : lat_ms) s += v;
           return s / static_cast<double>(lat_ms.size());
         }()},
    };
    // Leave the table as filled, so that the next run can reuse it.
    c.exec("DELETE FROM integrations WHERE id > $1", {std::to_string(n)});
    c.exec("SELECT setval(pg_get_serial_sequence('integrations', 'id'), " + std::to_string(n + 1) +
           ")");
  } catch (const std::exception& e) {
    std::cerr << "directory_load_bench: " << e.what() << "\n";
    return 1;
  }
  std::cout << boost::json::serialize(out) << std::endl;
  return 0;
}
