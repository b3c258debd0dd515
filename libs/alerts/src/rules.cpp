#include "relais/alerts/rules.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdio>
#include <regex>

#include "relais/codec/flow.hpp"
#include "relais/fingerprint/sha256.hpp"
#include "relais/validation/ids.hpp"

namespace relais::alerts {
namespace pb = google::protobuf;
namespace {

std::string field_value(const pb::Message& msg,
                        const std::vector<const pb::FieldDescriptor*>& path) {
  const pb::Message* m = &msg;
  for (std::size_t i = 0; i < path.size(); ++i) {
    const auto* f = path[i];
    const auto* r = m->GetReflection();
    if (i + 1 < path.size()) {
      if (!r->HasField(*m, f)) return {};
      m = &r->GetMessage(*m, f);
      continue;
    }
    switch (f->cpp_type()) {
      case pb::FieldDescriptor::CPPTYPE_STRING:
        return r->GetString(*m, f);
      case pb::FieldDescriptor::CPPTYPE_ENUM: {
        const auto* v = r->GetEnum(*m, f);
        return v && v->number() != 0 ? v->name() : std::string{};
      }
      case pb::FieldDescriptor::CPPTYPE_INT32:
        return std::to_string(r->GetInt32(*m, f));
      case pb::FieldDescriptor::CPPTYPE_INT64:
        return std::to_string(r->GetInt64(*m, f));
      case pb::FieldDescriptor::CPPTYPE_UINT32:
        return std::to_string(r->GetUInt32(*m, f));
      case pb::FieldDescriptor::CPPTYPE_UINT64:
        return std::to_string(r->GetUInt64(*m, f));
      case pb::FieldDescriptor::CPPTYPE_BOOL:
        return r->GetBool(*m, f) ? "true" : "false";
      default:
        return {};
    }
  }
  return {};
}

bool holds(const Condition& c, const pb::Message& body, std::span<const std::string> territory) {
  std::string v = field_value(body, c.path);
  auto in_values = [&] { return std::find(c.values.begin(), c.values.end(), v) != c.values.end(); };
  auto in_territory = [&] {
    return std::find(territory.begin(), territory.end(), v) != territory.end();
  };
  switch (c.op) {
    case Op::equals:
      return v == c.values.front();
    case Op::in:
      return in_values();
    case Op::not_in:
      return !in_values();
    case Op::present:
      return !v.empty();
    case Op::absent:
      return v.empty();
    case Op::outside_territory:
      return !v.empty() && !in_territory();
    case Op::inside_territory:
      return !v.empty() && in_territory();
  }
  return false;
}

struct Reader {
  std::string source;
  std::string where;  // "rule 'x'"
  std::optional<std::string> error;
  void fail(const std::string& msg) {
    if (!error) error = source + ": " + where + (where.empty() ? "" : ": ") + msg;
  }
};

// NOLINTNEXTLINE(cert-err58-cpp): a constant, valid pattern; the unit tests construct it
const std::regex kId("^[a-z0-9][a-z0-9-]{0,63}$");
// NOLINTNEXTLINE(cert-err58-cpp): a constant, valid pattern; the unit tests construct it
const std::regex kType("^[A-Z][A-Z0-9_]{0,63}$");

std::vector<const pb::FieldDescriptor*> resolve(const pb::Descriptor* d, const std::string& path,
                                                std::string& err) {
  std::vector<const pb::FieldDescriptor*> out;
  std::size_t pos = 0;
  while (true) {
    auto dot = path.find('.', pos);
    std::string name = path.substr(pos, dot == std::string::npos ? std::string::npos : dot - pos);
    const auto* f = d ? d->FindFieldByName(name) : nullptr;
    if (!f) {
      err = "unknown field \"" + path + "\"";
      return {};
    }
    if (f->is_repeated()) {
      err = "field \"" + path + "\" is a list; conditions apply to single values";
      return {};
    }
    out.push_back(f);
    if (dot == std::string::npos) {
      if (f->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE) {
        err = "field \"" + path + "\" is a message; name one of its fields";
        return {};
      }
      return out;
    }
    if (f->cpp_type() != pb::FieldDescriptor::CPPTYPE_MESSAGE) {
      // NOLINTNEXTLINE(performance-inefficient-string-concatenation): an error message
      err = "field \"" + path + "\": " + name + " has no sub-fields";
      return {};
    }
    d = f->message_type();
    pos = dot + 1;
  }
}

std::set<int> read_qualities(const YAML::Node& n, const char* key, Reader& rd) {
  std::set<int> out;
  if (!n[key]) return out;
  if (!n[key].IsSequence()) {
    rd.fail(std::string(key) + " must be a list of quality codes");
    return out;
  }
  for (const auto& q : n[key]) {
    int v = 0;
    try {
      v = q.as<int>();
    } catch (const YAML::Exception&) {
      rd.fail(std::string(key) + ": \"" + q.as<std::string>("?") + "\" is not a number");
      return out;
    }
    if (!validation::is_known_quality_code(v)) {
      rd.fail(std::string(key) + ": " + std::to_string(v) + " is not a known quality code");
      return out;
    }
    out.insert(v);
  }
  return out;
}
}  // namespace

std::string_view severity_name(Severity s) {
  switch (s) {
    case Severity::low:
      return "low";
    case Severity::medium:
      return "medium";
    case Severity::high:
      return "high";
  }
  return "medium";
}

std::variant<Ruleset, std::string> parse_rules(std::string_view yaml, std::string_view source) {
  Reader rd{std::string(source), {}, std::nullopt};
  Ruleset rs;
  rs.source = rd.source;
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    return rd.source + ": " + e.what();
  }
  if (!root.IsMap())
    return rd.source + ": the top level must be a mapping with \"version\" and \"rules\"";
  for (const auto& kv : root) {
    auto k = kv.first.as<std::string>("");
    if (k != "version" && k != "rules") return rd.source + ": unknown key \"" + k + "\"";
  }
  if (!root["version"] || root["version"].as<std::string>("") != "1")
    return rd.source + ": \"version: 1\" is required";
  if (!root["rules"] || !root["rules"].IsSequence() || root["rules"].size() == 0)
    return rd.source + ": \"rules\" must be a non-empty list";
  if (root["rules"].size() > 1000) return rd.source + ": at most 1000 rules";
  std::set<std::string> ids;
  std::size_t index = 0;
  for (const auto& n : root["rules"]) {
    ++index;
    rd.where = "rule " + std::to_string(index);
    if (!n.IsMap()) return rd.source + ": " + rd.where + ": must be a mapping";
    static const std::set<std::string> known{
        "id",    "description", "flow",          "events", "qualities", "qualities_not",
        "alert", "severity",    "deadline_days", "when"};
    for (const auto& kv : n) {
      auto k = kv.first.as<std::string>("");
      if (!known.contains(k)) rd.fail("unknown key \"" + k + "\"");
    }
    Rule r;
    r.id = n["id"] ? n["id"].as<std::string>("") : "";
    if (!std::regex_match(r.id, kId))
      rd.fail("id must be 1-64 of a-z, 0-9, '-'");
    else
      rd.where = "rule '" + r.id + "'";
    if (!ids.insert(r.id).second) rd.fail("duplicate id");
    r.description = n["description"] ? n["description"].as<std::string>("") : "";
    auto flow = codec::flow_from_id(n["flow"] ? n["flow"].as<std::string>("") : "");
    if (!flow || *flow == relais::v1::FLOW_SPPIS_CLIGNOTANT) {
      // SPP IS's clignotants are alerts already: early signals come from the six BCSS flows.
      rd.fail("flow must be one of the six BCSS flow ids");
    } else {
      r.flow = *flow;
      const auto* desc = codec::flow_descriptor(*flow);
      const auto* ev_field = desc->FindFieldByName("event");
      if (n["events"]) {
        if (!n["events"].IsSequence())
          rd.fail("events must be a list");
        else
          for (const auto& e : n["events"]) {
            auto name = e.as<std::string>("");
            const auto* v = ev_field->enum_type()->FindValueByName(name);
            if (!v || v->number() == 0)
              rd.fail("\"" + name + "\" is not an event of " + std::string(codec::flow_id(*flow)));
            r.events.insert(name);
          }
      }
      if (n["when"]) {
        if (!n["when"].IsSequence())
          rd.fail("when must be a list of conditions");
        else
          for (const auto& c : n["when"]) {
            Condition cond;
            if (!c.IsMap() || !c["field"]) {
              rd.fail("each condition needs a \"field\"");
              break;
            }
            cond.field = c["field"].as<std::string>("");
            std::string err;
            cond.path = resolve(desc, cond.field, err);
            if (cond.path.empty()) {
              rd.fail("when: " + err);
              break;
            }
            int ops = 0;
            for (const auto& kv : c) {
              auto k = kv.first.as<std::string>("");
              if (k == "field") continue;
              ++ops;
              if (k == "equals") {
                cond.op = Op::equals;
                cond.values = {kv.second.as<std::string>("")};
              } else if (k == "in" || k == "not_in") {
                cond.op = k == "in" ? Op::in : Op::not_in;
                if (!kv.second.IsSequence() || kv.second.size() == 0)
                  rd.fail("when: " + k + " needs a non-empty list");
                else
                  for (const auto& v : kv.second) cond.values.push_back(v.as<std::string>(""));
              } else if (k == "present") {
                cond.op = kv.second.as<bool>(true) ? Op::present : Op::absent;
              } else if (k == "outside_territory" || k == "inside_territory") {
                cond.op = k == "outside_territory" ? Op::outside_territory : Op::inside_territory;
                if (cond.path.back()->cpp_type() != pb::FieldDescriptor::CPPTYPE_STRING)
                  rd.fail("when: " + k + " applies to a NIS code (string) field");
              } else {
                rd.fail("when: unknown operator \"" + k + "\"");
              }
            }
            if (ops != 1) rd.fail("when: each condition has exactly one operator");
            if (const auto* en = cond.path.back()->enum_type())
              for (const auto& v : cond.values)
                if (!en->FindValueByName(v))
                  rd.fail("when: \"" + v + "\" is not a value of " + cond.field);
            r.when.push_back(std::move(cond));
          }
      }
    }
    r.qualities = read_qualities(n, "qualities", rd);
    r.qualities_not = read_qualities(n, "qualities_not", rd);
    r.alert_type = n["alert"] ? n["alert"].as<std::string>("") : "";
    if (!std::regex_match(r.alert_type, kType)) rd.fail("alert must be an UPPER_SNAKE alert type");
    auto sev = n["severity"] ? n["severity"].as<std::string>("") : "medium";
    if (sev == "low")
      r.severity = Severity::low;
    else if (sev == "medium")
      r.severity = Severity::medium;
    else if (sev == "high")
      r.severity = Severity::high;
    else
      rd.fail("severity must be low, medium or high");
    try {
      r.deadline_days = n["deadline_days"] ? n["deadline_days"].as<int>() : 30;
    } catch (const YAML::Exception&) {
      rd.fail("deadline_days must be a number of days");
    }
    if (r.deadline_days < 1 || r.deadline_days > 366)
      rd.fail("deadline_days must be between 1 and 366");
    if (rd.error) return *rd.error;
    rs.rules.push_back(std::move(r));
  }
  return rs;
}

std::variant<Ruleset, std::string> load_rules(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return path + ": cannot read the rule file";
  std::string text;
  char buf[65536];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0 && text.size() < (4u << 20))
    text.append(buf, n);
  std::fclose(f);
  if (text.size() >= (4u << 20)) return path + ": rule file larger than 4 MiB";
  return parse_rules(text, path);
}

void evaluate(const Ruleset& rules, const Context& ctx, std::vector<const Rule*>& out) {
  const auto* body = codec::body(ctx.notification);
  if (!body) return;
  auto flow = ctx.notification.flow();
  std::string event;
  if (const auto* ev = body->GetDescriptor()->FindFieldByName("event")) {
    const auto* v = body->GetReflection()->GetEnum(*body, ev);
    if (v) event = v->name();
  }
  for (const auto& r : rules.rules) {
    if (r.flow != flow) continue;
    if (!r.events.empty() && !r.events.contains(event)) continue;
    if (!r.qualities.empty() && std::none_of(ctx.qualities.begin(), ctx.qualities.end(),
                                             [&](auto q) { return r.qualities.contains(q); }))
      continue;
    if (!r.qualities_not.empty() &&
        std::any_of(ctx.qualities.begin(), ctx.qualities.end(),
                    [&](auto q) { return r.qualities_not.contains(q); }))
      continue;
    if (!std::all_of(r.when.begin(), r.when.end(),
                     [&](const Condition& c) { return holds(c, *body, ctx.territory); }))
      continue;
    out.push_back(&r);
  }
}

std::string alert_id(std::string_view ticket, std::uint64_t content, std::string_view cbe,
                     std::string_view rule_id) {
  std::string name = "relais-alert/2\n";
  name += ticket;
  name += '\n';
  char fp[17];
  std::snprintf(fp, sizeof fp, "%016llx", static_cast<unsigned long long>(content));
  name += fp;
  name += '\n';
  name += cbe;
  name += '\n';
  name += rule_id;
  auto d = fingerprint::sha256(name);
  d[6] = static_cast<unsigned char>((d[6] & 0x0F) | 0x80);  // version 8
  d[8] = static_cast<unsigned char>((d[8] & 0x3F) | 0x80);  // RFC 4122 variant
  char out[37];
  std::snprintf(out, sizeof out,
                "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", d[0], d[1],
                d[2], d[3], d[4], d[5], d[6], d[7], d[8], d[9], d[10], d[11], d[12], d[13], d[14],
                d[15]);
  return out;
}

}  // namespace relais::alerts
