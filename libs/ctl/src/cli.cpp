#include "relais/ctl/cli.hpp"

#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <charconv>
#include <chrono>
#include <ctime>
#include <fstream>
#include <functional>
#include <iostream>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "relais/alerts/backlog.hpp"
#include "relais/alerts/reaction_codes.hpp"
#include "relais/api/backlog.hpp"
#include "relais/auth/credentials.hpp"
#include "relais/auth/journal.hpp"
#include "relais/codec/flow.hpp"
#include "relais/ctl/certs.hpp"
#include "relais/ctl/dlq.hpp"
#include "relais/ctl/import.hpp"
#include "relais/ctl/ingest_file.hpp"
#include "relais/ctl/lang.hpp"
#include "relais/ctl/onboard.hpp"
#include "relais/ctl/queries.hpp"
#include "relais/ctl/reconcile.hpp"
#include "relais/ctl/replay.hpp"
#include "relais/ctl/settings.hpp"
#include "relais/ctl/status.hpp"
#include "relais/directory/identity.hpp"
#include "relais/labels/labels.hpp"
#include "relais/validation/date.hpp"
#include "relais/validation/ids.hpp"
#include "relais/validation/text.hpp"

namespace relais::ctl {
namespace {

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

constexpr const char* kMainHelp = R"(relaisctl: the Relais operator's tool

usage: relaisctl [--config FILE] <command> [options]

commands:
  status [--cpas]                          readiness and key figures of the three services; --cpas: every CPAS, worst first
  dlq list [--limit N]                     newest dead letters
  dlq show <partition>:<offset>            one dead letter, decoded, as JSON
  dlq replay <p>:<o>... | --all-since OFF  re-produce dead letters to relais.inbound.v1
  directory import <cbe> <file>            bulk-load integrations (CSV or NDJSON) through relais-api
  ingest-file <flow> <file.ndjson> | ingest-file <file.xml>
                                           deliver a BCSS batch file to relais-ingest (resumable, idempotent)
  directory audit-replacements [...]       SSIN replacements to review; --confirm/--drop one
  directory identity list|set              a CPAS's NIS codes and BCSS sector/institution
  directory reconcile --cpas <cbe> <file>  compare the mirror with a ManageAccess LIST export [--apply]
  journal [filters]                        query the notification journal
  reactions [--cpas CBE] [--status S]      reaction delivery status (--lang: reaction code labels)
  reactions retry <reaction-id>|--failing  make pending or refused deliveries due now
  labels [--lang fr|nl|de|en] [--section S] labels for people: alert types, quality and reaction codes, errors
  alerts backlog --cpas CBE --as-of DATE   SPP IS clignotants without a reaction; six-month list (--lang)
  credentials create|list|rotate|revoke    relais-api credentials (bearer tokens)
  cpas onboard|offboard <cbe> --app NAME   a CPAS application's access: topics, Kafka principal, ACLs, token, bundle
  access-journal [filters]                 who called relais-api, accepted or refused
  replay --cpas CBE --since DATE           re-publish a CPAS's notifications since DATE to cpas.<cbe>.replay.v1
  certs check [--warn-days N] [FILE...]    warn when a PEM certificate expires within N (30) days

`relaisctl <command> --help` describes each command. The commands that print labels for people
(alerts backlog, reactions, labels, directory import's errors) take --lang fr|nl|de|en; without
it, ctl.lang (RELAIS_CTL_LANG, default en). Codes are never translated: labels go next to them.
Settings come from --config FILE (YAML) and RELAIS_* environment variables:
)";

struct Args {
  std::vector<std::string> positional;
  std::map<std::string, std::string> options;  // "--limit" -> "10"; flags -> ""
  bool help = false;

  bool flag(const std::string& k) const { return options.contains(k); }
  std::optional<std::string> get(const std::string& k) const {
    auto it = options.find(k);
    return it == options.end() ? std::nullopt : std::optional(it->second);
  }
};

// Parses the words after the command. `with_value` lists options taking a value; `flags` those
// without.
Args parse(const std::vector<std::string>& words, const std::vector<std::string>& with_value,
           const std::vector<std::string>& flags) {
  Args a;
  for (std::size_t i = 0; i < words.size(); ++i) {
    const auto& w = words[i];
    if (w == "--help" || w == "-h") {
      a.help = true;
    } else if (w.starts_with("--")) {
      auto eq = w.find('=');
      std::string k = w.substr(0, eq);
      bool takes = std::find(with_value.begin(), with_value.end(), k) != with_value.end();
      bool is_flag = std::find(flags.begin(), flags.end(), k) != flags.end();
      if (takes) {
        if (eq != std::string::npos)
          a.options[k] = w.substr(eq + 1);
        else if (i + 1 < words.size())
          a.options[k] = words[++i];
        else
          throw UsageError(k + " needs a value");
      } else if (is_flag && eq == std::string::npos) {
        a.options[k] = "";
      } else {
        throw UsageError("unknown option " + k);
      }
    } else {
      a.positional.push_back(w);
    }
  }
  return a;
}

int to_int(const std::string& opt, const std::string& v, long long lo, long long hi) {
  long long n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc{} || p != v.data() + v.size() || n < lo || n > hi)
    throw UsageError(opt + ": expected an integer between " + std::to_string(lo) + " and " +
                     std::to_string(hi) + ", got '" + v + "'");
  return static_cast<int>(n);
}

struct Ctx {
  Settings s;
  std::ostream& out;
  std::ostream& err;
};

// The language of the labels for people: --lang, else ctl.lang (validated when loaded).
labels::Lang lang_of(const Ctx& c, const Args& a) {
  auto lang = choose_lang(a.get("--lang"), c.s.lang);
  if (!lang) throw UsageError("--lang: one of fr, nl, de, en");
  return *lang;
}

constexpr const char* kReactionCodesFile = "deploy/rules/reaction-codes.yaml";

// The reaction code list of `file` (labels in four languages next to each code).
alerts::ReactionCodes reaction_codes(const std::string& file) {
  auto codes = alerts::load_reaction_codes(file);
  if (auto* e = std::get_if<std::string>(&codes)) throw std::runtime_error(*e);
  return std::get<alerts::ReactionCodes>(std::move(codes));
}

int cmd_status(Ctx& c, const std::vector<std::string>& w) {
  auto a = parse(w, {}, {"--json", "--cpas"});
  if (a.help) {
    c.out << "usage: relaisctl status [--json]\n       relaisctl status --cpas [--json]\n\nGETs "
             "/readyz and /metrics of relais-ingest, "
             "relais-router and "
             "relais-api (ingest.url, router.url, api.url) and prints one table: readiness, "
             "accepted, routed, "
             "dropped, dead-lettered (totals since start), consumer lag and outbox depth.\nExit "
             "code 1 when a "
             "service is down or not ready.\n\n--cpas: relais-api's table of every CPAS, worst "
             "first (GET /v1/ops/cpas with the operator token of RELAIS_API_TOKEN; the page "
             "/ops/cpas shows the same): severity, persons, routed in the last hour and day, last "
             "delivery, each application's waiting records and retention left, dead letters, open "
             "clignotants. --json prints relais-api's document as is. Exit code 1 when a CPAS is "
             "critical (records deleted unread, or to be within 24 h).\n";
    return kExitOk;
  }
  if (!a.positional.empty()) throw UsageError("status takes no argument");
  if (a.flag("--cpas")) {
    std::string error;
    auto doc = fetch_cpas_table(c.s, error);
    if (!error.empty()) {
      c.err << "relaisctl: " << error << "\n";
      return kExitFailed;
    }
    auto rows = cpas_status_rows(doc);
    c.out << (a.flag("--json") ? doc + "\n" : render_table(rows));
    for (const auto& r : rows.rows)
      if (r[0] == "critical") return kExitFailed;
    return kExitOk;
  }
  auto st = collect_status(c.s);
  auto rows = status_rows(st);
  c.out << (a.flag("--json") ? render_json(rows) + "\n" : render_table(rows));
  for (auto& s : st)
    if (!s.ready) return kExitFailed;
  return kExitOk;
}

constexpr const char* kDlqHelp = R"(usage:
  relaisctl dlq list [--limit N]
      the newest N (default 20) records of the dead-letter topic: coordinates, time, reason,
      source record, ticket when the original bytes decode.
  relaisctl dlq show <partition>:<offset>
      one record as JSON: reason, source coordinates, key, the original bytes (base64) and,
      when they decode, the original relais.v1.Notification and its validation error.
  relaisctl dlq replay <partition>:<offset>... [--force]
  relaisctl dlq replay --all-since <offset> [--force]
      re-produce the original bytes to relais.inbound.v1 with the original key (idempotent
      producer, acks=all) and headers flow/ticket/content-type rebuilt from the record. Each
      replay is recorded in PostgreSQL (dlq_replays); a record already replayed is skipped
      unless --force. The router dedupes by ticket, so a replay never duplicates output.
  relaisctl dlq replay <partition>:<offset> --edit FILE.json [--flow FLOW] [--force]
      replay a corrected body instead: FILE.json is the notification as relais-ingest accepts
      it (JSON of the flow's message). It is decoded and validated like ingest does; it must
      keep the original ticket; the key becomes its SSIN. --flow is needed only when the
      original bytes do not say their flow. Use it when the cause was the data itself
      (e.g. a mistyped SSIN), after checking the correct values with the sender.
exit codes: 0 all done, 1 a record failed or was not found, 2 usage error.
)";

int cmd_dlq(Ctx& c, const std::vector<std::string>& w) {
  if (w.empty() || w[0] == "--help" || w[0] == "-h") {
    c.out << kDlqHelp;
    return w.empty() ? kExitUsage : kExitOk;
  }
  std::vector<std::string> rest(w.begin() + 1, w.end());
  if (w[0] == "list") {
    auto a = parse(rest, {"--limit"}, {"--json"});
    if (a.help) return c.out << kDlqHelp, kExitOk;
    if (!a.positional.empty()) throw UsageError("dlq list takes no argument");
    int limit = a.get("--limit") ? to_int("--limit", *a.get("--limit"), 1, 100000) : 20;
    auto recs = dlq_list(c.s, static_cast<std::size_t>(limit));
    if (a.flag("--json")) {
      for (auto& r : recs) c.out << dlq_json(r) << "\n";
      return kExitOk;
    }
    Rows rows;
    rows.columns = {"dlq", "time", "reason", "source", "ticket", "replayed"};
    for (auto& r : recs) {
      relais::v1::Notification n;
      std::string ticket =
          r.parsed && n.ParseFromString(r.letter.value()) ? n.envelope().ticket() : "";
      auto t = std::chrono::system_clock::time_point(std::chrono::milliseconds(r.timestamp_ms));
      auto tt = std::chrono::system_clock::to_time_t(t);
      std::tm tm{};
      gmtime_r(&tt, &tm);
      char buf[32];
      std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
      rows.rows.push_back({std::to_string(r.at.partition) + ":" + std::to_string(r.at.offset),
                           std::string(buf), r.parsed ? r.letter.reason() : "(not a DeadLetter)",
                           r.letter.source_topic() + "/" +
                               std::to_string(r.letter.source_partition()) + "/" +
                               std::to_string(r.letter.source_offset()),
                           ticket, std::nullopt});
    }
    // Mark the ones already replayed (best effort: the database may be down while Kafka is not).
    try {
      pg::Connection db(c.s.pg_dsn);
      for (std::size_t i = 0; i < recs.size(); ++i) {
        auto res = db.exec(
            "SELECT count(*) FROM dlq_replays WHERE dlq_topic = $1 AND dlq_partition = $2 AND "
            "dlq_offset = $3",
            {c.s.dlq_topic, std::to_string(recs[i].at.partition),
             std::to_string(recs[i].at.offset)});
        rows.rows[i][5] = res.integer(0, 0) > 0 ? "yes" : "no";
      }
    } catch (const std::exception& e) {
      c.err << "relaisctl: replay status unknown (" << e.what() << ")\n";
    }
    c.out << render_table(rows);
    return kExitOk;
  }
  if (w[0] == "show") {
    auto a = parse(rest, {}, {});
    if (a.help) return c.out << kDlqHelp, kExitOk;
    if (a.positional.size() != 1) throw UsageError("dlq show takes one <partition>:<offset>");
    auto at = parse_coord(a.positional[0]);
    if (!at) throw UsageError("not a <partition>:<offset>: " + a.positional[0]);
    auto r = dlq_get(c.s, *at);
    if (!r) {
      c.err << "relaisctl: no record at " << a.positional[0] << " in " << c.s.dlq_topic << "\n";
      return kExitFailed;
    }
    c.out << dlq_json(*r) << "\n";
    return kExitOk;
  }
  if (w[0] == "replay") {
    auto a = parse(rest, {"--all-since", "--edit", "--flow"}, {"--force"});
    if (a.help) return c.out << kDlqHelp, kExitOk;
    std::vector<Coord> coords;
    for (auto& p : a.positional) {
      auto at = parse_coord(p);
      if (!at) throw UsageError("not a <partition>:<offset>: " + p);
      coords.push_back(*at);
    }
    auto since = a.get("--all-since");
    if (since && !coords.empty())
      throw UsageError("give either coordinates or --all-since, not both");
    if (!since && coords.empty())
      throw UsageError("dlq replay needs <partition>:<offset>... or --all-since <offset>");
    std::optional<Correction> corr;
    if (auto f = a.get("--edit")) {
      if (coords.size() != 1) throw UsageError("--edit replays exactly one <partition>:<offset>");
      std::ifstream in(*f, std::ios::binary);
      if (!in) throw UsageError("--edit: cannot read " + *f);
      std::stringstream ss;
      ss << in.rdbuf();
      corr = Correction{ss.str(), std::nullopt};
      if (auto fl = a.get("--flow")) {
        auto flow = codec::flow_from_id(*fl);
        if (!flow) throw UsageError("--flow: unknown flow " + *fl);
        corr->flow = *flow;
      }
    } else if (a.get("--flow")) {
      throw UsageError("--flow goes with --edit");
    }
    std::vector<DlqRecord> recs;
    int rc = kExitOk;
    if (since) {
      recs = dlq_since(c.s, to_int("--all-since", *since, 0, std::numeric_limits<int>::max()));
    } else {
      for (auto at : coords) {
        auto r = dlq_get(c.s, at);
        if (!r) {
          c.err << "relaisctl: no record at " << at.partition << ":" << at.offset << " in "
                << c.s.dlq_topic << "\n";
          rc = kExitFailed;
          continue;
        }
        recs.push_back(*r);
      }
    }
    pg::Connection db(c.s.pg_dsn);
    auto outcomes = dlq_replay(c.s, db, recs, a.flag("--force"), corr);
    std::size_t replayed = 0, skipped = 0, failed = 0;
    for (auto& o : outcomes) {
      const char* st = o.status == ReplayOutcome::Status::replayed           ? "replayed"
                       : o.status == ReplayOutcome::Status::already_replayed ? "skipped"
                                                                             : "FAILED";
      c.out << o.dlq.partition << ":" << o.dlq.offset << " " << st << ": " << o.detail;
      if (o.status == ReplayOutcome::Status::replayed)
        c.out << " -> " << c.s.inbound_topic << "/" << o.partition << "/" << o.offset;
      c.out << "\n";
      if (o.status == ReplayOutcome::Status::replayed)
        ++replayed;
      else if (o.status == ReplayOutcome::Status::already_replayed)
        ++skipped;
      else
        ++failed;
    }
    c.out << "replayed " << replayed << ", skipped " << skipped << ", failed " << failed << "\n";
    return failed > 0 ? kExitFailed : rc;
  }
  throw UsageError("unknown dlq command '" + w[0] + "' (list, show, replay)");
}

// Progress of a long upload on stderr: a bar redrawn in place on a terminal, otherwise one plain
// line a second.
std::function<void(const ImportProgress&)> progress_printer(std::ostream& err, bool tty) {
  auto last = std::make_shared<std::chrono::steady_clock::time_point>(
      std::chrono::steady_clock::now() - std::chrono::seconds(10));
  return [&err, tty, last](const ImportProgress& p) {
    auto now = std::chrono::steady_clock::now();
    if (tty) {
      err << "\r" << progress_line(p, true) << "\x1b[K" << std::flush;
    } else if (now - *last >= std::chrono::seconds(1)) {
      err << progress_line(p, false) << "\n" << std::flush;
      *last = now;
    }
  };
}

constexpr const char* kImportHelp =
    R"(usage: relaisctl directory import <cbe> <file.csv|file.ndjson> [--chunk N] [--lang fr|nl|de|en]

Streams the file to relais-api (POST /v1/cpas/{cbe}/integrations:import) in chunks of N lines
(default 10000). CSV: ssin,quality_code,start_date,end_date with an optional header line
(repeated in every chunk); NDJSON: {"ssin", "quality_code", "start_date", "end_date"?} per line.
Each chunk is all or nothing. On a rejected chunk the import stops: the chunks before it are
in, the errors are printed with the file's line numbers, and re-running the fixed file is safe
(lines already in are counted "unchanged"). Progress: a bar on a terminal, otherwise a line
every second; then a summary. Errors are shown with their code, and their text in --lang
(default ctl.lang, en; English when the code has no label).
exit codes: 0 imported, 1 stopped on an error, 2 usage error.
)";

constexpr const char* kIngestFileHelp =
    R"(usage: relaisctl ingest-file <flow> <file.ndjson> [--chunk N] [--file-id ID] [--again]
       relaisctl ingest-file <file.xml> [--chunk N] [--xsd-files F,F] [--xsd-roots D,D] [--mappings DIR]

Delivers a batch file (one notification of <flow> per line, the JSON form of relais-ingest) to
relais-ingest (POST /v1/notifications/{flow}:batch) in chunks of N lines (default 1000). Each
line keeps its source_file_id, sequence_number and ticket; a line without them gets the file id
(default: the file name and the start of its SHA-256), its line number, and a ticket derived from
both, so that delivering a line twice never publishes it twice.
Per-line results: <file>.results.ndjson ({"line", "ticket", "status": accepted|rejected, "code",
"message", "field"}). Progress: <file>.progress; after a crash or an interrupted run, the same
command resumes at the first chunk not recorded. A completed file is not delivered again unless
--again (then again under the same tickets: nothing is published twice). Busy answers (429, 503)
are retried after their Retry-After.
An XML batch (docs/bcss.md "Batch files", deploy/xsd/relais/batch.xsd; recognised by its
content) is read as a stream: its FileId is the file id, each notification element is a record
whose sequence number is its position, validated against the XSD set and mapped by
deploy/mappings exactly like a SOAP body (--xsd-files, --xsd-roots, --mappings: as relais-ingest's
ingest.soap.* settings, same defaults); results carry "record" and "flow" instead of "line".
exit codes: 0 delivered (rejected lines are in the results), 1 stopped (run it again to resume),
2 usage error.
)";

int cmd_ingest_file(Ctx& c, const std::vector<std::string>& w) {
  auto a = parse(
      w,
      {"--chunk", "--file-id", "--stop-after-chunks", "--xsd-files", "--xsd-roots", "--mappings"},
      {"--again"});
  if (a.help) return c.out << kIngestFileHelp, kExitOk;
  if (a.positional.size() == 1) a.positional.insert(a.positional.begin(), std::string());
  if (a.positional.size() != 2)
    throw UsageError("ingest-file takes <flow> <file.ndjson>, or <file.xml>");
  IngestFileOptions o;
  o.flow = a.positional[0];
  auto list = [](const std::string& v) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start <= v.size()) {
      const auto end = std::min(v.find(',', start), v.size());
      if (end > start) out.push_back(v.substr(start, end - start));
      start = end + 1;
    }
    return out;
  };
  if (auto v = a.get("--xsd-files")) o.xsd_files = list(*v);
  if (auto v = a.get("--xsd-roots")) o.xsd_roots = list(*v);
  if (auto v = a.get("--mappings")) o.mappings_dir = *v;
  if (auto n = a.get("--chunk"))
    o.chunk = static_cast<std::size_t>(to_int("--chunk", *n, 1, 100000));
  if (auto id = a.get("--file-id")) {
    if (auto e = validation::validate_text(*id, "--file-id", {128, false}))
      throw UsageError(e->message);
    o.file_id = *id;
  }
  o.again = a.flag("--again");
  if (auto n = a.get("--stop-after-chunks"))
    o.stop_after_chunks = static_cast<std::uint64_t>(to_int("--stop-after-chunks", *n, 1, 1000000));
  const bool tty = ::isatty(STDERR_FILENO) == 1;
  IngestFileSummary sum;
  try {
    sum = ingest_file(c.s, a.positional[1], o, progress_printer(c.err, tty));
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }
  if (tty) c.err << "\n";
  if (sum.already_complete) {
    c.out << "already delivered: " << sum.accepted << " accepted, " << sum.rejected
          << " rejected (see the .results.ndjson file; --again to deliver it again)\n";
    return kExitOk;
  }
  c.out << (sum.ok ? "delivered" : "stopped")
        << (sum.resumed ? " (resumed at line " + std::to_string(sum.from_line) + ")" : "") << ": "
        << sum.accepted << " accepted, " << sum.rejected << " rejected, " << sum.chunks
        << " chunks in " << static_cast<long long>(sum.seconds) << " s\n";
  if (!sum.ok) {
    c.err << "relaisctl ingest-file: " << sum.error << " (run the same command again to resume)\n";
    return kExitFailed;
  }
  return kExitOk;
}

constexpr const char* kAuditHelp = R"(usage:
  relaisctl directory audit-replacements [--all] [--limit N] [--json]
      the SSIN replacements that need review: recorded through the former CPAS path (quality
      code 999 on a CPAS's integrations route, source legacy_cpas) or contradicted by a later
      National Register SSIN_REPLACED (register_says: the number the register gave, not
      applied). cpas_old/cpas_new: the CPAS that integrated each number (a replacement makes
      each one's notifications reach the other's CPAS). --all: every active replacement.
  relaisctl directory audit-replacements --confirm <old_ssin> --reason TEXT
      keep it as recorded (a register conflict is dismissed; to apply the register's number,
      PUT /v1/ssin-replacements/{old_ssin} with "correct": true).
  relaisctl directory audit-replacements --drop <old_ssin> --reason TEXT
      the routers stop following it within a second. Both are journaled in directory_journal
      with ctl.actor and the reason.
exit codes: 0 done, 1 no such replacement (to review), 2 usage error.
)";

int cmd_audit_replacements(Ctx& c, const std::vector<std::string>& w) {
  auto a = parse(w, {"--confirm", "--drop", "--reason", "--limit"}, {"--all", "--json"});
  if (a.help) return c.out << kAuditHelp, kExitOk;
  if (!a.positional.empty()) throw UsageError("audit-replacements takes no positional argument");
  auto confirm = a.get("--confirm"), drop = a.get("--drop");
  if (confirm && drop) throw UsageError("give --confirm or --drop, not both");
  if (confirm || drop) {
    const auto& old_ssin = confirm ? *confirm : *drop;
    if (auto e = validation::validate_ssin(old_ssin, "old_ssin"))
      throw UsageError("<old_ssin>: " + e->message);
    auto reason = a.get("--reason").value_or("");
    if (reason.find_first_not_of(" \t") == std::string::npos)
      throw UsageError("--reason is required (journaled)");
    pg::Connection db(c.s.pg_dsn);
    auto action = confirm ? ReviewAction::confirm : ReviewAction::drop;
    if (!review_replacement(db, action, old_ssin, c.s.actor, reason)) {
      c.err << "relaisctl: no active replacement of " << old_ssin
            << (confirm ? " needs review" : "") << "\n";
      return kExitFailed;
    }
    c.out << (confirm ? "confirmed " : "dropped ") << old_ssin << "\n";
    return kExitOk;
  }
  if (a.get("--reason")) throw UsageError("--reason goes with --confirm or --drop");
  ReplacementAudit q;
  q.all = a.flag("--all");
  if (auto l = a.get("--limit")) q.limit = to_int("--limit", *l, 1, 100000);
  pg::Connection db(c.s.pg_dsn);
  auto rows = audit_replacements(db, q);
  c.out << (a.flag("--json") ? render_json(rows) + "\n" : render_table(rows));
  return kExitOk;
}

constexpr const char* kIdentityHelp = R"(usage:
  relaisctl directory identity list [--cbe CBE] [--json]
      each CPAS's identity in the BCSS network: the NIS codes of the municipalities it serves
      (relais-api accepts one in the place of the CBE in /v1/cpas/{cbe}/...), its sector and
      institution number.
  relaisctl directory identity set <cbe> --nis CODE[,CODE...] [--sector N --institution N] --reason TEXT
      replaces that CPAS's identity. A code ended by a municipal merger is stored as the
      merged municipality's code; a municipality served by another CPAS is refused. --nis ""
      clears the codes. Journaled in directory_journal (cpas-identity) with ctl.actor and the reason.
exit codes: 0 done, 1 refused (no such CPAS, a code or the sector/institution taken), 2 usage error.
)";

int cmd_identity(Ctx& c, const std::vector<std::string>& w) {
  if (w.empty() || w[0] == "--help" || w[0] == "-h") return c.out << kIdentityHelp, kExitOk;
  if (w[0] == "list") {
    auto a = parse({w.begin() + 1, w.end()}, {"--cbe"}, {"--json"});
    if (a.help) return c.out << kIdentityHelp, kExitOk;
    if (!a.positional.empty()) throw UsageError("identity list takes no positional argument");
    std::optional<std::string> cbe = a.get("--cbe");
    if (cbe)
      if (auto e = validation::validate_cbe(*cbe, "cbe")) throw UsageError("--cbe: " + e->message);
    pg::Connection db(c.s.pg_dsn);
    Rows rows;
    rows.columns = {"cbe",        "nis_codes",  "sector", "institution",
                    "updated_by", "updated_at", "reason"};
    for (const auto& id : directory::load_identities(db, cbe)) {
      std::string nis;
      for (auto n : id.nis) {
        auto t = std::to_string(n);
        nis +=
            (nis.empty() ? "" : ",") + std::string(5 - std::min<std::size_t>(5, t.size()), '0') + t;
      }
      auto opt = [](const std::optional<unsigned>& v) {
        return v ? std::optional<std::string>(std::to_string(*v)) : std::nullopt;
      };
      rows.rows.push_back({id.cbe, nis, opt(id.sector), opt(id.institution), id.updated_by,
                           id.updated_at, id.reason});
    }
    c.out << (a.flag("--json") ? render_json(rows) + "\n" : render_table(rows));
    return kExitOk;
  }
  if (w[0] != "set") throw UsageError("usage: relaisctl directory identity list|set (see --help)");
  auto a = parse({w.begin() + 1, w.end()}, {"--nis", "--sector", "--institution", "--reason"}, {});
  if (a.help) return c.out << kIdentityHelp, kExitOk;
  if (a.positional.size() != 1) throw UsageError("identity set takes <cbe>");
  directory::CpasIdentity id;
  id.cbe = a.positional[0];
  if (auto e = validation::validate_cbe(id.cbe, "cbe")) throw UsageError("<cbe>: " + e->message);
  auto nis = a.get("--nis");
  if (!nis) throw UsageError("--nis is required (comma-separated NIS codes; \"\" clears them)");
  std::vector<std::string> codes;
  for (std::size_t pos = 0; !nis->empty() && pos <= nis->size();) {
    auto comma = nis->find(',', pos);
    codes.push_back(nis->substr(pos, comma == std::string::npos ? std::string::npos : comma - pos));
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  if (auto v = a.get("--sector")) id.sector = static_cast<unsigned>(to_int("--sector", *v, 0, 999));
  if (auto v = a.get("--institution"))
    id.institution = static_cast<unsigned>(to_int("--institution", *v, 0, 999));
  auto reason = a.get("--reason").value_or("");
  if (reason.find_first_not_of(" \t") == std::string::npos)
    throw UsageError("--reason is required (journaled)");
  if (auto e = directory::normalize_identity(codes, id))
    throw UsageError(e->field + ": " + e->message);
  pg::Connection db(c.s.pg_dsn);
  auto conflict = directory::write_identity(db, id, c.s.actor, reason);
  switch (conflict.kind) {
    case directory::IdentityConflict::no_cpas:
      c.err << "relaisctl: no CPAS " << id.cbe << " (create it first: PUT /v1/cpas/{cbe})\n";
      return kExitFailed;
    case directory::IdentityConflict::nis_taken:
      c.err << "relaisctl: municipality " << conflict.nis << " is already served by CPAS "
            << conflict.other_cbe << "\n";
      return kExitFailed;
    case directory::IdentityConflict::bcss_id_taken:
      c.err << "relaisctl: this sector and institution identify CPAS " << conflict.other_cbe
            << "\n";
      return kExitFailed;
    case directory::IdentityConflict::none:
      break;
  }
  c.out << "identity of " << id.cbe << " set: " << id.nis.size() << " NIS code(s)\n";
  return kExitOk;
}

constexpr const char* kReconcileHelp =
    R"(usage: relaisctl directory reconcile --cpas <cbe> <file> [--apply] [--json]
                                   [--org-unit ID[,ID...]] [--xsd-dir DIR]

Compares the mirror of one CPAS (its integrations, read through relais-api) with a ManageAccess
LIST export: an XML file holding the ManageAccessReply of one or more LIST calls (bare, in an
SSDNReply or a SOAP envelope, or several in any wrapper element; validated against the public
XSD in --xsd-dir, default var/bcss/cbss/XSD), or the CSV form ssin,quality_code,start_date[,end_date]
(header line optional). An XML export covers only the persons its replies are about, and keeps
only the registrations whose OrgUnit is the CPAS's CBE or one of --org-unit (e.g. its NIS code);
a CSV export is the CPAS's whole list. Each difference is printed: missing_in_mirror,
missing_at_bcss, period_differs, quality_differs (same person and start date). With --apply
the mirror is repaired through PUT /v1/cpas/{cbe}/integrations (a line missing at BCSS is
cancelled: end = start - 1), each repair journaled in directory_journal and the access journal
with ctl.actor. Needs RELAIS_API_TOKEN (operator, or the CPAS's own credential).
exit codes: 0 no difference (or every one repaired), 1 differences found without --apply, or a
repair refused, 2 usage error or unreadable export.
)";

int cmd_reconcile(Ctx& c, const std::vector<std::string>& w) {
  auto a = parse(w, {"--cpas", "--org-unit", "--xsd-dir"}, {"--apply", "--json"});
  if (a.help) return c.out << kReconcileHelp, kExitOk;
  if (a.positional.size() != 1)
    throw UsageError("directory reconcile takes --cpas <cbe> and one <file>");
  ReconcileOptions o;
  o.cbe = a.get("--cpas").value_or("");
  if (auto e = validation::validate_cbe(o.cbe, "cbe")) throw UsageError("--cpas: " + e->message);
  o.file = a.positional[0];
  o.apply = a.flag("--apply");
  if (auto d = a.get("--xsd-dir")) o.xsd_dir = *d;
  if (auto u = a.get("--org-unit")) {
    std::stringstream ss(*u);
    for (std::string x; std::getline(ss, x, ',');)
      if (!x.empty()) o.org_units.insert(x);
  }
  ReconcileReport rep;
  try {
    rep = reconcile(c.s, o);
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }
  Rows rows;
  rows.columns = {"difference", "ssin", "mirror", "bcss", "repair"};
  auto describe = [](const std::optional<manageaccess::Line>& l) -> std::optional<std::string> {
    if (!l) return std::nullopt;
    return "quality " + std::to_string(l->quality) + " " + l->start + ".." +
           (l->end.empty() ? "" : l->end);
  };
  for (const auto& d : rep.differences) {
    std::string repair;
    for (const auto& r : d.repairs)
      repair += (repair.empty() ? "" : "; ") + std::string("put quality ") +
                std::to_string(r.quality) + " " + r.start + ".." + r.end;
    rows.rows.push_back({std::string(manageaccess::to_string(d.kind)),
                         (d.mirror ? d.mirror : d.bcss)->ssin, describe(d.mirror), describe(d.bcss),
                         repair});
  }
  c.out << (a.flag("--json") ? render_json(rows) + "\n" : render_table(rows));
  c.err << "mirror " << rep.mirror_lines << " lines, export " << rep.export_lines << " lines, "
        << rep.differences.size() << " difference(s)";
  if (o.apply) c.err << ", " << rep.repaired << " repair(s) written";
  c.err << "\n";
  if (!rep.error.empty()) {
    c.err << "relaisctl: " << rep.error << "\n";
    return kExitFailed;
  }
  return rep.differences.empty() || o.apply ? kExitOk : kExitFailed;
}

int cmd_directory(Ctx& c, const std::vector<std::string>& w) {
  if (!w.empty() && w[0] == "reconcile") return cmd_reconcile(c, {w.begin() + 1, w.end()});
  if (!w.empty() && w[0] == "audit-replacements")
    return cmd_audit_replacements(c, {w.begin() + 1, w.end()});
  if (!w.empty() && w[0] == "identity") return cmd_identity(c, {w.begin() + 1, w.end()});
  if (w.empty() || w[0] != "import") {
    if (!w.empty() && (w[0] == "--help" || w[0] == "-h"))
      return c.out << kImportHelp << "\n"
                   << kAuditHelp << "\n"
                   << kIdentityHelp << "\n"
                   << kReconcileHelp,
             kExitOk;
    throw UsageError(
        "usage: relaisctl directory import <cbe> <file> [--chunk N] | directory audit-replacements "
        "| directory identity");
  }
  auto a = parse({w.begin() + 1, w.end()}, {"--chunk", "--lang"}, {});
  if (a.help) return c.out << kImportHelp, kExitOk;
  if (a.positional.size() != 2) throw UsageError("directory import takes <cbe> <file>");
  const auto lang = lang_of(c, a);
  const auto& cbe = a.positional[0];
  if (auto e = validation::validate_cbe(cbe, "cbe")) throw UsageError("<cbe>: " + e->message);
  int chunk = a.get("--chunk") ? to_int("--chunk", *a.get("--chunk"), 1, 1000000) : 10000;
  bool tty = ::isatty(STDERR_FILENO) == 1;
  ImportSummary sum;
  try {
    sum = import_directory(c.s, cbe, a.positional[1], static_cast<std::size_t>(chunk),
                           progress_printer(c.err, tty));
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }
  if (tty) c.err << "\n";
  char buf[256];
  std::snprintf(
      buf, sizeof buf, "lines %llu, written %llu, unchanged %llu, in %.1fs (%.0f lines/s)\n",
      static_cast<unsigned long long>(sum.lines), static_cast<unsigned long long>(sum.written),
      static_cast<unsigned long long>(sum.unchanged), sum.seconds,
      sum.seconds > 0 ? static_cast<double>(sum.lines) / sum.seconds : 0.0);
  if (sum.ok) {
    c.out << "imported " << buf;
    return kExitOk;
  }
  c.out << "stopped: " << sum.error << "\nthe chunk starting at line "
        << sum.failed_chunk_first_line
        << " was rejected (nothing of it was written); before it: " << buf;
  for (auto& e : sum.errors)
    c.out << "  line " << e.line << ": " << e.code << (e.field.empty() ? "" : " (" + e.field + ")")
          << ": " << error_text(e.code, e.message, lang) << "\n";
  return kExitFailed;
}

constexpr const char* kJournalHelp =
    R"(usage: relaisctl journal [--ticket T] [--ssin S] [--cpas CBE] [--since TIME] [--until TIME]
                         [--kind K] [--limit N] [--json]

Newest first (default limit 100). TIME is RFC 3339 (2026-11-01T10:00:00Z) or a date
(2026-11-01, midnight UTC); --since is inclusive, --until exclusive. K is one of accepted,
routed, dropped, duplicate, dead_letter, alert.
)";

int cmd_journal(Ctx& c, const std::vector<std::string>& w) {
  auto a = parse(w, {"--ticket", "--ssin", "--cpas", "--since", "--until", "--kind", "--limit"},
                 {"--json"});
  if (a.help) return c.out << kJournalHelp, kExitOk;
  if (!a.positional.empty()) throw UsageError("journal takes no positional argument");
  JournalQuery q{a.get("--ticket"),
                 a.get("--ssin"),
                 a.get("--cpas"),
                 a.get("--since"),
                 a.get("--until"),
                 a.get("--kind"),
                 100};
  if (auto l = a.get("--limit")) q.limit = to_int("--limit", *l, 1, 100000);
  if (auto e = validate(q)) throw UsageError(*e);
  pg::Connection db(c.s.pg_dsn);
  auto rows = query_journal(db, q);
  c.out << (a.flag("--json") ? render_json(rows) + "\n" : render_table(rows));
  return kExitOk;
}

constexpr const char* kReactionsHelp = R"(usage:
  relaisctl reactions [--cpas CBE] [--status PENDING|FAILING|FAILED|SENT] [--limit N] [--json]
                      [--lang fr|nl|de|en] [--reaction-codes FILE]
      reactions, newest first: reaction code and its label (code_label, in --lang, default
      ctl.lang or en; from FILE, default deploy/rules/reaction-codes.yaml), delivery status,
      attempts, outbox rows (destination:status@next attempt), last attempt outcome and error.
  relaisctl reactions retry <reaction-id> | --failing
      makes the pending or failed outbox rows of that reaction (or of every FAILING or FAILED
      reaction) pending and due now, and resets their backoff (outbox.attempts = 0;
      reaction_attempts keeps the history). A FAILED reaction (refused by SPP IS) is retried only
      this way, once the cause is fixed. Rows a sender holds a lease on right now are left alone.
      The senders pick them up at their next poll.
)";

int cmd_reactions(Ctx& c, const std::vector<std::string>& w) {
  if (!w.empty() && w[0] == "retry") {
    auto a = parse({w.begin() + 1, w.end()}, {}, {"--failing"});
    if (a.help) return c.out << kReactionsHelp, kExitOk;
    std::string id;
    if (a.flag("--failing")) {
      if (!a.positional.empty()) throw UsageError("give either <reaction-id> or --failing");
    } else {
      if (a.positional.size() != 1)
        throw UsageError("reactions retry takes <reaction-id> or --failing");
      id = a.positional[0];
      if (!is_uuid(id)) throw UsageError("<reaction-id>: not a UUID: " + id);
    }
    pg::Connection db(c.s.pg_dsn);
    auto n = retry_reactions(db, id);
    c.out << n << " outbox row(s) made due now\n";
    return n > 0 || id.empty() ? kExitOk : kExitFailed;
  }
  auto a = parse(w, {"--cpas", "--status", "--limit", "--lang", "--reaction-codes"}, {"--json"});
  if (a.help) return c.out << kReactionsHelp, kExitOk;
  if (!a.positional.empty())
    throw UsageError("unknown reactions command '" + a.positional[0] + "'");
  ReactionQuery q{a.get("--cpas"), a.get("--status"), 100};
  if (auto l = a.get("--limit")) q.limit = to_int("--limit", *l, 1, 100000);
  if (auto e = validate(q)) throw UsageError(*e);
  const auto lang = lang_of(c, a);
  // The labels are for people: without the code list the listing still works (labels = codes).
  alerts::ReactionCodes codes;
  try {
    codes = reaction_codes(a.get("--reaction-codes").value_or(kReactionCodesFile));
  } catch (const std::exception& e) {
    c.err << "relaisctl reactions: no reaction code labels (" << e.what() << ")\n";
  }
  pg::Connection db(c.s.pg_dsn);
  auto rows = query_reactions(db, q);
  add_label_column(rows, "code", "code_label", [&](const std::string& code) {
    const auto* rc = codes.find(code);
    return rc != nullptr ? rc->label(labels::name(lang)) : code;
  });
  c.out << (a.flag("--json") ? render_json(rows) + "\n" : render_table(rows));
  return kExitOk;
}

constexpr const char* kLabelsHelp = R"(usage:
  relaisctl labels [--lang fr|nl|de|en] [--section SECTION] [--reaction-codes FILE] [--json]
      the labels for people in one language (default ctl.lang, en): alert_types, quality_codes,
      reaction_codes (from FILE, default deploy/rules/reaction-codes.yaml), problem_titles, errors.
      One "section<TAB>key<TAB>label" line each, or one JSON object of sections.
)";

int cmd_labels(Ctx& c, const std::vector<std::string>& w) {
  auto a = parse(w, {"--lang", "--section", "--reaction-codes"}, {"--json"});
  if (a.help) return c.out << kLabelsHelp, kExitOk;
  if (!a.positional.empty()) throw UsageError("labels takes no argument");
  const auto lang = lang_of(c, a);
  const auto codes = reaction_codes(a.get("--reaction-codes").value_or(kReactionCodesFile));
  std::map<std::string, std::map<std::string, std::string>> out;
  for (const auto& [section, entries] : labels::builtin().sections)
    for (const auto& [key, texts] : entries) out[section][key] = texts[static_cast<int>(lang)];
  for (const auto& rc : codes.codes) out["reaction_codes"][rc.code] = rc.label(labels::name(lang));
  if (auto sec = a.get("--section")) {
    if (!out.contains(*sec))
      throw UsageError(
          "--section: one of alert_types, quality_codes, reaction_codes, "
          "problem_titles, errors");
    out = {{*sec, out[*sec]}};
  }
  if (a.flag("--json")) {
    boost::json::object o{{"lang", labels::name(lang)}};
    for (const auto& [section, entries] : out) {
      boost::json::object sec;
      for (const auto& [k, v] : entries) sec[k] = v;
      o[section] = std::move(sec);
    }
    c.out << boost::json::serialize(o) << "\n";
  } else {
    for (const auto& [section, entries] : out)
      for (const auto& [k, v] : entries) c.out << section << '\t' << k << '\t' << v << '\n';
  }
  return kExitOk;
}

constexpr const char* kAlertsHelp = R"(usage:
  relaisctl alerts backlog --cpas CBE --as-of YYYY-MM-DD [--format json|csv] [--lang fr|nl|de|en]
      the CPAS's SPP IS clignotants without a reaction on that day, by age bucket (days since
      issue: 0-29, 30-89, 90-179, 180-364, 365+) and type, and the list SPP IS sends in March and
      October: those issued at least six calendar months before the day and still without a
      reaction. json (default): the report; csv: one line per open clignotant, oldest first.
      Read from PostgreSQL (pg.dsn); the same report as GET /v1/cpas/{cbe}/clignotants/backlog,
      plus the type labels in --lang (default ctl.lang, en): json "lang", "type_labels" and each
      reminder clignotant's "type_label"; csv a last column type_label.
exit codes: 0 done, 1 unknown CPAS or database error, 2 usage error.
)";

int cmd_alerts(Ctx& c, const std::vector<std::string>& w) {
  if (w.empty() || w[0] != "backlog") {
    if (!w.empty() && (w[0] == "--help" || w[0] == "-h")) return c.out << kAlertsHelp, kExitOk;
    throw UsageError(w.empty() ? "alerts needs a command (backlog)"
                               : "unknown alerts command '" + w[0] + "'");
  }
  auto a = parse({w.begin() + 1, w.end()}, {"--cpas", "--as-of", "--format", "--lang"}, {});
  if (a.help) return c.out << kAlertsHelp, kExitOk;
  if (!a.positional.empty()) throw UsageError("alerts backlog takes no positional argument");
  auto cbe = a.get("--cpas");
  if (!cbe || !validation::is_valid_cbe(*cbe))
    throw UsageError("--cpas: a CBE number (10 digits) is required");
  auto as_of_text = a.get("--as-of");
  auto as_of = as_of_text ? validation::parse_iso_date(*as_of_text) : std::nullopt;
  if (!as_of) throw UsageError("--as-of: a YYYY-MM-DD date is required");
  const std::string format = a.get("--format").value_or("json");
  if (format != "json" && format != "csv") throw UsageError("--format: json or csv");
  const auto lang = lang_of(c, a);
  pg::Connection db(c.s.pg_dsn);
  if (db.exec("SELECT 1 FROM cpas WHERE cbe = $1", {*cbe}).rows() == 0) {
    c.err << "relaisctl alerts backlog: no CPAS " << *cbe << "\n";
    return kExitFailed;
  }
  auto rows = api::load_backlog_rows(db, *cbe, *as_of);
  auto b = alerts::backlog(*cbe, *as_of, rows);
  c.out << (format == "csv" ? backlog_csv_for_people(b, lang)
                            : backlog_json_for_people(b, lang) + "\n");
  return kExitOk;
}

constexpr const char* kCredentialsHelp = R"(usage:
  relaisctl credentials create --name NAME (--operator | --cpas CBE[,CBE...])... [--expires-in D] [--json]
      a new relais-api credential. The token (rls_<id>_<secret>) is printed once, on stdout,
      and never stored: only its SHA-256 is. --operator: the data centre (every CPAS and the
      operator routes); --cpas: those CPAS only. D: 90d (default), 12h, 30m... (at most 3 years).
  relaisctl credentials list [--all] [--cpas CBE] [--json]
      credentials (without --all: only those neither revoked nor expired); never the tokens.
  relaisctl credentials rotate <id> [--grace D] [--expires-in D] [--json]
      a new token with the same name and scopes; the old one keeps working for the grace
      period (default 1h, 0 = revoked at once) so that its user can switch.
  relaisctl credentials revoke <id> [--reason TEXT]
      refused by relais-api from now on, within auth.cache_ttl_ms (5 s by default).
exit codes: 0 done, 1 not found or database error, 2 usage error.
)";

void print_created(Ctx& c, const auth::Created& cr, bool as_json, const std::string& extra = {}) {
  if (as_json) {
    boost::json::object o{{"id", cr.id},
                          {"name", cr.name},
                          {"scopes", cr.scopes},
                          {"expires_at", cr.expires_at},
                          {"token", cr.token}};
    c.out << boost::json::serialize(o) << "\n";
    return;
  }
  c.err << "credential " << cr.id << " (" << cr.name << ", " << cr.scopes << "), expires "
        << cr.expires_at << extra << "\nthe token is shown once: keep it in a secret store\n";
  c.out << cr.token << "\n";
}

int cmd_credentials(Ctx& c, const std::vector<std::string>& w) {
  if (w.empty() || w[0] == "--help" || w[0] == "-h") {
    c.out << kCredentialsHelp;
    return w.empty() ? kExitUsage : kExitOk;
  }
  std::vector<std::string> rest(w.begin() + 1, w.end());
  auto duration = [](const std::string& opt, const std::string& v) {
    auto d = auth::parse_duration_seconds(v);
    if (!d)
      throw UsageError(opt + ": expected a duration like 90d, 12h, 30m, 45s or 0, got '" + v + "'");
    return *d;
  };
  if (w[0] == "create") {
    // --cpas may be repeated: collect every occurrence.
    std::vector<std::string> scopes, others;
    for (std::size_t i = 0; i < rest.size(); ++i) {
      if (rest[i] == "--cpas" || rest[i].starts_with("--cpas=")) {
        std::string v;
        if (rest[i] == "--cpas") {
          if (i + 1 >= rest.size()) throw UsageError("--cpas needs a value");
          v = rest[++i];
        } else {
          v = rest[i].substr(7);
        }
        for (std::size_t p = 0; p <= v.size();) {
          auto comma = v.find(',', p);
          if (comma == std::string::npos) comma = v.size();
          if (comma > p) scopes.push_back("cpas:" + v.substr(p, comma - p));
          p = comma + 1;
        }
      } else {
        others.push_back(rest[i]);
      }
    }
    auto a = parse(others, {"--name", "--expires-in"}, {"--operator", "--json"});
    if (a.help) return c.out << kCredentialsHelp, kExitOk;
    if (!a.positional.empty()) throw UsageError("credentials create takes no positional argument");
    if (a.flag("--operator")) scopes.insert(scopes.begin(), "operator");
    auth::NewCredential n;
    n.name = a.get("--name").value_or("");
    if (n.name.empty()) throw UsageError("--name is required");
    auto sc = auth::parse_scopes(scopes);
    if (auto* e = std::get_if<std::string>(&sc))
      throw UsageError(*e + " (give --operator and/or --cpas CBE)");
    n.scopes = std::get<auth::Scopes>(sc);
    if (auto d = a.get("--expires-in")) n.lifetime_seconds = duration("--expires-in", *d);
    n.created_by = c.s.actor;
    if (auto e = auth::validate(n)) throw UsageError(*e);
    pg::Connection db(c.s.pg_dsn);
    print_created(c, auth::create_credential(db, n), a.flag("--json"));
    return kExitOk;
  }
  if (w[0] == "list") {
    auto a = parse(rest, {"--cpas"}, {"--all", "--json"});
    if (a.help) return c.out << kCredentialsHelp, kExitOk;
    if (!a.positional.empty()) throw UsageError("credentials list takes no positional argument");
    if (auto cb = a.get("--cpas"); cb && !validation::is_valid_cbe(*cb))
      throw UsageError("--cpas: not a valid CBE");
    pg::Connection db(c.s.pg_dsn);
    Rows rows;
    rows.columns = {"id",         "name",       "scopes",     "state",        "created_at",
                    "created_by", "expires_at", "revoked_at", "rotated_from", "last_used_at"};
    for (auto& r : auth::list_credentials(db, a.flag("--all"), a.get("--cpas")))
      rows.rows.push_back({r.id, r.name, r.scopes, r.state, r.created_at, r.created_by,
                           r.expires_at, r.revoked_at, r.rotated_from, r.last_used_at});
    c.out << (a.flag("--json") ? render_json(rows) + "\n" : render_table(rows));
    return kExitOk;
  }
  if (w[0] == "rotate") {
    auto a = parse(rest, {"--grace", "--expires-in"}, {"--json"});
    if (a.help) return c.out << kCredentialsHelp, kExitOk;
    if (a.positional.size() != 1 || !auth::is_credential_id(a.positional[0]))
      throw UsageError("credentials rotate takes one credential id (16 hex digits)");
    long long grace = a.get("--grace") ? duration("--grace", *a.get("--grace")) : 3600;
    long long life =
        a.get("--expires-in") ? duration("--expires-in", *a.get("--expires-in")) : 90LL * 86400;
    pg::Connection db(c.s.pg_dsn);
    try {
      auto rot = auth::rotate_credential(db, a.positional[0], grace, life, c.s.actor);
      print_created(c, rot.created, a.flag("--json"),
                    "; replaces " + rot.old_id + ", which " +
                        (grace == 0 ? "was revoked at " : "stays valid until ") +
                        rot.old_valid_until);
    } catch (const std::invalid_argument& e) {
      c.err << "relaisctl credentials rotate: " << e.what() << "\n";
      return kExitFailed;
    }
    return kExitOk;
  }
  if (w[0] == "revoke") {
    auto a = parse(rest, {"--reason"}, {});
    if (a.help) return c.out << kCredentialsHelp, kExitOk;
    if (a.positional.size() != 1 || !auth::is_credential_id(a.positional[0]))
      throw UsageError("credentials revoke takes one credential id (16 hex digits)");
    pg::Connection db(c.s.pg_dsn);
    if (!auth::revoke_credential(db, a.positional[0], c.s.actor, a.get("--reason").value_or(""))) {
      c.err << "relaisctl credentials revoke: no credential " << a.positional[0] << "\n";
      return kExitFailed;
    }
    c.out << "revoked " << a.positional[0]
          << " (relais-api refuses it within its auth.cache_ttl_ms)\n";
    return kExitOk;
  }
  throw UsageError("unknown credentials command '" + w[0] + "' (create, list, rotate, revoke)");
}

constexpr const char* kAccessJournalHelp =
    R"(usage: relaisctl access-journal [--credential ID|NAME] [--cpas CBE] [--ssin S]
                                [--since TIME] [--until TIME] [--status CODE|refused|allowed]
                                [--limit N] [--json]

Calls to relais-api, newest first (default limit 100): time, credential (or anonymous),
client address, method, route, CPAS, SSIN, status, refusal reason, request id. TIME is
RFC 3339 or a date (midnight UTC); --since inclusive, --until exclusive.
)";

int cmd_access_journal(Ctx& c, const std::vector<std::string>& w) {
  auto a =
      parse(w, {"--credential", "--cpas", "--ssin", "--since", "--until", "--status", "--limit"},
            {"--json"});
  if (a.help) return c.out << kAccessJournalHelp, kExitOk;
  if (!a.positional.empty()) throw UsageError("access-journal takes no positional argument");
  auth::AccessQuery q;
  q.credential = a.get("--credential");
  q.cpas = a.get("--cpas");
  q.ssin = a.get("--ssin");
  q.since = a.get("--since");
  q.until = a.get("--until");
  q.status = a.get("--status");
  if (auto l = a.get("--limit")) q.limit = to_int("--limit", *l, 1, auth::kAccessQueryMaxLimit);
  if (auto e = auth::validate(q)) throw UsageError("--" + *e);
  pg::Connection db(c.s.pg_dsn);
  auto r = auth::query_access_journal(db, q);
  Rows rows;
  rows.columns = auth::access_journal_columns();
  for (int i = 0; i < r.rows(); ++i) {
    std::vector<std::optional<std::string>> row;
    row.reserve(static_cast<std::size_t>(r.columns()));
    for (int col = 0; col < r.columns(); ++col)
      row.push_back(r.is_null(i, col) ? std::nullopt : std::optional<std::string>(r.str(i, col)));
    rows.rows.push_back(std::move(row));
  }
  c.out << (a.flag("--json") ? render_json(rows) + "\n" : render_table(rows));
  return kExitOk;
}

}  // namespace

constexpr const char* kCpasHelp = R"(usage:
  relaisctl cpas onboard <cbe> --app NAME [--out DIR] [--name "CPAS NAME"] [--expires-in D]
      gives one application of a CPAS its access, idempotently: the CPAS (created with --name,
      default "CPAS <cbe>", when missing), its topics cpas.<cbe>.notifications.v1 and .alerts.v1,
      the Kafka principal cpas-<cbe>-NAME (SCRAM-SHA-512) allowed to read the topics cpas.<cbe>.*
      in consumer groups cpas.<cbe>.* and nothing else, and a relais-api token scoped to that CPAS
      (--expires-in, default 180d; kept while the bundle's one is valid). Writes the connection
      bundle DIR (default ./relais-<cbe>-NAME, mode 0700): client.properties (Java client and
      librdkafka), kafka.password, api.token, ca.pem when the brokers speak TLS. Journaled in
      directory_journal (app-onboard). Needs pg.dsn and the Kafka administrator's credentials
      in the environment of the Kafka access tool (ctl.acls_tool, deploy/kafka/acls.sh).
  relaisctl cpas offboard <cbe> --app NAME [--reason TEXT]
      removes that application's ACLs and SCRAM user and revokes its tokens (refused by
      relais-api within auth.cache_ttl_ms); journaled in directory_journal (app-offboard).
Exit codes: 0 done, 1 a step failed (run the same command again), 2 usage error.
)";

int cmd_cpas(Ctx& c, const std::vector<std::string>& w) {
  if (w.empty() || w[0] == "--help" || w[0] == "-h")
    return c.out << kCpasHelp, w.empty() ? kExitUsage : kExitOk;
  if (w[0] != "onboard" && w[0] != "offboard")
    throw UsageError("unknown cpas command '" + w[0] + "' (onboard, offboard)");
  auto a =
      parse({w.begin() + 1, w.end()}, {"--app", "--out", "--name", "--expires-in", "--reason"}, {});
  if (a.help) return c.out << kCpasHelp, kExitOk;
  if (a.positional.size() != 1) throw UsageError(w[0] + " takes one <cbe>");
  const auto cbe = a.positional[0];
  if (auto e = validation::validate_cbe(cbe, "cbe")) throw UsageError("<cbe>: " + e->message);
  const auto app = a.get("--app").value_or("");
  if (auto e = validate_app_name(app)) throw UsageError("--app: " + *e);
  if (w[0] == "offboard") {
    auto r = offboard(c.s, cbe, app, c.s.acls_tool,
                      a.get("--reason").value_or("relaisctl cpas offboard"));
    c.out << r.principal << " offboarded: ACLs and SCRAM user removed, "
          << r.revoked_credentials.size() << " token(s) revoked\n";
    return kExitOk;
  }
  OnboardOptions o;
  o.cbe = cbe;
  o.app = app;
  o.cpas_name = a.get("--name").value_or("");
  if (o.cpas_name.size() > 200) throw UsageError("--name: at most 200 bytes");
  o.out_dir = a.get("--out").value_or("relais-" + cbe + "-" + app);
  o.acls_tool = c.s.acls_tool;
  if (auto d = a.get("--expires-in")) {
    auto secs = auth::parse_duration_seconds(*d);
    if (!secs || *secs <= 0) throw UsageError("--expires-in: expected a duration like 180d, 12h");
    o.token_lifetime_seconds = *secs;
  }
  auto r = onboard(c.s, o);
  c.out << r.principal << " onboarded for CPAS " << cbe << (r.cpas_created ? " (CPAS created)" : "")
        << ": group " << r.group << ", token " << r.credential_id
        << (r.token_created ? " (new)" : " (kept)") << ", bundle " << o.out_dir << "/\n"
        << next_commands(o.out_dir, cbe);
  return kExitOk;
}

constexpr const char* kReplayHelp = R"(usage:
  relaisctl replay --cpas <cbe> --since DATE [--until DATE] [--again] [--detach] [--json]

Asks relais-api (POST /v1/cpas/{cbe}/replays) to publish again, to cpas.<cbe>.replay.v1, every
notification routed to that CPAS since DATE (until DATE, excluded), each exactly as it was
routed plus the headers `replay` (the replay's id) and `replay-position`, in routing order. The
records come from the notification archive, so a replay reaches past the CPAS topic's retention.
DATE: YYYY-MM-DD (midnight in Belgium) or an RFC 3339 timestamp (2026-12-01T08:00:00Z).
Needs RELAIS_API_TOKEN: the CPAS's own token (its onboarding bundle's api.token) or the operator's.
relais-api does the work and records its progress: interrupting relaisctl stops nothing, and the
same command again follows the same replay (or reports the finished one, without publishing it
twice; --again asks for a new one). Progress: a bar on a terminal, otherwise a line a second.
--detach: print the replay and return at once. docs/subscribers.md, section 6.
exit codes: 0 done (or running with --detach), 1 refused or failed, 2 usage error.
)";

int cmd_replay(Ctx& c, const std::vector<std::string>& w) {
  auto a = parse(w, {"--cpas", "--since", "--until"}, {"--again", "--detach", "--json"});
  if (a.help) return c.out << kReplayHelp, kExitOk;
  if (!a.positional.empty()) throw UsageError("replay takes no positional argument");
  ReplayCall call;
  call.cbe = a.get("--cpas").value_or("");
  if (auto e = validation::validate_cbe(call.cbe, "cbe")) throw UsageError("--cpas: " + e->message);
  call.since = a.get("--since").value_or("");
  if (call.since.empty()) throw UsageError("--since is required (YYYY-MM-DD or RFC 3339)");
  call.until = a.get("--until").value_or("");
  call.again = a.flag("--again");
  call.wait = !a.flag("--detach");
  const bool tty = ::isatty(STDERR_FILENO) == 1;
  auto printer = progress_printer(c.err, tty);
  const auto t0 = std::chrono::steady_clock::now();
  bool announced = false;
  auto st = replay(c.s, call, [&](const ReplayStatus& s) {
    if (!announced) {
      c.err << "replay " << s.id << " of CPAS " << call.cbe << " to " << s.topic << ": " << s.total
            << " record(s)"
            << (s.created ? "" : (s.state == "running" ? " (continued)" : " (already done)"))
            << "\n";
      announced = true;
    }
    ImportProgress p;
    p.lines = p.bytes = static_cast<std::uint64_t>(s.published);
    p.total_bytes = static_cast<std::uint64_t>(s.total);
    p.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    p.unit = "records";
    printer(p);
  });
  if (tty) c.err << "\n";
  if (a.flag("--json")) {
    c.out << boost::json::serialize(boost::json::object{{"id", st.id},
                                                        {"state", st.state},
                                                        {"topic", st.topic},
                                                        {"total", st.total},
                                                        {"published", st.published}})
          << "\n";
  } else {
    c.out << "replay " << st.id << " " << st.state << ": " << st.published << " of " << st.total
          << " record(s) on " << st.topic << "\n";
  }
  if (st.state == "failed" || (!st.error.empty() && st.state != "done")) {
    if (!st.error.empty()) c.err << "relaisctl replay: " << st.error << "\n";
    return st.state == "failed" ? kExitFailed : kExitOk;
  }
  return kExitOk;
}

constexpr const char* kCertsHelp = R"(usage:
  relaisctl certs check [--warn-days N] [--service-config FILE] [FILE...]

Reads PEM certificates (every one of each file: chains and CA bundles too) and prints one line
each: OK, EXPIRING (expires within N days, default 30) or EXPIRED, with the subject and the
expiry date (UTC). The files: FILE..., plus those a service's configuration file names with
--service-config (keys ending in cert_file or ca_file: http.tls.*, kafka.ssl_*, upstream.tls.*;
the sslrootcert of pg.dsn); with neither, those of relaisctl's own settings (kafka.ssl_cert_file,
kafka.ssl_ca_file). Run it daily (cron, a systemd timer): docs/operations.md, "The TLS stack".

exit codes: 0 every certificate valid for more than N days, 1 one expiring or expired, or a file
unreadable or without a certificate, 2 usage error.
)";

int cmd_certs(Ctx& c, const std::vector<std::string>& w) {
  auto a = parse(w, {"--warn-days", "--service-config"}, {});
  if (a.help) return c.out << kCertsHelp, kExitOk;
  if (a.positional.empty() || a.positional[0] != "check")
    throw UsageError("usage: relaisctl certs check [--warn-days N] [FILE...]");
  const int warn_days = to_int("--warn-days", a.get("--warn-days").value_or("30"), 0, 3650);
  std::vector<std::string> files(a.positional.begin() + 1, a.positional.end());
  if (auto cfg = a.get("--service-config")) {
    auto named = certificate_files_of_config(*cfg);
    if (auto* e = std::get_if<std::string>(&named)) throw std::runtime_error(*e);
    for (auto& f : std::get<std::vector<std::string>>(named)) files.push_back(std::move(f));
  } else if (files.empty()) {
    for (const auto* f : {&c.s.kafka_security.ssl_cert_file, &c.s.kafka_security.ssl_ca_file})
      if (!f->empty()) files.push_back(*f);
  }
  if (files.empty())
    throw UsageError("no certificate to check: name files, or --service-config FILE");
  std::sort(files.begin(), files.end());
  files.erase(std::unique(files.begin(), files.end()), files.end());
  const std::time_t now = std::time(nullptr);
  int bad = 0;
  for (const auto& f : files) {
    auto certs = read_pem_certificates(f);
    if (auto* e = std::get_if<std::string>(&certs)) {
      c.out << "UNREADABLE " << *e << "\n";
      ++bad;
      continue;
    }
    for (const auto& cert : std::get<std::vector<CertInfo>>(certs)) {
      auto v = judge_certificate(cert, now, warn_days);
      c.out << describe_certificate(cert, v) << "\n";
      if (v.state != CertState::ok) ++bad;
    }
  }
  if (bad > 0)
    c.err << "relaisctl certs: " << bad << " certificate file(s) or certificate(s) need attention"
          << " (expiring within " << warn_days << " days, expired or unreadable)\n";
  return bad > 0 ? kExitFailed : kExitOk;
}

int run(int argc, char** argv, char** env, std::ostream& out, std::ostream& err) {
  std::vector<std::string> words(argv + 1, argv + argc);
  std::string config_path;
  // Global options come before the command.
  std::size_t i = 0;
  for (; i < words.size(); ++i) {
    if (words[i] == "--config") {
      if (i + 1 >= words.size()) return err << "relaisctl: --config needs a file\n", kExitUsage;
      config_path = words[++i];
    } else if (words[i].starts_with("--config=")) {
      config_path = words[i].substr(9);
    } else if (words[i] == "--help" || words[i] == "-h") {
      out << kMainHelp;
      for (const auto& o : options())
        out << "  " << o.key << " (" << config::env_name(o.key) << ", default '" << o.default_value
            << "'): " << o.help << "\n";
      return kExitOk;
    } else {
      break;
    }
  }
  if (i >= words.size()) {
    err << kMainHelp;
    return kExitUsage;
  }
  std::string cmd = words[i];
  std::vector<std::string> rest(words.begin() + static_cast<std::ptrdiff_t>(i) + 1, words.end());
  Ctx c{{}, out, err};
  if (auto e = load(config_path, env, c.s)) {
    err << "relaisctl: configuration: " << *e << "\n";
    return kExitUsage;
  }
  try {
    if (cmd == "status") return cmd_status(c, rest);
    if (cmd == "dlq") return cmd_dlq(c, rest);
    if (cmd == "directory") return cmd_directory(c, rest);
    if (cmd == "ingest-file") return cmd_ingest_file(c, rest);
    if (cmd == "journal") return cmd_journal(c, rest);
    if (cmd == "reactions") return cmd_reactions(c, rest);
    if (cmd == "labels") return cmd_labels(c, rest);
    if (cmd == "alerts") return cmd_alerts(c, rest);
    if (cmd == "credentials") return cmd_credentials(c, rest);
    if (cmd == "access-journal") return cmd_access_journal(c, rest);
    if (cmd == "cpas") return cmd_cpas(c, rest);
    if (cmd == "replay") return cmd_replay(c, rest);
    if (cmd == "certs") return cmd_certs(c, rest);
    err << "relaisctl: unknown command '" << cmd << "' (relaisctl --help)\n";
    return kExitUsage;
  } catch (const UsageError& e) {
    err << "relaisctl " << cmd << ": " << e.what() << " (relaisctl " << cmd << " --help)\n";
    return kExitUsage;
  } catch (const std::exception& e) {
    err << "relaisctl " << cmd << ": " << e.what() << "\n";
    return kExitFailed;
  }
}

}  // namespace relais::ctl
