// The router's deduplication state and the content fingerprint: pure parts of
// "a reused ticket never loses data" (issue 21).
#include "relais/router/dedupe.hpp"

#include <gtest/gtest.h>

#include "relais/codec/flow.hpp"
#include "relais/codec/samples.hpp"
#include "relais/fingerprint/fingerprint.hpp"

using namespace relais;
using router::Mark;
using router::Seen;

namespace {
const router::TicketId kTicket = *router::parse_ticket("123e4567-e89b-12d3-a456-426614174000");
}  // namespace

TEST(Dedupe, TicketsPerPartitionWithWindow) {
  router::DedupeSet s(1000);
  auto t = router::parse_ticket("123e4567-e89b-12d3-a456-426614174000");
  auto u = router::parse_ticket("123E4567-E89B-12D3-A456-426614174000");
  ASSERT_TRUE(t && u);
  EXPECT_EQ(*t, *u);
  EXPECT_FALSE(router::parse_ticket("123e4567e89b12d3a456426614174000"));
  EXPECT_EQ(s.insert(0, Mark{*t, 68060105329, 7}, 100), Seen::kNew);
  EXPECT_EQ(s.insert(0, Mark{*u, 68060105329, 7}, 200), Seen::kDuplicate);
  EXPECT_EQ(s.insert(1, Mark{*t, 68060105329, 7}, 100), Seen::kNew);
  EXPECT_EQ(s.prune(1050), 0u);
  EXPECT_EQ(s.prune(1101), 2u);
  EXPECT_EQ(s.check(0, Mark{*t, 68060105329, 7}), Seen::kNew);
}

TEST(Dedupe, SameTicketForAnotherPersonIsAnotherNotification) {
  router::DedupeSet s(1000);
  EXPECT_EQ(s.insert(0, Mark{kTicket, 68060105329, 7}, 100), Seen::kNew);
  // Two persons on one partition with one ticket: both new (the old set said duplicate).
  EXPECT_EQ(s.insert(0, Mark{kTicket, 93051822361, 9}, 100), Seen::kNew);
  EXPECT_EQ(s.insert(0, Mark{kTicket, 93051822361, 9}, 150), Seen::kDuplicate);
  EXPECT_EQ(s.size(), 2u);
}

TEST(Dedupe, SameTicketSamePersonOtherContentIsRefusedNotMerged) {
  router::DedupeSet s(1000);
  EXPECT_EQ(s.insert(0, Mark{kTicket, 68060105329, 7}, 100), Seen::kNew);
  EXPECT_EQ(s.insert(0, Mark{kTicket, 68060105329, 8}, 110), Seen::kTicketReused);
  // The first copy stays what the set remembers: an exact re-post is still a duplicate,
  // and the reused one is refused again.
  EXPECT_EQ(s.insert(0, Mark{kTicket, 68060105329, 7}, 120), Seen::kDuplicate);
  EXPECT_EQ(s.check(0, Mark{kTicket, 68060105329, 8}), Seen::kTicketReused);
  EXPECT_EQ(s.size(), 1u);
}

TEST(Dedupe, EraseUndoesAnAbortedInsert) {
  router::DedupeSet s(1000);
  Mark m{kTicket, 68060105329, 7};
  EXPECT_EQ(s.insert(3, m, 100), Seen::kNew);
  s.erase(3, m);
  EXPECT_EQ(s.insert(3, Mark{kTicket, 68060105329, 8}, 100), Seen::kNew)
      << "after an abort the retry is new";
}

TEST(Dedupe, LegacyEntriesAreDuplicatesWhateverTheirContent) {
  router::DedupeSet s(1000);
  s.insert_legacy(0, kTicket, 100);
  EXPECT_EQ(s.check(0, Mark{kTicket, 68060105329, 7}), Seen::kDuplicate);
  EXPECT_EQ(s.insert(0, Mark{kTicket, 93051822361, 9}, 110), Seen::kDuplicate);
  EXPECT_EQ(s.size(), 1u) << "a duplicate of a legacy entry adds nothing";
  EXPECT_EQ(s.prune(1101), 1u);
  EXPECT_EQ(s.insert(0, Mark{kTicket, 93051822361, 9}, 1200), Seen::kNew);
}

TEST(Dedupe, IdentityTellsPersonsApart) {
  Mark a{kTicket, 68060105329, 0}, b{kTicket, 93051822361, 0};
  EXPECT_NE(router::identity(a), router::identity(b));
  EXPECT_EQ(router::identity(a), router::identity(Mark{kTicket, 68060105329, 99}))
      << "content is not part of the key";
  EXPECT_EQ(router::identity(a).hi, kTicket.hi);
}

namespace {
v1::Notification death(const std::string& ticket, const std::string& ssin, const std::string& day) {
  v1::Notification n = codec::sample_notification(v1::FLOW_NOTIFY_PERSON, ticket, ssin, day);
  auto* p = n.mutable_notify_person();
  p->set_event(v1::NotifyPerson::DEATH);
  p->set_date_of_death(day);
  return n;
}
}  // namespace

TEST(Fingerprint, ContentCountsTransportDoesNot) {
  const std::string t = "123e4567-e89b-12d3-a456-426614174000";
  auto n = death(t, "68060105329", "2026-11-01");
  const auto fp = fingerprint::content(n);
  EXPECT_EQ(fp, fingerprint::content(n)) << "stable";

  auto resent = n;  // the same message sent again: other transport fields, ticket in capitals
  resent.set_accepted_at_us(n.accepted_at_us() + 5'000'000);
  resent.mutable_notify_person()->set_sent_at("2026-11-02T06:00:00Z");
  resent.mutable_notify_person()->set_source_file_id("file-2");
  resent.mutable_notify_person()->set_sequence_number(99);
  resent.mutable_notify_person()->set_ticket("123E4567-E89B-12D3-A456-426614174000");
  resent.mutable_envelope()->set_sent_at("2026-11-02T06:00:00Z");
  EXPECT_EQ(fingerprint::content(resent), fp);

  EXPECT_NE(fingerprint::content(death(t, "93051822361", "2026-11-01")), fp) << "another person";
  EXPECT_NE(fingerprint::content(death(t, "68060105329", "2026-11-02")), fp) << "another date";
  auto other_flow =
      codec::sample_notification(v1::FLOW_PERSONNEL_FILE, t, "68060105329", "2026-11-01");
  EXPECT_NE(fingerprint::content(other_flow), fp);
  v1::Notification empty;
  EXPECT_NE(fingerprint::content(empty), fp);
}

TEST(Fingerprint, KnownValue) {
  // Stored in relais.dedupe.v1 and part of alert ids: a change of the function would make
  // every re-post after an upgrade look reused. This value pins it (fields 2, 4, 8, 15).
  v1::Notification n;
  n.set_flow(v1::FLOW_NOTIFY_PERSON);
  auto* p = n.mutable_notify_person();
  p->set_ticket("123e4567-e89b-12d3-a456-426614174000");
  p->set_ssin("68060105329");
  p->set_effective_date("2026-11-01");
  p->set_event(v1::NotifyPerson::DEATH);
  p->set_date_of_death("2026-11-01");
  // Computed apart: sha256("relais-content/1\n1\n" + the body's bytes without the ticket)[0:8].
  EXPECT_EQ(fingerprint::content(n), 0xfdf0aabedf9b16ceULL) << std::hex << fingerprint::content(n);
}

// The in-place fingerprint (no copy of the body) gives the value of the copying one, for every
// flow and with every transport field set, and leaves the notification as it was.
TEST(Fingerprint, InPlaceEqualsCopyingAndLeavesTheNotificationUnchanged) {
  for (auto flow : codec::kAllFlows) {
    auto n = codec::sample_notification(flow, "123e4567-e89b-12d3-a456-426614174000", "68060105329",
                                        "2026-11-01");
    auto* body = codec::mutable_body(n, flow);
    const auto* d = body->GetDescriptor();
    body->GetReflection()->SetString(body, d->FindFieldByName("source_file_id"), "file-7");
    body->GetReflection()->SetUInt64(body, d->FindFieldByName("sequence_number"), 42);
    const v1::Notification before = n;
    const auto copying = fingerprint::content(static_cast<const v1::Notification&>(n));
    EXPECT_EQ(fingerprint::content(n), copying) << codec::flow_id(flow);
    EXPECT_EQ(n.SerializeAsString(), before.SerializeAsString()) << codec::flow_id(flow);
  }
}
