// Unit tests of relais::codec: flow ids, JSON and protobuf decoding, encoding, NDJSON, samples.
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <set>
#include <string>
#include <vector>

#include "relais/codec/decode.hpp"
#include "relais/codec/encode.hpp"
#include "relais/codec/flow.hpp"
#include "relais/codec/ndjson.hpp"
#include "relais/codec/samples.hpp"
#include "relais/validation/notification.hpp"

namespace {

using namespace relais::codec;
namespace code = relais::validation::code;
using google::protobuf::util::MessageDifferencer;
using relais::v1::Notification;

constexpr const char* kTicket = "7c9e6679-7425-40de-944b-e07fc1f90ae7";
constexpr const char* kSsin = "93051822361";
constexpr const char* kDate = "2024-06-01";

Notification sample(relais::v1::Flow flow) {
  return sample_notification(flow, kTicket, kSsin, kDate);
}

// The body of `flow`'s sample as JSON with lowerCamel keys (protobuf's default JSON names).
std::string camel_json(relais::v1::Flow flow) {
  const Notification n = sample(flow);
  std::string out;
  EXPECT_TRUE(google::protobuf::util::MessageToJsonString(*body(n), &out).ok());
  return out;
}

// Decodes a personnel-file JSON body and returns the error (nullopt when decoded).
std::optional<relais::validation::Error> decode_personnel(std::string_view json,
                                                          Notification* out = nullptr,
                                                          const Limits& limits = {}) {
  Notification n;
  auto e = decode_json(relais::v1::FLOW_PERSONNEL_FILE, json, n, limits);
  if (out) *out = n;
  return e;
}

void expect_error(const std::optional<relais::validation::Error>& e, std::string_view c,
                  std::string_view field) {
  ASSERT_TRUE(e) << "expected " << c;
  EXPECT_EQ(e->code, c) << e->message;
  EXPECT_EQ(e->field, field) << e->message;
}

// ---- Flows ------------------------------------------------------------------------------------

TEST(Flow, IdsRoundTrip) {
  const std::vector<std::string_view> ids = {
      "notify-person",   "notify-family-composition", "pension-register-mutation",
      "personnel-file",  "self-employed-career",      "ecarmed-calculation",
      "sppis-clignotant"};
  ASSERT_EQ(kAllFlows.size(), ids.size());
  std::set<relais::v1::Flow> flows;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const auto flow = flow_from_id(ids[i]);
    ASSERT_TRUE(flow) << ids[i];
    EXPECT_EQ(*flow, kAllFlows[i]);
    EXPECT_EQ(flow_id(*flow), ids[i]);
    EXPECT_NE(flow_descriptor(*flow), nullptr);
    flows.insert(*flow);
  }
  EXPECT_EQ(flows.size(), 7u);
  for (const char* bad : {"", "Notify-Person", "notify_person", "notify-person ", "dlq"}) {
    EXPECT_EQ(flow_from_id(bad), std::nullopt) << bad;
  }
  EXPECT_EQ(flow_id(relais::v1::FLOW_UNSPECIFIED), "");
  EXPECT_EQ(flow_descriptor(relais::v1::FLOW_UNSPECIFIED), nullptr);
  EXPECT_EQ(flow_descriptor(relais::v1::FLOW_PERSONNEL_FILE)->full_name(),
            "relais.v1.PersonnelFile");
}

TEST(Flow, BodyHelpers) {
  Notification n;
  EXPECT_EQ(body(n), nullptr);
  EXPECT_EQ(body_flow(n), relais::v1::FLOW_UNSPECIFIED);
  for (auto flow : kAllFlows) {
    auto* m = mutable_body(n, flow);
    ASSERT_NE(m, nullptr);
    EXPECT_EQ(body(n), m);
    EXPECT_EQ(body_flow(n), flow);
    EXPECT_EQ(m->GetDescriptor(), flow_descriptor(flow));
  }
}

// ---- Samples ----------------------------------------------------------------------------------

TEST(Samples, AreValidForEveryFlowAndPerson) {
  for (auto flow : kAllFlows) {
    for (const char* ssin :
         {"68060105329", "12060105317", "12060105346", "02040500244", "93051822361"}) {
      const Notification n = sample_notification(flow, kTicket, ssin, "2024-02-29");
      EXPECT_EQ(n.flow(), flow);
      EXPECT_EQ(body_flow(n), flow);
      EXPECT_EQ(n.envelope().ssin(), ssin);
      EXPECT_EQ(n.envelope().ticket(), kTicket);
      EXPECT_EQ(n.envelope().effective_date(), "2024-02-29");
      const auto e = relais::validation::validate(n);
      EXPECT_EQ(e, std::nullopt) << flow_id(flow) << " " << ssin << ": " << e->code << " "
                                 << e->field;
    }
  }
  EXPECT_EQ(sample_notification(relais::v1::FLOW_UNSPECIFIED, kTicket, kSsin, kDate).body_case(),
            Notification::BODY_NOT_SET);
  EXPECT_EQ(sample(relais::v1::FLOW_ECARMED_CALCULATION).ecarmed_calculation().care_period_end(),
            "2024-07-01");
}

// ---- JSON decoding ----------------------------------------------------------------------------

TEST(DecodeJson, EveryFlowWithSnakeCaseKeys) {
  for (auto flow : kAllFlows) {
    const std::string json = sample_json(flow, kTicket, kSsin, kDate);
    ASSERT_NE(json.find("\"effective_date\""), std::string::npos) << json;
    Notification n;
    const auto e = decode_json(flow, json, n);
    ASSERT_EQ(e, std::nullopt) << flow_id(flow) << ": " << e->code << " " << e->field;
    EXPECT_TRUE(MessageDifferencer::Equals(n, sample(flow))) << flow_id(flow);
    EXPECT_EQ(decode_and_validate_json(flow, json, n), std::nullopt) << flow_id(flow);
  }
}

TEST(DecodeJson, EveryFlowWithLowerCamelKeys) {
  for (auto flow : kAllFlows) {
    const std::string json = camel_json(flow);
    ASSERT_NE(json.find("\"effectiveDate\""), std::string::npos) << json;
    Notification n;
    const auto e = decode_json(flow, json, n);
    ASSERT_EQ(e, std::nullopt) << flow_id(flow) << ": " << e->code << " " << e->field;
    EXPECT_TRUE(MessageDifferencer::Equals(n, sample(flow))) << flow_id(flow);
  }
}

TEST(DecodeJson, HandWrittenMixedCaseBody) {
  Notification n;
  const auto e = decode_json(relais::v1::FLOW_NOTIFY_PERSON, R"({
      "ticket": "7C9E6679-7425-40DE-944B-E07FC1F90AE7",
      "ssin": "68060105329",
      "effectiveDate": "2024-06-01",
      "sent_at": "2024-06-01T08:00:00+02:00",
      "sequenceNumber": 12,
      "event": "ADDRESS_CHANGE",
      "address": {"street": "Grand-Place", "municipalityNisCode": "21004",
                  "country_code": "BE", "box": null}
    })",
                             n);
  ASSERT_EQ(e, std::nullopt) << e->code << " " << e->field;
  EXPECT_EQ(n.flow(), relais::v1::FLOW_NOTIFY_PERSON);
  const auto& p = n.notify_person();
  EXPECT_EQ(p.event(), relais::v1::NotifyPerson::ADDRESS_CHANGE);
  EXPECT_EQ(p.address().municipality_nis_code(), "21004");
  EXPECT_EQ(p.address().street(), "Grand-Place");
  EXPECT_EQ(p.sequence_number(), 12u);
  // The envelope is a copy of the body's fields 1-7.
  EXPECT_EQ(n.envelope().ticket(), "7C9E6679-7425-40DE-944B-E07FC1F90AE7");
  EXPECT_EQ(n.envelope().ssin(), "68060105329");
  EXPECT_EQ(n.envelope().effective_date(), "2024-06-01");
  EXPECT_EQ(n.envelope().sent_at(), "2024-06-01T08:00:00+02:00");
  EXPECT_EQ(n.envelope().sequence_number(), 12u);
  EXPECT_EQ(relais::validation::validate(n), std::nullopt);
}

TEST(DecodeJson, EscapesInKeysAndStrings) {
  Notification n;
  const auto e = decode_json(relais::v1::FLOW_NOTIFY_PERSON,
                             R"({"\u0073sin": "68060105329", "last_name": "M\u00fcller \"Jr\"\n",
                                 "first_names": "\u00c9lise\t\u00e9"})",
                             n);
  ASSERT_EQ(e, std::nullopt) << e->code << " " << e->field;
  EXPECT_EQ(n.notify_person().ssin(), "68060105329");
  EXPECT_EQ(n.notify_person().last_name(), "M\xc3\xbcller \"Jr\"\n");
  EXPECT_EQ(n.notify_person().first_names(), "\xc3\x89lise\t\xc3\xa9");
}

TEST(DecodeJson, UnknownFieldIsNamed) {
  expect_error(decode_personnel(R"({"ssin": "68060105329", "salary": 1})"), code::kUnknownField,
               "salary");
  Notification n;
  expect_error(
      decode_json(relais::v1::FLOW_NOTIFY_PERSON, R"({"address": {"street": "x", "floor": 3}})", n),
      code::kUnknownField, "address.floor");
  expect_error(
      decode_json(relais::v1::FLOW_NOTIFY_FAMILY_COMPOSITION,
                  R"({"members": [{"ssin": "68060105329"}, {"role": "CHILD", "age": 3}]})", n),
      code::kUnknownField, "members[1].age");
  // Case matters: neither the proto name nor the json_name.
  expect_error(decode_personnel(R"({"Ssin": "68060105329"})"), code::kUnknownField, "Ssin");
  // A field of Notification is not a field of the flow message.
  expect_error(decode_personnel(R"({"flow": "FLOW_PERSONNEL_FILE"})"), code::kUnknownField, "flow");
}

TEST(DecodeJson, WrongTypes) {
  expect_error(decode_personnel(R"({"ssin": 68060105329})"), code::kWrongType, "ssin");
  expect_error(decode_personnel(R"({"ssin": ["68060105329"]})"), code::kWrongType, "ssin");
  expect_error(decode_personnel(R"({"ssin": {"v": 1}})"), code::kWrongType, "ssin");
  expect_error(decode_personnel(R"({"ssin": true})"), code::kWrongType, "ssin");
  expect_error(decode_personnel(R"({"event": true})"), code::kWrongType, "event");
  expect_error(decode_personnel(R"({"sequence_number": "seven"})"), code::kWrongType,
               "sequence_number");
  expect_error(decode_personnel(R"({"sequence_number": -1})"), code::kWrongType, "sequence_number");
  expect_error(decode_personnel(R"({"sequence_number": 1.5})"), code::kWrongType,
               "sequence_number");
  Notification n;
  const auto person = relais::v1::FLOW_NOTIFY_PERSON;
  const auto family = relais::v1::FLOW_NOTIFY_FAMILY_COMPOSITION;
  expect_error(decode_json(person, R"({"address": "Rue Haute 1"})", n), code::kWrongType,
               "address");
  expect_error(decode_json(family, R"({"members": {"ssin": "68060105329"}})", n), code::kWrongType,
               "members");
  expect_error(decode_json(family, R"({"members": [{"ssin": "68060105329"}, 5]})", n),
               code::kWrongType, "members[1]");
  expect_error(decode_json(family, R"({"members": [[]]})", n), code::kWrongType, "members[0]");
  expect_error(decode_json(family, R"({"members": [null]})", n), code::kWrongType, "members[0]");
  expect_error(decode_json(family, R"({"members": [{"since": 20240101}]})", n), code::kWrongType,
               "members[0].since");
  // The body itself must be an object.
  expect_error(decode_personnel("[]"), code::kWrongType, "");
  expect_error(decode_personnel("null"), code::kWrongType, "");
  expect_error(decode_personnel(R"("text")"), code::kWrongType, "");
}

TEST(DecodeJson, Enums) {
  Notification n;
  ASSERT_EQ(decode_personnel(R"({"event": "DIMONA_OUT", "worker_type": 5})", &n), std::nullopt);
  EXPECT_EQ(n.personnel_file().event(), relais::v1::PersonnelFile::DIMONA_OUT);
  EXPECT_EQ(n.personnel_file().worker_type(), relais::v1::PersonnelFile::ARTICLE_60);
  auto e = decode_personnel(R"({"event": "DIMONA_SIDEWAYS"})");
  expect_error(e, code::kInvalidEnum, "event");
  EXPECT_NE(e->message.find("DIMONA_SIDEWAYS"), std::string::npos) << e->message;
  expect_error(decode_personnel(R"({"event": "dimona_in"})"), code::kInvalidEnum, "event");
  expect_error(decode_personnel(R"({"worker_type": 99})"), code::kInvalidEnum, "worker_type");
  expect_error(decode_personnel(R"({"worker_type": -1})"), code::kInvalidEnum, "worker_type");
  expect_error(decode_json(relais::v1::FLOW_NOTIFY_FAMILY_COMPOSITION,
                           R"({"members": [{"role": "CHILD"}, {"role": "KING"}]})", n),
               code::kInvalidEnum, "members[1].role");
}

TEST(DecodeJson, Int64AsNumberOrString) {
  const auto pension = relais::v1::FLOW_PENSION_REGISTER_MUTATION;
  Notification n;
  ASSERT_EQ(decode_json(pension, R"({"monthly_gross_amount_cents": "158734"})", n), std::nullopt);
  EXPECT_EQ(n.pension_register_mutation().monthly_gross_amount_cents(), 158734);
  ASSERT_EQ(decode_json(pension, R"({"monthlyGrossAmountCents": 158734})", n), std::nullopt);
  EXPECT_EQ(n.pension_register_mutation().monthly_gross_amount_cents(), 158734);
  ASSERT_EQ(decode_json(pension, R"({"monthly_gross_amount_cents": "-9223372036854775808"})", n),
            std::nullopt);
  EXPECT_EQ(n.pension_register_mutation().monthly_gross_amount_cents(), INT64_MIN);
  ASSERT_EQ(decode_json(pension, R"({"monthly_gross_amount_cents": 1e3})", n), std::nullopt);
  EXPECT_EQ(n.pension_register_mutation().monthly_gross_amount_cents(), 1000);
  ASSERT_EQ(decode_json(pension, R"({"sequence_number": "18446744073709551615"})", n),
            std::nullopt);
  EXPECT_EQ(n.pension_register_mutation().sequence_number(), UINT64_MAX);
  for (const char* bad :
       {R"({"monthly_gross_amount_cents": "12a"})", R"({"monthly_gross_amount_cents": ""})",
        R"({"monthly_gross_amount_cents": " 12"})", R"({"monthly_gross_amount_cents": "+12"})",
        R"({"monthly_gross_amount_cents": "9223372036854775808"})",
        R"({"monthly_gross_amount_cents": 9223372036854775808})",
        R"({"monthly_gross_amount_cents": 12.5})"}) {
    expect_error(decode_json(pension, bad, n), code::kWrongType, "monthly_gross_amount_cents");
  }
  // A negative amount decodes; validation refuses it.
  std::string json = sample_json(pension, kTicket, kSsin, kDate);
  json.replace(json.find("\"158734\""), 8, "\"-5\"");
  expect_error(decode_and_validate_json(pension, json, n), code::kInvalidAmount,
               "monthly_gross_amount_cents");
}

TEST(DecodeJson, NullMeansNotSet) {
  Notification n;
  ASSERT_EQ(
      decode_json(relais::v1::FLOW_NOTIFY_PERSON,
                  R"({"ssin": null, "address": null, "event": null, "sequence_number": null})", n),
      std::nullopt);
  EXPECT_FALSE(n.notify_person().has_address());
  EXPECT_EQ(n.notify_person().ssin(), "");
  EXPECT_EQ(n.notify_person().event(), relais::v1::NotifyPerson::EVENT_UNSPECIFIED);
}

TEST(DecodeJson, MalformedJson) {
  for (const char* bad :
       {"", "{", "{\"ssin\": }", "{\"ssin\": \"1\",}", "{\"ssin\" \"1\"}", "{'ssin': '1'}", "{} {}",
        "{} x", "{\"ssin\": \"\xff\"}", "{\"ssin\": \"1\"} // comment", "{\"ssin\": \"\\x41\"}"}) {
    expect_error(decode_personnel(bad), code::kMalformedJson, "");
  }
  // Syntax errors win over a semantic error seen earlier in the document.
  expect_error(decode_personnel(R"({"salary": 1, )"), code::kMalformedJson, "");
  // Trailing whitespace is fine.
  EXPECT_EQ(decode_personnel("{}\r\n\t "), std::nullopt);
}

TEST(DecodeJson, DuplicateKeys) {
  expect_error(decode_personnel(R"({"ssin": "68060105329", "ssin": "93051822361"})"),
               code::kMalformedJson, "ssin");
  expect_error(
      decode_personnel(R"({"effective_date": "2024-01-01", "effectiveDate": "2024-01-01"})"),
      code::kMalformedJson, "effective_date");
  Notification n;
  expect_error(
      decode_json(relais::v1::FLOW_NOTIFY_PERSON, R"({"address": {"box": "1", "box": "2"}})", n),
      code::kMalformedJson, "address.box");
  // The same key in two different objects is fine.
  EXPECT_EQ(decode_json(relais::v1::FLOW_NOTIFY_FAMILY_COMPOSITION,
                        R"({"members": [{"ssin": "68060105329"}, {"ssin": "93051822361"}]})", n),
            std::nullopt);
  EXPECT_EQ(n.notify_family_composition().members_size(), 2);
}

TEST(DecodeJson, DepthAndSizeLimits) {
  const std::string bomb =
      "{\"ticket\": " + std::string(100'000, '[') + std::string(100'000, ']') + "}";
  Limits big;
  big.max_body = 1 << 20;
  expect_error(decode_personnel(bomb, nullptr, big), code::kDepthExceeded, "");
  expect_error(decode_personnel(std::string(50'000, '['), nullptr, big), code::kDepthExceeded, "");
  // The family body nests three levels deep: fine by default, refused with max_depth = 2.
  const auto family = relais::v1::FLOW_NOTIFY_FAMILY_COMPOSITION;
  const std::string json = sample_json(family, kTicket, kSsin, kDate);
  Notification n;
  EXPECT_EQ(decode_json(family, json, n), std::nullopt);
  Limits shallow;
  shallow.max_depth = 2;
  expect_error(decode_json(family, json, n, shallow), code::kDepthExceeded, "");
  // Size.
  Limits tiny;
  tiny.max_body = json.size() - 1;
  expect_error(decode_json(family, json, n, tiny), code::kBodyTooLarge, "");
  tiny.max_body = json.size();
  EXPECT_EQ(decode_json(family, json, n, tiny), std::nullopt);
}

TEST(DecodeJson, NotAFlow) {
  Notification n;
  expect_error(decode_json(relais::v1::FLOW_UNSPECIFIED, "{}", n), code::kInconsistent, "flow");
  expect_error(decode_protobuf(relais::v1::FLOW_UNSPECIFIED, "", n), code::kInconsistent, "flow");
}

TEST(DecodeJson, DecodeAndValidate) {
  const auto flow = relais::v1::FLOW_SELF_EMPLOYED_CAREER;
  Notification n;
  EXPECT_EQ(decode_and_validate_json(flow, sample_json(flow, kTicket, kSsin, kDate), n),
            std::nullopt);
  expect_error(decode_and_validate_json(flow, sample_json(flow, kTicket, "93051822362", kDate), n),
               code::kInvalidSsinChecksum, "ssin");
  expect_error(decode_and_validate_json(flow, "{\"ssin\": 1}", n), code::kWrongType, "ssin");
  Limits limits;
  limits.validation.max_string = 10;
  expect_error(decode_and_validate_json(flow, sample_json(flow, kTicket, kSsin, kDate), n, limits),
               code::kFieldTooLong, "ticket");
}

// ---- Protobuf decoding ------------------------------------------------------------------------

TEST(DecodeProtobuf, RoundTripEveryFlow) {
  for (auto flow : kAllFlows) {
    const std::string bytes = sample_protobuf(flow, kTicket, kSsin, kDate);
    ASSERT_FALSE(bytes.empty());
    Notification n;
    const auto e = decode_and_validate_protobuf(flow, bytes, n);
    ASSERT_EQ(e, std::nullopt) << flow_id(flow) << ": " << e->code << " " << e->field;
    EXPECT_TRUE(MessageDifferencer::Equals(n, sample(flow))) << flow_id(flow);
  }
}

TEST(DecodeProtobuf, Garbage) {
  Notification n;
  for (std::string bad :
       {std::string("\xff\xff\xff\xff", 4),
        std::string("\x0a\x05"
                    "ab",
                    4),
        std::string("\x08", 1), std::string("\x12\x02\xc3\x28", 4), std::string("\x07", 1)}) {
    expect_error(decode_protobuf(relais::v1::FLOW_PERSONNEL_FILE, bad, n), code::kMalformedProtobuf,
                 "");
  }
  Limits tiny;
  tiny.max_body = 3;
  expect_error(decode_protobuf(relais::v1::FLOW_PERSONNEL_FILE, "abcd", n, tiny),
               code::kBodyTooLarge, "");
}

TEST(DecodeProtobuf, UnknownFields) {
  const auto flow = relais::v1::FLOW_PERSONNEL_FILE;
  // Field 99, varint 1, after a valid body.
  std::string bytes = sample_protobuf(flow, kTicket, kSsin, kDate) + std::string("\x98\x06\x01", 3);
  Notification n;
  expect_error(decode_protobuf(flow, bytes, n), code::kUnknownField, "99");
  // Another flow's bytes: ecarmed field 12 (calculation_id, a string) has the wrong wire type
  // for personnel-file field 12 (worker_type, an enum), so protobuf keeps it as unknown.
  const relais::v1::EcarmedCalculation ecarmed =
      sample(relais::v1::FLOW_ECARMED_CALCULATION).ecarmed_calculation();
  expect_error(decode_protobuf(flow, ecarmed.SerializeAsString(), n), code::kUnknownField, "12");
  // Nested.
  Notification person = sample(relais::v1::FLOW_NOTIFY_PERSON);
  auto* address = person.mutable_notify_person()->mutable_address();
  address->GetReflection()->MutableUnknownFields(address)->AddVarint(42, 7);
  expect_error(decode_protobuf(relais::v1::FLOW_NOTIFY_PERSON,
                               person.notify_person().SerializeAsString(), n),
               code::kUnknownField, "address.42");
  Notification family = sample(relais::v1::FLOW_NOTIFY_FAMILY_COMPOSITION);
  auto* member = family.mutable_notify_family_composition()->mutable_members(1);
  member->GetReflection()->MutableUnknownFields(member)->AddLengthDelimited(9, "x");
  expect_error(decode_protobuf(relais::v1::FLOW_NOTIFY_FAMILY_COMPOSITION,
                               family.notify_family_composition().SerializeAsString(), n),
               code::kUnknownField, "members[1].9");
}

TEST(DecodeProtobuf, UnknownEnumValueIsLeftToValidation) {
  const auto flow = relais::v1::FLOW_PERSONNEL_FILE;
  relais::v1::PersonnelFile body = sample(flow).personnel_file();
  body.set_worker_type(static_cast<relais::v1::PersonnelFile::WorkerType>(42));
  Notification n;
  ASSERT_EQ(decode_protobuf(flow, body.SerializeAsString(), n), std::nullopt);
  EXPECT_EQ(n.personnel_file().worker_type(), 42);
  expect_error(relais::validation::validate(n), code::kInvalidEnum, "worker_type");
}

TEST(DecodeProtobuf, EmptyBodyDecodesButDoesNotValidate) {
  Notification n;
  EXPECT_EQ(decode_protobuf(relais::v1::FLOW_PERSONNEL_FILE, "", n), std::nullopt);
  EXPECT_EQ(n.flow(), relais::v1::FLOW_PERSONNEL_FILE);
  EXPECT_TRUE(n.has_personnel_file());
  expect_error(decode_and_validate_protobuf(relais::v1::FLOW_PERSONNEL_FILE, "", n),
               code::kMissingField, "ticket");
}

// ---- Source codes (docs/domain-model.md) ------------------------------------------------------

// Every new relais.v1 field of notify-person, JSON -> protobuf -> JSON -> protobuf, with snake_case
// and lowerCamel keys; the completed message (derived fields) survives both directions.
TEST(SourceCodes, NotifyPersonJsonProtobufRoundTrip) {
  // JSON escapes: a line feed, a tab and an e acute, as the register's text may hold them.
  const std::string raw =
      R"(<ResidenceAbroad>\n\t<Date>2026-00-00</Date>\n</ResidenceAbroad> \u00e9)";
  const std::string json =
      R"({"ticket": "7c9e6679-7425-40de-944b-e07fc1f90ae7", "ssin": "93051822361",
      "effective_date": "2026-03-00", "event": "ADDRESS_ABROAD",
      "address": {"municipality": "Aachen", "countryNrCode": 103},
      "nr_information_type": "IT023", "nrRawValue": ")" +
      raw + R"(",
      "birth_date": "1993-05-00", "genderCode": 1, "civil_status_code": 51,
      "nationalityNrCode": 150, "partner_ssin": "68060105329", "householdHeadSsin": "68060105329",
      "register_code": 1, "previousRegisterCode": 7, "absence_end_date": "2027-00-00"})";
  Notification n;
  const auto e = decode_and_validate_json(relais::v1::FLOW_NOTIFY_PERSON, json, n);
  ASSERT_EQ(e, std::nullopt) << e->code << " " << e->field << " " << e->message;
  const auto& p = n.notify_person();
  EXPECT_EQ(p.address().country_nr_code(), 103u);
  EXPECT_EQ(p.address().country_code(), "DE");  // derived
  EXPECT_EQ(p.nr_information_type(), "IT023");
  EXPECT_EQ(p.nr_raw_value(),
            "<ResidenceAbroad>\n\t<Date>2026-00-00</Date>\n</ResidenceAbroad> \xc3\xa9");
  EXPECT_EQ(p.birth_date(), "1993-05-00");
  EXPECT_EQ(p.gender_code(), 1u);
  EXPECT_EQ(p.civil_status_code(), 51u);
  EXPECT_EQ(p.civil_status(), relais::v1::NotifyPerson::CIVIL_STATUS_UNSPECIFIED);
  EXPECT_EQ(p.nationality_nr_code(), 150u);
  EXPECT_EQ(p.nationality_code(), "BE");  // derived
  EXPECT_EQ(p.partner_ssin(), "68060105329");
  EXPECT_EQ(p.household_head_ssin(), "68060105329");
  EXPECT_EQ(p.register_code(), 1u);
  EXPECT_EQ(p.previous_register_code(), 7u);
  EXPECT_EQ(p.absence_end_date(), "2027-00-00");
  EXPECT_EQ(p.effective_date(), "2026-03-00");

  // Back to JSON (proto names) and in again; and the protobuf bytes in again.
  const std::string out = to_json(p);
  for (const char* key : {"\"country_nr_code\":103", "\"nr_raw_value\"", "\"civil_status_code\":51",
                          "\"absence_end_date\":\"2027-00-00\""}) {
    EXPECT_NE(out.find(key), std::string::npos) << key << " in " << out;
  }
  Notification again;
  ASSERT_EQ(decode_and_validate_json(relais::v1::FLOW_NOTIFY_PERSON, out, again), std::nullopt)
      << out;
  EXPECT_TRUE(MessageDifferencer::Equals(again, n)) << out;
  Notification from_bytes;
  ASSERT_EQ(decode_and_validate_protobuf(relais::v1::FLOW_NOTIFY_PERSON, p.SerializeAsString(),
                                         from_bytes),
            std::nullopt);
  EXPECT_TRUE(MessageDifferencer::Equals(from_bytes, n));
}

TEST(SourceCodes, PersonnelAndFamilyRoundTrip) {
  Notification n;
  ASSERT_EQ(decode_and_validate_json(relais::v1::FLOW_PERSONNEL_FILE, R"({
      "ticket": "7c9e6679-7425-40de-944b-e07fc1f90ae7", "ssin": "93051822361",
      "effective_date": "2026-03-14", "event": "DIMONA_IN", "employerNssoNumber": "5000000120",
      "worker_type": "ARTICLE_60", "period_start_date": "2026-03-14"})",
                                     n),
            std::nullopt);
  const auto& f = n.personnel_file();
  EXPECT_EQ(f.employer_nsso_number(), "5000000120");
  EXPECT_EQ(f.dimona_worker_type(), "OTH");  // mapped from the deprecated value
  EXPECT_TRUE(f.cpas_article_60());
  Notification again;
  ASSERT_EQ(decode_and_validate_json(relais::v1::FLOW_PERSONNEL_FILE, to_json(f), again),
            std::nullopt);
  EXPECT_TRUE(MessageDifferencer::Equals(again, n)) << to_json(f);
  EXPECT_NE(to_json(f).find("\"cpas_article_60\":true"), std::string::npos) << to_json(f);

  ASSERT_EQ(decode_and_validate_json(relais::v1::FLOW_NOTIFY_FAMILY_COMPOSITION, R"({
      "ticket": "7c9e6679-7425-40de-944b-e07fc1f90ae7", "ssin": "93051822361",
      "effective_date": "2026-00-00", "event": "MEMBER_ADDED",
      "members": [{"ssin": "93051822361", "roleCode": 1}, {"ssin": "68060105329", "role": "SPOUSE",
                   "since": "2026-02-00"}]})",
                                     n),
            std::nullopt);
  const auto& h = n.notify_family_composition();
  EXPECT_EQ(h.members(0).role(), relais::v1::NotifyFamilyComposition::REFERENCE_PERSON);
  EXPECT_EQ(h.members(1).role_code(), 2u);
  ASSERT_EQ(decode_and_validate_json(relais::v1::FLOW_NOTIFY_FAMILY_COMPOSITION, to_json(h), again),
            std::nullopt);
  EXPECT_TRUE(MessageDifferencer::Equals(again, n)) << to_json(h);
}

TEST(SourceCodes, DecoderRefusesWhatValidationRefuses) {
  Notification n;
  expect_error(decode_and_validate_json(relais::v1::FLOW_NOTIFY_PERSON, R"({
      "ticket": "7c9e6679-7425-40de-944b-e07fc1f90ae7", "ssin": "93051822361",
      "effective_date": "2026-03-14", "event": "CIVIL_STATUS_CHANGE", "civil_status_code": "x"})",
                                        n),
               code::kWrongType, "civil_status_code");
  expect_error(decode_and_validate_json(relais::v1::FLOW_NOTIFY_PERSON, R"({
      "ticket": "7c9e6679-7425-40de-944b-e07fc1f90ae7", "ssin": "93051822361",
      "effective_date": "2026-03-14", "event": "CIVIL_STATUS_CHANGE", "civil_status_code": -20})",
                                        n),
               code::kWrongType, "civil_status_code");
  expect_error(decode_and_validate_json(relais::v1::FLOW_PERSONNEL_FILE, R"({
      "ticket": "7c9e6679-7425-40de-944b-e07fc1f90ae7", "ssin": "93051822361",
      "effective_date": "2026-03-14", "event": "DIMONA_IN", "employer_cbe": "0851234584",
      "worker_type": "INTERIM", "period_start_date": "2026-03-14"})",
                                        n),
               code::kNotMappable, "worker_type");
}

// ---- Encoding ---------------------------------------------------------------------------------

TEST(Encode, ToJsonUsesProtoNames) {
  const Notification n = sample(relais::v1::FLOW_PERSONNEL_FILE);
  const std::string json = to_json(n);
  EXPECT_NE(json.find("\"personnel_file\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"employer_cbe\":\"0851234584\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"flow\":\"FLOW_PERSONNEL_FILE\""), std::string::npos) << json;
  EXPECT_EQ(json.find("employerCbe"), std::string::npos) << json;
}

TEST(Encode, ErrorJsonIsEscaped) {
  const relais::validation::Error e{"WRONG_TYPE", "expected \"a string\"\n\\ é \x01",
                                    "members[2].ssin"};
  const std::string json = error_json(e);
  boost::json::error_code ec;
  const boost::json::value v = boost::json::parse(json, ec);
  ASSERT_FALSE(ec) << json;
  const auto& o = v.as_object();
  EXPECT_EQ(o.size(), 3u);
  EXPECT_EQ(o.at("code").as_string(), "WRONG_TYPE");
  EXPECT_EQ(o.at("message").as_string(), e.message);
  EXPECT_EQ(o.at("field").as_string(), "members[2].ssin");
  EXPECT_EQ(error_json({"MALFORMED_JSON", "bad", ""}),
            R"({"code":"MALFORMED_JSON","message":"bad","field":""})");
}

// ---- NDJSON -----------------------------------------------------------------------------------

TEST(Ndjson, SplitsLinesAndKeepsPhysicalNumbers) {
  const std::string body = "{\"a\":1}\r\n\n   \r\n\t\n{\"b\":2}\n \r{\"c\":3} \r\n{\"d\":4}";
  std::vector<Line> lines;
  ASSERT_EQ(split_lines(body, 100, lines), std::nullopt);
  const std::vector<Line> want = {
      {1, "{\"a\":1}"}, {5, "{\"b\":2}"}, {6, " \r{\"c\":3} "}, {7, "{\"d\":4}"}};
  EXPECT_EQ(lines, want);
  // Zero copy: the views point into the body.
  for (const Line& l : lines) {
    EXPECT_GE(l.text.data(), body.data());
    EXPECT_LE(l.text.data() + l.text.size(), body.data() + body.size());
  }
}

TEST(Ndjson, EdgeCases) {
  std::vector<Line> lines;
  EXPECT_EQ(split_lines("", 10, lines), std::nullopt);
  EXPECT_TRUE(lines.empty());
  EXPECT_EQ(split_lines("\n\r\n \n", 10, lines), std::nullopt);
  EXPECT_TRUE(lines.empty());
  EXPECT_EQ(split_lines("x\n", 10, lines), std::nullopt);
  EXPECT_EQ(lines, (std::vector<Line>{{1, "x"}}));
  EXPECT_EQ(split_lines("\n\nx", 10, lines), std::nullopt);
  EXPECT_EQ(lines, (std::vector<Line>{{3, "x"}}));
  EXPECT_EQ(split_lines("x\r", 10, lines), std::nullopt);
  EXPECT_EQ(lines, (std::vector<Line>{{1, "x"}}));
  EXPECT_EQ(split_lines("x\r\r\n", 10, lines), std::nullopt);  // only one '\r' is stripped
  EXPECT_EQ(lines, (std::vector<Line>{{1, "x\r"}}));
}

TEST(Ndjson, LineLimit) {
  std::vector<Line> lines;
  EXPECT_EQ(split_lines("a\nb\n\n\nc\n\n", 3, lines), std::nullopt);  // blank lines do not count
  EXPECT_EQ(lines.size(), 3u);
  const auto e = split_lines("a\nb\nc\nd", 3, lines);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code, code::kTooManyItems);
  EXPECT_TRUE(lines.empty());

  LineSplitter splitter("a\nb\nc", 2);
  EXPECT_EQ(splitter.next(), (Line{1, "a"}));
  EXPECT_EQ(splitter.next(), (Line{2, "b"}));
  EXPECT_EQ(splitter.error(), std::nullopt);
  EXPECT_EQ(splitter.next(), std::nullopt);
  ASSERT_TRUE(splitter.error());
  EXPECT_EQ(splitter.error()->code, code::kTooManyItems);
  EXPECT_EQ(splitter.next(), std::nullopt);
}

TEST(Ndjson, BatchOfSamplesDecodes) {
  std::string body;
  int n = 0;
  for (auto flow : {relais::v1::FLOW_PERSONNEL_FILE, relais::v1::FLOW_PERSONNEL_FILE}) {
    body += sample_json(flow, kTicket, kSsin, kDate) + "\r\n\r\n";
    ++n;
  }
  body += "{\"ssin\": 5}\n";
  std::vector<Line> lines;
  ASSERT_EQ(split_lines(body, 10, lines), std::nullopt);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0].number, 1u);
  EXPECT_EQ(lines[1].number, 3u);
  EXPECT_EQ(lines[2].number, 5u);
  Notification out;
  EXPECT_EQ(decode_and_validate_json(relais::v1::FLOW_PERSONNEL_FILE, lines[0].text, out),
            std::nullopt);
  expect_error(decode_json(relais::v1::FLOW_PERSONNEL_FILE, lines[2].text, out), code::kWrongType,
               "ssin");
  EXPECT_EQ(n, 2);
}

}  // namespace
