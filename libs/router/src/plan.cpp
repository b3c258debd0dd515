#include "relais/router/plan.hpp"

#include "relais/codec/flow.hpp"
#include "relais/fingerprint/fingerprint.hpp"
#include "relais/refdata/refdata.hpp"
#include "relais/routing/route.hpp"
#include "relais/v1/records.pb.h"
#include "relais/validation/date.hpp"
#include "relais/validation/notification.hpp"

namespace relais::router {
namespace {

// The body's event name, as the journal and the alerts carry it (no reflection: a switch over
// the generated name tables).
const std::string& event_name(const v1::Notification& n) {
  static const std::string none;
  switch (n.body_case()) {
    case v1::Notification::kNotifyPerson:
      return v1::NotifyPerson::Event_Name(n.notify_person().event());
    case v1::Notification::kNotifyFamilyComposition:
      return v1::NotifyFamilyComposition::Event_Name(n.notify_family_composition().event());
    case v1::Notification::kPensionRegisterMutation:
      return v1::PensionRegisterMutation::Event_Name(n.pension_register_mutation().event());
    case v1::Notification::kPersonnelFile:
      return v1::PersonnelFile::Event_Name(n.personnel_file().event());
    case v1::Notification::kSelfEmployedCareer:
      return v1::SelfEmployedCareer::Event_Name(n.self_employed_career().event());
    case v1::Notification::kEcarmedCalculation:
      return v1::EcarmedCalculation::Event_Name(n.ecarmed_calculation().event());
    case v1::Notification::kSppisClignotant:
      return v1::SppIsClignotant::Event_Name(n.sppis_clignotant().event());
    case v1::Notification::BODY_NOT_SET:
      break;
  }
  return none;
}

// The National Register announcing an SSIN replacement: the only notification whose
// replaces_ssin routing follows (routing::Subject).
bool announces_replacement(const v1::Notification& n) {
  return n.body_case() == v1::Notification::kNotifyPerson &&
         n.notify_person().event() == v1::NotifyPerson::SSIN_REPLACED;
}

// Protobuf wire format: a length-delimited field appended to a message's bytes. A message is the
// concatenation of its fields, so a RoutedNotification is the inbound Notification's bytes as
// they came (field 1), spliced, then its own fields: no decode and re-encode per CPAS.
void append_varint(std::string& s, std::uint64_t v) {
  while (v >= 0x80) {
    s.push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  s.push_back(static_cast<char>(v));
}
void append_bytes_field(std::string& s, std::uint32_t field, std::string_view bytes) {
  append_varint(s, (static_cast<std::uint64_t>(field) << 3) | 2);
  append_varint(s, bytes.size());
  s.append(bytes);
}
constexpr std::uint32_t kRoutedNotificationField = 1;   // RoutedNotification.notification
constexpr std::uint32_t kAlertNotificationField = 15;   // Alert.notification
constexpr std::uint32_t kJournalBatchEntriesField = 1;  // JournalBatch.entries

constexpr std::string_view kEarlySignal = "EARLY_SIGNAL";
constexpr std::string_view kSppisClignotant = "SPPIS_CLIGNOTANT";
constexpr std::string_view kSppisRule =
    "sppis-clignotant";  // Alert.rule_id of SPP IS's clignotants
// Dropped: integrations cover the period, but none of them is the named CPAS's.
constexpr std::string_view kNamedCpasNotCovering = "named_cpas_not_covering";

std::string source_of(const InboundRecord& m) {
  std::string s(m.topic);
  s += '/';
  s += std::to_string(m.partition);
  s += '/';
  s += std::to_string(m.offset);
  return s;
}

// Builds one batch's plan; one instance per plan() call.
class Planner {
 public:
  Planner(const PlanContext& ctx, Plan& out, std::string origin)
      : ctx_(ctx), out_(out), origin_(std::move(origin)), in_batch_(ctx.processed.window_us()) {}

  void record(const InboundRecord& m) {
    ++out_.counts.consumed;
    out_.next_offsets[m.partition] = m.offset + 1;
    v1::Notification n;
    if (!n.ParseFromArray(m.value.data(), static_cast<int>(m.value.size())))
      return dead_letter(m, "UNDECODABLE: not a relais.v1.Notification", {}, nullptr);
    if (auto err = validation::validate(n))
      return dead_letter(m, "INVALID: " + err->code + " " + err->field, n.envelope().ticket(),
                         nullptr);
    const auto& env = n.envelope();
    auto ticket = parse_ticket(env.ticket());
    auto ssin = directory::ssin_key(env.ssin());
    // A complete date is one day; an incomplete one (yyyy-mm-00, yyyy-00-00) the days it may
    // designate, routed by the whole-interval rule of routing::decide.
    auto date = validation::parse_incomplete_date(env.effective_date());
    if (!ticket || !ssin || !date)
      return dead_letter(m, "INVALID: envelope", env.ticket(), nullptr);
    const std::string flow(codec::flow_id(n.flow()));
    const std::string& event = event_name(n);
    v1::JournalEntry j;
    j.set_at_us(ctx_.now_us);
    j.set_ticket(env.ticket());
    j.set_ssin(env.ssin());
    j.set_flow(n.flow());
    j.set_event(event);
    j.set_effective_date(env.effective_date());
    j.set_accepted_at_us(n.accepted_at_us());
    j.set_source(source_of(m));
    const Mark mark{*ticket, *ssin, fingerprint::content(n)};
    Seen seen = ctx_.processed.check(m.partition, mark);
    if (seen == Seen::kNew) seen = in_batch_.insert(m.partition, mark, ctx_.now_us);
    switch (seen) {
      case Seen::kNew:
        break;
      case Seen::kDuplicate:
        ++out_.counts.duplicates;
        j.set_kind(v1::JournalEntry::DUPLICATE);
        return journal(j);
      case Seen::kTicketReused:
        // Never merged into the first notification, never routed under a ticket the CPAS
        // already holds for other content: kept in the DLQ for the operator.
        return dead_letter(
            m, "TICKET_REUSED: ticket already processed for this SSIN with other content",
            env.ticket(), &j);
    }
    out_.marks.emplace_back(m.partition, mark);
    add_ticket(m.partition, mark);
    j.set_kind(v1::JournalEntry::ACCEPTED);
    if (!env.replaces_ssin().empty()) j.set_replaces_ssin(env.replaces_ssin());
    journal(j);
    j.clear_replaces_ssin();

    routing::Subject subject{*ssin, std::nullopt, announces_replacement(n)};
    if (!env.replaces_ssin().empty())
      subject.replaces_ssin = directory::ssin_key(env.replaces_ssin());
    // An SPP IS clignotant concerns its whole period: the named CPAS must cover all of it.
    routing::Days days{date->first_day().days, date->last_day().days};
    const bool sppis = n.body_case() == v1::Notification::kSppisClignotant;
    if (sppis) {
      if (auto end = validation::parse_iso_date(n.sppis_clignotant().period_end()))
        days.last = end->days;
    }
    routing::decide(subject, days, ctx_.directory, decision_);
    if (sppis) return clignotant(m, n, flow, event, j);
    if (decision_.targets.empty()) {
      auto reason = std::string(routing::reason_name(decision_.drop));
      ++dropped_[{n.flow(), decision_.drop}];
      j.set_kind(v1::JournalEntry::DROPPED);
      j.set_reason(reason);
      return journal(j);
    }
    for (const auto& t : decision_.targets) route(m, n, flow, event, mark, t, j);
    if (n.accepted_at_us() > 0)
      out_.end_to_end_seconds.push_back(static_cast<double>(ctx_.now_us - n.accepted_at_us()) /
                                        1e6);
  }

  // Produces what the batches still hold.
  void finish() {
    flush_journal();
    for (auto& [p, b] : dedupe_) flush_dedupe(p, b);
    for (const auto& [k, n] : routed_)
      out_.counts
          .routed[{std::string(codec::flow_id(k.first)), ctx_.directory.cpas(k.second).cbe}] += n;
    for (const auto& [k, n] : dropped_)
      out_.counts.dropped[{std::string(codec::flow_id(k.first)),
                           std::string(routing::reason_name(k.second))}] += n;
  }

 private:
  // The RoutedNotification bytes for one target: the inbound bytes spliced in as they came.
  std::string routed_bytes(const InboundRecord& m, const routing::Target& t,
                           const directory::Cpas& cpas) const {
    v1::RoutedNotification r;
    r.set_cpas_cbe(cpas.cbe);
    auto* in = r.mutable_integration();
    in->set_ssin(directory::ssin_string(t.integration.ssin));
    in->set_cpas_cbe(cpas.cbe);
    in->set_quality_code(t.integration.quality);
    in->set_start_date(validation::to_string(validation::Date{t.integration.start}));
    if (t.integration.end != directory::kOpenEnd)
      in->set_end_date(validation::to_string(validation::Date{t.integration.end}));
    r.set_routed_at_us(ctx_.now_us);
    std::string routed;
    routed.reserve(m.value.size() + 128);
    append_bytes_field(routed, kRoutedNotificationField, m.value);
    r.AppendToString(&routed);
    return routed;
  }

  void route(const InboundRecord& m, const v1::Notification& n, const std::string& flow,
             const std::string& event, const Mark& mark, const routing::Target& t,
             v1::JournalEntry& j) {
    const auto& cpas = ctx_.directory.cpas(t.cpas);
    std::string topic = "cpas." + cpas.cbe + ".notifications.v1";
    out_.cpas_topics.insert(topic);
    std::string routed = routed_bytes(m, t, cpas);
    const auto& env = n.envelope();
    // By index: journal() and raise_alerts() append records (the vector may move).
    const std::size_t at = out_.records.size();
    {
      OutRecord& o = out_.records.emplace_back();
      o.topic = std::move(topic);
      o.key = env.ssin();
      o.headers = {
          {"flow", flow}, {"ticket", env.ticket()}, {"content-type", "application/x-protobuf"}};
      if (!m.raw.empty()) {
        o.headers.push_back({"raw", std::string(m.raw)});
        o.headers.push_back({"source-content-type", std::string(m.raw_content_type)});
      }
    }
    ++routed_[{n.flow(), t.cpas}];
    j.set_kind(v1::JournalEntry::ROUTED);
    j.set_cpas_cbe(cpas.cbe);
    j.set_quality_code(t.integration.quality);
    journal(j);
    if (ctx_.rules) raise_alerts(n, routed, mark.content, t, cpas, event, j);
    out_.records[at].value = std::move(routed);  // after raise_alerts, which embeds it
  }

  // Evaluates the clignotant rules for one forwarding; the alerts go to cpas.<cbe>.alerts.v1.
  void raise_alerts(const v1::Notification& n, const std::string& routed, std::uint64_t content,
                    const routing::Target& t, const directory::Cpas& cpas, const std::string& event,
                    const v1::JournalEntry& routed_entry) {
    fired_.clear();
    alerts::evaluate(*ctx_.rules, alerts::Context{n, t.qualities, cpas.municipalities}, fired_);
    if (fired_.empty()) return;
    v1::JournalEntry j = routed_entry;  // copied only when a rule fired
    std::string topic = "cpas." + cpas.cbe + ".alerts.v1";
    out_.cpas_topics.insert(topic);
    const auto& env = n.envelope();
    auto today = validation::Date{static_cast<std::int32_t>(ctx_.now_us / 1000000 / 86400)};
    for (const auto* rule : fired_) {
      v1::Alert a;
      a.set_alert_id(alerts::alert_id(env.ticket(), content, cpas.cbe, rule->id));
      a.set_rule_id(rule->id);
      a.set_type(rule->alert_type);
      a.set_severity(std::string(alerts::severity_name(rule->severity)));
      fill_alert(a, n, event, cpas, t);
      a.set_deadline_days(rule->deadline_days);
      a.set_due_date(validation::to_string(validation::Date{today.days + rule->deadline_days}));
      a.set_description(rule->description);
      a.set_kind(std::string(kEarlySignal));
      emit_alert(a, topic, routed, j);
    }
  }

  // What every alert says of the notification and the CPAS that raised it.
  void fill_alert(v1::Alert& a, const v1::Notification& n, const std::string& event,
                  const directory::Cpas& cpas, const routing::Target& t) const {
    const auto& env = n.envelope();
    a.set_cpas_cbe(cpas.cbe);
    a.set_ssin(env.ssin());
    a.set_ticket(env.ticket());
    a.set_flow(n.flow());
    a.set_event(event);
    a.set_effective_date(env.effective_date());
    for (auto q : t.qualities) a.add_quality_codes(q);
    a.set_raised_at_us(ctx_.now_us);
  }

  // The alert record on cpas.<cbe>.alerts.v1 (the routed notification embedded) and its journal
  // entry.
  void emit_alert(const v1::Alert& a, const std::string& topic, const std::string& routed,
                  v1::JournalEntry& j) {
    OutRecord& o = out_.records.emplace_back();
    o.topic = topic;
    o.key = a.ssin();
    a.SerializeToString(&o.value);
    append_bytes_field(o.value, kAlertNotificationField, routed);
    o.headers = {{"ticket", a.ticket()},
                 {"alert-id", a.alert_id()},
                 {"alert-type", a.type()},
                 {"alert-kind", a.kind()},
                 {"content-type", "application/x-protobuf"}};
    ++out_.counts.alerts[{a.type(), a.cpas_cbe()}];
    j.set_kind(v1::JournalEntry::ALERT);
    j.set_reason(a.type());
    j.set_alert_id(a.alert_id());
    journal(j);
  }

  // An SPP IS clignotant: to the CPAS it names only, when an integration of that CPAS covers the
  // whole period concerned (the finality rule), as an alert of kind SPPIS_CLIGNOTANT on its
  // cpas.<cbe>.alerts.v1 (never as a notification, never to another CPAS). Otherwise dropped and
  // journaled. The alert id derives from SPP IS's identifier and the CPAS: the same clignotant
  // sent again (under any ticket) is the same alert, stored once.
  void clignotant(const InboundRecord& m, const v1::Notification& n, const std::string& flow,
                  const std::string& event, v1::JournalEntry& j) {
    const auto& c = n.sppis_clignotant();
    const routing::Target* target = nullptr;
    for (const auto& t : decision_.targets)
      if (ctx_.directory.cpas(t.cpas).cbe == c.cpas_cbe()) target = &t;
    if (target == nullptr) {
      std::string reason = decision_.targets.empty()
                               ? std::string(routing::reason_name(decision_.drop))
                               : std::string(kNamedCpasNotCovering);
      ++out_.counts.dropped[{flow, reason}];
      j.set_kind(v1::JournalEntry::DROPPED);
      j.set_cpas_cbe(c.cpas_cbe());
      j.set_reason(std::move(reason));
      return journal(j);
    }
    const auto& cpas = ctx_.directory.cpas(target->cpas);
    const std::string routed = routed_bytes(m, *target, cpas);
    ++routed_[{n.flow(), target->cpas}];
    j.set_kind(v1::JournalEntry::ROUTED);
    j.set_cpas_cbe(cpas.cbe);
    j.set_quality_code(target->integration.quality);
    journal(j);
    std::string topic = "cpas." + cpas.cbe + ".alerts.v1";
    out_.cpas_topics.insert(topic);
    v1::Alert a;
    a.set_alert_id(alerts::alert_id(c.sppis_id(), 0, cpas.cbe, kSppisRule));
    a.set_rule_id(std::string(kSppisRule));
    a.set_type(c.type_code());
    a.set_severity("high");
    a.set_kind(std::string(kSppisClignotant));
    a.set_sppis_id(c.sppis_id());
    fill_alert(a, n, event, cpas, *target);
    a.set_period_end(c.period_end());
    auto issued = validation::parse_iso_date(c.issued_date());
    auto deadline = validation::parse_iso_date(c.deadline_date());
    if (issued && deadline) a.set_deadline_days(deadline->days - issued->days);
    a.set_due_date(c.deadline_date());
    if (auto type = refdata::sppis_clignotant_type(c.type_code()))
      a.set_description(std::string(type->label));
    emit_alert(a, topic, routed, j);
    if (n.accepted_at_us() > 0)
      out_.end_to_end_seconds.push_back(static_cast<double>(ctx_.now_us - n.accepted_at_us()) /
                                        1e6);
  }

  // `base`, when given, is the notification's journal entry (ticket, SSIN, flow…).
  void dead_letter(const InboundRecord& m, const std::string& reason, const std::string& ticket,
                   const v1::JournalEntry* base) {
    v1::DeadLetter d;
    d.set_source_topic(std::string(m.topic));
    d.set_source_partition(m.partition);
    d.set_source_offset(m.offset);
    if (m.key) d.set_key(*m.key);
    d.set_value(m.value.data(), m.value.size());
    d.set_reason(reason);
    d.set_failed_at_us(ctx_.now_us);
    OutRecord& o = out_.records.emplace_back();
    o.topic = ctx_.topics.dlq;
    o.key = m.key ? *m.key : std::string{};
    d.SerializeToString(&o.value);
    o.headers = {{"reason", reason}, {"content-type", "application/x-protobuf"}};
    ++out_.counts.dead_letters[reason.substr(0, reason.find(':'))];
    v1::JournalEntry j;
    if (base) j = *base;
    j.set_at_us(ctx_.now_us);
    j.set_kind(v1::JournalEntry::DEAD_LETTER);
    const std::string source = source_of(m);
    j.set_ticket(ticket.empty() ? source : ticket);
    j.set_reason(reason);
    j.set_source(source);
    journal(j);
    out_.dead_letter_notes.push_back(source + ": " + reason);
  }

  // The entry serialized straight into the batch record's bytes (a JournalBatch is its entries,
  // each a length-delimited field 1): no message copy per entry.
  void journal(const v1::JournalEntry& j) {
    j.SerializeToString(&scratch_);
    append_bytes_field(journal_bytes_, kJournalBatchEntriesField, scratch_);
    if (++journal_entries_ >= kJournalPerRecord) flush_journal();
  }

  void add_ticket(std::int32_t partition, const Mark& mark) {
    auto& b = dedupe_[partition];
    b.add_ticket_hi(mark.ticket.hi);
    b.add_ticket_lo(mark.ticket.lo);
    b.add_ssin(mark.ssin);
    b.add_content_fp(mark.content);
    if (b.ticket_hi_size() >= kTicketsPerRecord) flush_dedupe(partition, b);
  }

  std::string batch_key(std::string_view what, int n) const {
    std::string k(kBatchKeyPrefix);
    k += origin_;
    k += '/';
    k += what;
    k += std::to_string(n);
    return k;
  }

  void flush_journal() {
    if (journal_entries_ == 0) return;
    OutRecord& o = out_.records.emplace_back();
    o.topic = ctx_.topics.journal;
    o.key = batch_key("j", journal_records_++);
    o.value = std::move(journal_bytes_);
    o.headers = {{"content-type", "application/x-protobuf; messageType=relais.v1.JournalBatch"}};
    journal_bytes_.clear();
    journal_entries_ = 0;
  }

  void flush_dedupe(std::int32_t partition, v1::DedupeBatch& b) {
    if (b.ticket_hi_size() == 0) return;
    b.set_processed_at_us(ctx_.now_us);
    OutRecord& o = out_.records.emplace_back();
    o.topic = ctx_.topics.dedupe;
    o.partition = partition;  // dedupe partition p holds the tickets of inbound partition p
    o.key = batch_key("d" + std::to_string(partition) + "-", dedupe_records_++);
    b.SerializeToString(&o.value);
    o.headers = {{"content-type", "application/x-protobuf; messageType=relais.v1.DedupeBatch"}};
    b.Clear();
  }

  const PlanContext& ctx_;
  Plan& out_;
  std::string origin_;  // "partition-offset" of the batch's first record
  DedupeSet in_batch_;  // processed earlier in this batch
  routing::Decision decision_;
  std::vector<const alerts::Rule*> fired_;
  std::string journal_bytes_;  // entries not yet in a record, as JournalBatch bytes
  int journal_entries_ = 0;
  std::string scratch_;
  std::map<std::int32_t, v1::DedupeBatch>
      dedupe_;  // tickets not yet in a record, by inbound partition
  int journal_records_ = 0, dedupe_records_ = 0;
  // Counted by number (flow, CPAS index, reason), named once in finish().
  std::map<std::pair<v1::Flow, std::uint16_t>, std::uint64_t> routed_;
  std::map<std::pair<v1::Flow, routing::DropReason>, std::uint64_t> dropped_;
};

}  // namespace

void Plan::clear() {
  records.clear();
  marks.clear();
  next_offsets.clear();
  cpas_topics.clear();
  end_to_end_seconds.clear();
  dead_letter_notes.clear();
  counts = {};
}

void plan(std::span<const InboundRecord> batch, const PlanContext& ctx, Plan& out) {
  out.clear();
  if (batch.empty()) return;
  Planner p(ctx, out,
            std::to_string(batch.front().partition) + "-" + std::to_string(batch.front().offset));
  for (const auto& m : batch) p.record(m);
  p.finish();
}

Plan plan(std::span<const InboundRecord> batch, const PlanContext& ctx) {
  Plan out;
  plan(batch, ctx, out);
  return out;
}

}  // namespace relais::router
