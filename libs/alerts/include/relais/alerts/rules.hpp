// Clignotant rules as data: a YAML rule file names, per rule, the flow, the
// events, the quality codes of the matching integration, the alert type,
// severity and follow-up deadline, and optional conditions on fields of the
// notification. Loaded and validated once at start (errors name the rule and
// the key); evaluated as a pure function for each (notification, CPAS) pair
// the router forwards.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "relais/v1/records.pb.h"

namespace relais::alerts {

enum class Op {
  equals,             // the field's value is values[0]
  in,                 // the field's value is one of values
  not_in,             // the field's value is none of values (an empty field counts as none)
  present,            // the field is set (non-empty)
  absent,             // the field is empty
  outside_territory,  // a NIS code not among the CPAS's municipalities (empty = not outside)
  inside_territory,   // a NIS code among the CPAS's municipalities
};

struct Condition {
  std::vector<const google::protobuf::FieldDescriptor*> path;  // resolved at load
  std::string field;  // as written, e.g. address.municipality_nis_code
  Op op = Op::present;
  std::vector<std::string> values;
};

enum class Severity { low, medium, high };
std::string_view severity_name(Severity s);

struct Rule {
  std::string id;
  std::string description;
  relais::v1::Flow flow = relais::v1::FLOW_UNSPECIFIED;
  std::set<std::string> events;  // names of the flow's Event enum; empty = any event
  std::set<int> qualities;       // fires if ANY covering quality is listed (empty = any)
  std::set<int> qualities_not;   // fires only if NO covering quality is listed
  std::string alert_type;        // e.g. EMPLOYMENT_STARTED
  Severity severity = Severity::medium;
  int deadline_days = 30;
  std::vector<Condition> when;  // all must hold
};

struct Ruleset {
  std::vector<Rule> rules;
  std::string source;  // file it came from
};

// Parses and validates a rule file's text. Returns the ruleset or an error
// message naming the source, the rule and the key.
std::variant<Ruleset, std::string> parse_rules(std::string_view yaml, std::string_view source);
std::variant<Ruleset, std::string> load_rules(const std::string& path);

// What the router knows about one forwarding.
struct Context {
  const relais::v1::Notification& notification;
  std::span<const std::uint16_t>
      qualities;  // quality codes of every line of this CPAS covering the date
  std::span<const std::string> territory;  // NIS codes of the CPAS's municipalities
};

// Appends to `out` the rules that fire.
void evaluate(const Ruleset& rules, const Context& ctx, std::vector<const Rule*>& out);

// The alert id: a UUID (version 8, name-based on SHA-256) derived from
// (ticket, content fingerprint of the notification, CPAS, rule), so a replay or
// an exact re-post gives the same id, and two different notifications sharing a
// ticket (two persons, or other content) never share an alert id.
std::string alert_id(std::string_view ticket, std::uint64_t content, std::string_view cbe,
                     std::string_view rule_id);

}  // namespace relais::alerts
