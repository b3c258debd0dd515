#include "relais/router/journal_rows.hpp"

#include <algorithm>

namespace relais::router {
namespace {
using K = v1::JournalEntry;

// The columns every entry of one notification's journal shares (the plan sets them once).
bool same_notification(const K& a, const K& b) {
  return a.at_us() == b.at_us() && a.ticket() == b.ticket() && a.ssin() == b.ssin() &&
         a.flow() == b.flow() && a.event() == b.event() &&
         a.effective_date() == b.effective_date() && a.accepted_at_us() == b.accepted_at_us() &&
         a.source() == b.source();
}
}  // namespace

bool acceptance_folds_into(const K& e, const K& outcome) {
  return e.kind() == K::ACCEPTED && e.cpas_cbe().empty() && e.quality_code() == 0 &&
         e.reason().empty() && e.alert_id().empty() &&
         (outcome.kind() == K::ROUTED || outcome.kind() == K::DROPPED) &&
         outcome.alert_id().empty() && same_notification(e, outcome);
}

bool alert_folds_into(const K& e, const K& routed) {
  return e.kind() == K::ALERT && routed.kind() == K::ROUTED && !e.alert_id().empty() &&
         !e.reason().empty() && routed.alert_id().empty() && e.cpas_cbe() == routed.cpas_cbe() &&
         e.quality_code() == routed.quality_code() && same_notification(e, routed);
}

void fold_journal(const google::protobuf::RepeatedPtrField<K>& entries,
                  std::vector<JournalRow>& out) {
  const std::size_t first = out.size();
  for (int i = 0; i < entries.size(); ++i) {
    const K& e = entries[i];
    if (i + 1 < entries.size() && acceptance_folds_into(e, entries[i + 1])) {
      out.push_back({&entries[++i], true, {}});
      continue;
    }
    if (out.size() > first && alert_folds_into(e, *out.back().entry)) {
      out.back().alerts.push_back(&e);
      continue;
    }
    out.push_back({&e, false, {}});
  }
}

std::vector<std::size_t> copy_order(const std::vector<JournalRow>& rows) {
  std::vector<std::size_t> order(rows.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    const auto& x = *rows[a].entry;
    const auto& y = *rows[b].entry;
    if (x.cpas_cbe() != y.cpas_cbe()) return x.cpas_cbe() < y.cpas_cbe();
    return x.at_us() < y.at_us();
  });
  return order;
}

}  // namespace relais::router

namespace relais::router {

JournalMarks mark_journal(const std::vector<MarkedRecord>& records,
                          const std::map<std::int32_t, std::int64_t>& recorded) {
  JournalMarks out;
  out.fate.reserve(records.size());
  out.next = recorded;  // then the running mark of each partition, record after record
  for (const auto& r : records) {
    auto rec = recorded.find(r.partition);
    const bool unmarked = rec == recorded.end() || rec->second == kNoMark;
    auto& next = out.next.try_emplace(r.partition, kNoMark).first->second;
    // Below the running mark: held by PostgreSQL, or read already in this batch (a consumer
    // fetches a partition again from its committed offset after a rebalance, and the batch
    // then holds the same records twice).
    if (next != kNoMark && r.offset < next) {
      out.fate.push_back(RecordFate::skip);
      ++out.skipped;
      continue;
    }
    out.fate.push_back(unmarked ? RecordFate::unchecked : RecordFate::fresh);
    next = r.offset + 1;
  }
  return out;
}

}  // namespace relais::router
