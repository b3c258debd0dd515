// relaisctl ingest-file's pure parts: the line preparation that makes re-delivery idempotent,
// derived tickets, and the progress record that makes a crash resumable.
#include "relais/ctl/ingest_file.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <climits>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>

#include "relais/codec/decode.hpp"
#include "relais/ingest/spool.hpp"

using namespace relais;

TEST(IngestFile, DerivedTicketsAreStableUuidsPerFileAndLine) {
  const auto t = ctl::derived_ticket("f1", 7);
  EXPECT_EQ(t, ctl::derived_ticket("f1", 7));
  EXPECT_TRUE(std::regex_match(
      t, std::regex("[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")))
      << t;
  std::set<std::string> seen;
  for (std::uint64_t line = 1; line <= 2000; ++line) seen.insert(ctl::derived_ticket("f1", line));
  for (std::uint64_t line = 1; line <= 2000; ++line) seen.insert(ctl::derived_ticket("f2", line));
  EXPECT_EQ(seen.size(), 4000u);
  EXPECT_NE(ctl::derived_ticket("f1", 12), ctl::derived_ticket("f11", 2));
}

TEST(IngestFile, PrepareFillsTheDeliveryFieldsWhenAbsent) {
  auto p = ctl::prepare_line(R"({"ssin":"68060105329","event":"DEATH"})", 42, "file-A");
  ASSERT_FALSE(p.error);
  auto o = boost::json::parse(p.body).as_object();
  EXPECT_EQ(o.at("source_file_id").as_string(), "file-A");
  EXPECT_EQ(o.at("sequence_number").to_number<std::uint64_t>(), 42u);
  EXPECT_EQ(o.at("ticket").as_string(), ctl::derived_ticket("file-A", 42));
  EXPECT_EQ(p.ticket, ctl::derived_ticket("file-A", 42));
  EXPECT_EQ(o.at("ssin").as_string(), "68060105329");
}

TEST(IngestFile, PrepareKeepsWhatTheFileSays) {
  auto p = ctl::prepare_line(
      R"({"ticket":"0b7e1b8e-6c53-4d5a-9a51-2f4c1f2b9d11","source_file_id":"BCSS-1","sequence_number":"5"})",
      5, "x");
  ASSERT_FALSE(p.error);
  auto o = boost::json::parse(p.body).as_object();
  EXPECT_EQ(o.at("ticket").as_string(), "0b7e1b8e-6c53-4d5a-9a51-2f4c1f2b9d11");
  EXPECT_EQ(o.at("source_file_id").as_string(), "BCSS-1");
  EXPECT_EQ(p.ticket, "0b7e1b8e-6c53-4d5a-9a51-2f4c1f2b9d11");
  EXPECT_FALSE(ctl::prepare_line(R"({"sequenceNumber":9})", 9, "x").error);
}

TEST(IngestFile, PrepareRefusesLocally) {
  auto bad = ctl::prepare_line("{not json", 3, "x");
  ASSERT_TRUE(bad.error);
  EXPECT_EQ(bad.error->code, "MALFORMED_JSON");
  EXPECT_EQ(bad.error->line, 3u);
  EXPECT_TRUE(ctl::prepare_line("[1,2]", 3, "x").error);
  auto seq = ctl::prepare_line(R"({"sequence_number":4})", 5, "x");
  ASSERT_TRUE(seq.error);
  EXPECT_EQ(seq.error->code, "SEQUENCE_MISMATCH");
  // A non-string ticket is left for relais-ingest to refuse (WRONG_TYPE), not replaced.
  auto t = ctl::prepare_line(R"({"ticket":12})", 1, "x");
  ASSERT_FALSE(t.error);
  EXPECT_TRUE(t.ticket.empty());
  EXPECT_EQ(boost::json::parse(t.body).as_object().at("ticket").as_int64(), 12);
}

TEST(IngestFile, ProgressRoundTripsAndRefusesGarbage) {
  ctl::FileProgress p;
  p.sha256 = std::string(64, 'a');
  p.file_id = "f";
  p.next_line = 1001;
  p.accepted = 990;
  p.rejected = 10;
  p.results_bytes = 123456;
  auto back = ctl::progress_from_json(ctl::to_json(p));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->next_line, 1001u);
  EXPECT_EQ(back->accepted, 990u);
  EXPECT_EQ(back->results_bytes, 123456u);
  EXPECT_FALSE(back->complete);
  EXPECT_FALSE(ctl::progress_from_json("{}"));
  EXPECT_FALSE(ctl::progress_from_json("not json"));
  EXPECT_FALSE(ctl::progress_from_json(
      R"({"sha256":"short","file_id":"f","next_line":1,"accepted":0,"rejected":0,"results_bytes":0,"complete":false})"));
}

// A busy answer's Retry-After: absent gives 1 s, delay-seconds are read, anything else (an
// HTTP-date, a typo, a sign) is an error naming the value instead of a silent 0.
TEST(IngestFile, RetryAfterSecondsRefusesWhatIsNotANumberOfSeconds) {
  EXPECT_EQ(ingest::retry_after_seconds(""), 1);
  EXPECT_EQ(ingest::retry_after_seconds("7"), 7);
  EXPECT_EQ(ingest::retry_after_seconds("0"), 1);
  EXPECT_EQ(ingest::retry_after_seconds("99999999999999999999"), INT_MAX);
  for (const char* bad : {"soon", "-5", "+5", " 5", "5s", "1.5", "Wed, 21 Oct 2026 07:28:00 GMT"}) {
    try {
      ingest::retry_after_seconds(bad);
      ADD_FAILURE() << "accepted " << bad;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(bad), std::string::npos) << e.what();
    }
  }
}

// relais-ingest's spool directory, pure parts: which names are taken, an NDJSON file's flow from
// its name, the oldest file first.
TEST(Spool, NamesAndOrder) {
  using ingest::SpoolName;
  EXPECT_EQ(ingest::classify_spool_name("batch.xml"), SpoolName::xml);
  EXPECT_EQ(ingest::classify_spool_name("notify-person.x.ndjson"), SpoolName::ndjson);
  for (const char* n : {"batch.xml.tmp", ".hidden.xml", "batch.xml.progress",
                        "batch.xml.results.ndjson", "batch.xml.progress.tmp", "readme.txt", ""}) {
    EXPECT_EQ(ingest::classify_spool_name(n), SpoolName::ignored) << n;
  }
  EXPECT_EQ(ingest::flow_of_spool_name("notify-person.2026-12-05.ndjson"), "notify-person");
  EXPECT_EQ(ingest::flow_of_spool_name("ecarmed-calculation.ndjson"), "ecarmed-calculation");
  EXPECT_EQ(ingest::flow_of_spool_name("no-flow.ndjson"), "");
  EXPECT_EQ(ingest::flow_of_spool_name("lines"), "");
  const auto t0 = std::filesystem::file_time_type::clock::now();
  const auto t1 = t0 + std::chrono::seconds(1);
  EXPECT_EQ(ingest::next_spool_file({}), std::nullopt);
  EXPECT_EQ(ingest::next_spool_file({{"b.xml", t1}, {"a.xml.tmp", t0}, {"c.xml", t1}}), "b.xml");
  EXPECT_EQ(ingest::next_spool_file({{"b.xml", t1}, {"z.xml", t0}}), "z.xml");
  EXPECT_EQ(ingest::next_spool_file({{"x.xml.progress", t0}, {"x.xml.results.ndjson", t0}}),
            std::nullopt);
}

TEST(IngestFile, RecognisesXmlByContent) {
  EXPECT_TRUE(ctl::looks_like_xml("<?xml version=\"1.0\"?><b/>"));
  EXPECT_TRUE(ctl::looks_like_xml("\xEF\xBB\xBF  \n<b/>"));
  EXPECT_FALSE(ctl::looks_like_xml("{\"ssin\":\"x\"}\n"));
  EXPECT_FALSE(ctl::looks_like_xml(""));
}

// The file-ingestion core on an XML batch, with a stand-in for relais-ingest's batch handler
// (every line accepted, unless its last name is "Refused"): records of two flows in one chunk
// go to their own flow's call; records refused locally are not sent; a run stopped halfway
// resumes at the first unrecorded chunk and completes with one result per record; a second
// delivery sends the same tickets.
namespace {
const std::string kRepo = RELAIS_SOURCE_DIR;

std::string person(int n, const std::string& ssin = "68060105329",
                   const std::string& last = "Janssens") {
  return "<NotifyPerson><Context/><Person><SSIN>" + ssin +
         "</SSIN></Person><EffectiveDate>2026-11-01</EffectiveDate>"
         "<Event>NAME_CHANGE</Event><LastName>" +
         last + std::to_string(n) + "</LastName></NotifyPerson>\n";
}
std::string personnel() {
  return "<PersonnelFile><Context><SentAt>2026-11-02T10:00:00Z</SentAt></"
         "Context><Person><SSIN>68060105329</SSIN>"
         "</Person><EffectiveDate>2026-11-01</EffectiveDate><Event>DIMONA_IN</"
         "Event><EmployerCbe>0212344876</EmployerCbe>"
         "<DimonaWorkerType>OTH</DimonaWorkerType><PeriodStartDate>2026-11-01</PeriodStartDate></"
         "PersonnelFile>\n";
}
}  // namespace

TEST(IngestFile, XmlBatchThroughTheCore) {
  const auto path =
      std::filesystem::temp_directory_path() / ("core-" + std::to_string(::getpid()) + ".xml");
  std::string doc =
      R"(<?xml version="1.0"?><b:NotificationBatch xmlns:b="urn:be:relais:bcss:batch:v1" )"
      R"(xmlns="urn:be:relais:bcss:notifications:v1"><b:FileId>CORE-1</b:FileId><b:Sender>BCSS</b:Sender>)";
  for (int n = 1; n <= 40; ++n) {
    if (n == 7)
      doc += person(n, "6806010532");  // schema-invalid: refused locally
    else if (n == 9)
      doc += "<Unknown xmlns=\"urn:x\"/>";  // no mapping
    else if (n == 13)
      doc += person(n, "68060105329", "Refused");
    else if (n % 5 == 0)
      doc += personnel();
    else
      doc += person(n);
  }
  doc += "</b:NotificationBatch>\n";
  std::ofstream(path) << doc;
  for (const char* suffix : {".progress", ".results.ndjson"})
    std::filesystem::remove(path.string() + suffix);

  std::vector<std::pair<std::string, std::size_t>> calls;  // flow, lines
  std::set<std::string> sent_tickets;
  ingest::ChunkSender send = [&](const std::string& flow, const std::string& ndjson) {
    boost::json::array items;
    std::size_t line = 0;
    std::size_t start = 0;
    while (start < ndjson.size()) {
      const auto end = ndjson.find('\n', start);
      auto o = boost::json::parse(ndjson.substr(start, end - start)).as_object();
      start = end + 1;
      ++line;
      sent_tickets.insert(std::string(o.at("ticket").as_string()));
      const bool refused =
          o.contains("last_name") && o.at("last_name").as_string().starts_with("Refused");
      boost::json::object item{{"line", line}, {"status", refused ? 400 : 202}};
      if (refused)
        item["error"] =
            boost::json::object{{"code", "TEST_REFUSED"}, {"message", "m"}, {"field", "last_name"}};
      items.push_back(item);
    }
    calls.emplace_back(flow, line);
    return ingest::ChunkReply{200, boost::json::serialize(boost::json::object{{"items", items}}),
                              1};
  };
  ingest::BatchFileOptions o;
  o.chunk = 10;
  o.xsd_files = {kRepo + "/var/bcss/cbss/XSD/SSDN/Common/NamespaceRoot.xsd",
                 kRepo + "/deploy/xsd/relais/notifications.xsd"};
  o.xsd_roots = {kRepo + "/var/bcss/cbss/XSD", kRepo + "/deploy/xsd/relais"};
  o.mappings_dir = kRepo + "/deploy/mappings";
  o.stop_after_chunks = 2;
  auto sum = ingest::ingest_batch_file(path.string(), o, send, nullptr);
  EXPECT_FALSE(sum.ok);
  ASSERT_EQ(calls.size(), 4u);  // two chunks, each with notify-person and personnel-file lines
  EXPECT_EQ(calls[0].first, "notify-person");
  EXPECT_EQ(calls[1].first, "personnel-file");
  EXPECT_EQ(calls[0].second + calls[1].second, 8u);  // records 7 and 9 were not sent

  o.stop_after_chunks = 0;
  sum = ingest::ingest_batch_file(path.string(), o, send, nullptr);
  ASSERT_TRUE(sum.ok) << sum.error;
  EXPECT_TRUE(sum.resumed);
  EXPECT_EQ(sum.from_line, 11u);  // the second chunk was not recorded: sent again
  EXPECT_EQ(sum.accepted, 37u);
  EXPECT_EQ(sum.rejected, 3u);
  std::ifstream results(path.string() + ".results.ndjson");
  std::string line;
  std::uint64_t expect = 1;
  std::set<std::string> accepted;
  while (std::getline(results, line)) {
    auto r = boost::json::parse(line).as_object();
    EXPECT_EQ(r.at("record").to_number<std::uint64_t>(), expect) << line;
    const bool ok = r.at("status").as_string() == "accepted";
    const std::map<std::uint64_t, std::string> codes{
        {7, "XML_SCHEMA_INVALID"}, {9, "UNKNOWN_BODY"}, {13, "TEST_REFUSED"}};
    if (auto c = codes.find(expect); c != codes.end()) {
      EXPECT_EQ(r.at("code").as_string(), c->second) << line;
    }
    if (expect % 5 == 0) {
      EXPECT_EQ(r.at("flow").as_string(), "personnel-file") << line;
    }
    EXPECT_EQ(ok, expect != 7 && expect != 9 && expect != 13) << line;
    if (ok) {
      EXPECT_EQ(r.at("ticket").as_string(), ctl::derived_ticket("CORE-1", expect));
      accepted.insert(std::string(r.at("ticket").as_string()));
    }
    ++expect;
  }
  EXPECT_EQ(expect, 41u);

  // Delivered again: the same tickets, nothing new.
  sent_tickets.clear();
  o.again = true;
  sum = ingest::ingest_batch_file(path.string(), o, send, nullptr);
  ASSERT_TRUE(sum.ok) << sum.error;
  accepted.insert(ctl::derived_ticket("CORE-1", 13));  // sent (then refused) as well
  EXPECT_EQ(sent_tickets, accepted);
  for (const char* suffix : {"", ".progress", ".results.ndjson"})
    std::filesystem::remove(path.string() + suffix);
}

// SPP IS clignotants in an XML batch (deploy/xsd/relais/batch.xsd, Relais's own
// sppis-clignotants.xsd): each record validated and mapped like a SOAP body, then decoded and
// validated by the stand-in handler as relais-ingest's :batch would; a record without a Ticket
// gets the one derived from the file id and its sequence number.
TEST(IngestFile, XmlBatchCarriesSppIsClignotants) {
  const auto path = std::filesystem::temp_directory_path() /
                    ("relais-sppis-batch-" + std::to_string(::getpid()) + ".xml");
  const std::string ticket = "0b7e1b8e-6c53-4d5a-9a51-2f4c1f2b9d31";
  auto clignotant = [](const std::string& context, const std::string& id) {
    return "<SppIsClignotant xmlns=\"urn:be:relais:sppis:clignotants:v1\"><Context>" + context +
           "</Context>" + id +
           "<TypeCode>PENSION</TypeCode><Person><SSIN>68060105329</SSIN></Person>"
           "<CpasCbe>0212344876</CpasCbe><Period><StartDate>2026-01-01</StartDate>"
           "<EndDate>2026-06-30</EndDate></Period><Sources><Source><Name>PENSION</Name>"
           "<Reference>P-1</Reference></Source></Sources><IssuedDate>2026-08-01</IssuedDate>"
           "<DeadlineDate>2026-09-30</DeadlineDate><Event>ISSUED</Event></SppIsClignotant>";
  };
  std::ofstream(path)
      << R"(<?xml version="1.0"?><b:NotificationBatch xmlns:b="urn:be:relais:bcss:batch:v1">)"
         "<b:FileId>SPPIS-1</b:FileId><b:Sender>SPP IS</b:Sender>"
      << clignotant("<Ticket>" + ticket + "</Ticket>", "<SppIsId>CLG-B-1</SppIsId>")
      << clignotant("", "<SppIsId>CLG-B-2</SppIsId>")
      << clignotant("", "")  // no SppIsId: refused by the XSD, the others go on
      << "</b:NotificationBatch>\n";
  for (const char* suffix : {".progress", ".results.ndjson"})
    std::filesystem::remove(path.string() + suffix);

  std::map<std::string, std::string> sent;  // sppis_id -> ticket, as decoded by the handler
  ingest::ChunkSender send = [&](const std::string& flow, const std::string& ndjson) {
    EXPECT_EQ(flow, "sppis-clignotant");
    boost::json::array items;
    std::size_t line = 0;
    for (std::size_t start = 0, end; start < ndjson.size(); start = end + 1) {
      end = ndjson.find('\n', start);
      relais::v1::Notification n;
      auto e = codec::decode_and_validate_json(relais::v1::FLOW_SPPIS_CLIGNOTANT,
                                               ndjson.substr(start, end - start), n);
      EXPECT_FALSE(e) << e->code << " " << e->field << ": " << ndjson;
      sent[n.sppis_clignotant().sppis_id()] = n.envelope().ticket();
      items.push_back(boost::json::object{{"line", ++line}, {"status", e ? 400 : 202}});
    }
    return ingest::ChunkReply{200, boost::json::serialize(boost::json::object{{"items", items}}),
                              1};
  };
  ingest::BatchFileOptions o;
  o.xsd_files = {kRepo + "/var/bcss/cbss/XSD/SSDN/Common/NamespaceRoot.xsd",
                 kRepo + "/deploy/xsd/relais/notifications.xsd",
                 kRepo + "/deploy/xsd/relais/sppis-clignotants.xsd"};
  o.xsd_roots = {kRepo + "/var/bcss/cbss/XSD", kRepo + "/deploy/xsd/relais"};
  o.mappings_dir = kRepo + "/deploy/mappings";
  auto sum = ingest::ingest_batch_file(path.string(), o, send, nullptr);
  ASSERT_TRUE(sum.ok) << sum.error;
  EXPECT_EQ(sum.accepted, 2u);
  EXPECT_EQ(sum.rejected, 1u);
  EXPECT_EQ(sent, (std::map<std::string, std::string>{
                      {"CLG-B-1", ticket}, {"CLG-B-2", ctl::derived_ticket("SPPIS-1", 2)}}));
  std::ifstream results(path.string() + ".results.ndjson");
  std::vector<boost::json::object> lines;
  for (std::string l; std::getline(results, l);) lines.push_back(boost::json::parse(l).as_object());
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0].at("flow").as_string(), "sppis-clignotant");
  EXPECT_EQ(lines[2].at("status").as_string(), "rejected");
  EXPECT_EQ(lines[2].at("code").as_string(), "XML_SCHEMA_INVALID");
  EXPECT_NE(boost::json::serialize(lines[2]).find("SppIsId"), std::string::npos);
  for (const char* suffix : {"", ".progress", ".results.ndjson"})
    std::filesystem::remove(path.string() + suffix);
}
