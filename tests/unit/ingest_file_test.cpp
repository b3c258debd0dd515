// relaisctl ingest-file's pure parts: the line preparation that makes re-delivery idempotent,
// derived tickets, and the progress record that makes a crash resumable.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <regex>
#include <chrono>
#include <filesystem>
#include <set>

#include "relais/ctl/ingest_file.hpp"
#include "relais/ingest/spool.hpp"

using namespace relais;

TEST(IngestFile, DerivedTicketsAreStableUuidsPerFileAndLine) {
  const auto t = ctl::derived_ticket("f1", 7);
  EXPECT_EQ(t, ctl::derived_ticket("f1", 7));
  EXPECT_TRUE(std::regex_match(t, std::regex("[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"))) << t;
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
      R"({"ticket":"0b7e1b8e-6c53-4d5a-9a51-2f4c1f2b9d11","source_file_id":"BCSS-1","sequence_number":"5"})", 5, "x");
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
  EXPECT_FALSE(ctl::progress_from_json(R"({"sha256":"short","file_id":"f","next_line":1,"accepted":0,"rejected":0,"results_bytes":0,"complete":false})"));
}

// relais-ingest's spool directory, pure parts: which names are taken, an NDJSON file's flow from
// its name, the oldest file first.
TEST(Spool, NamesAndOrder) {
  using ingest::SpoolName;
  EXPECT_EQ(ingest::classify_spool_name("batch.xml"), SpoolName::xml);
  EXPECT_EQ(ingest::classify_spool_name("notify-person.x.ndjson"), SpoolName::ndjson);
  for (const char* n : {"batch.xml.tmp", ".hidden.xml", "batch.xml.progress", "batch.xml.results.ndjson",
                        "batch.xml.progress.tmp", "readme.txt", ""}) {
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
  EXPECT_EQ(ingest::next_spool_file({{"x.xml.progress", t0}, {"x.xml.results.ndjson", t0}}), std::nullopt);
}

TEST(IngestFile, RecognisesXmlByContent) {
  EXPECT_TRUE(ctl::looks_like_xml("<?xml version=\"1.0\"?><b/>"));
  EXPECT_TRUE(ctl::looks_like_xml("\xEF\xBB\xBF  \n<b/>"));
  EXPECT_FALSE(ctl::looks_like_xml("{\"ssin\":\"x\"}\n"));
  EXPECT_FALSE(ctl::looks_like_xml(""));
}
