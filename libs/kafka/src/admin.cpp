#include "relais/kafka/admin.hpp"

#include <librdkafka/rdkafka.h>

#include <set>
#include <tuple>

namespace relais::kafka {
namespace {

int ms(std::chrono::milliseconds t) {
  return static_cast<int>(t.count());
}

Error err_of(rd_kafka_resp_err_t e, const char* what) {
  return make_error(static_cast<int>(e), std::string(what) + ": " + rd_kafka_err2str(e));
}

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

struct PartList {
  rd_kafka_topic_partition_list_t* p;
  explicit PartList(int n) : p(rd_kafka_topic_partition_list_new(n)) {}
  ~PartList() { rd_kafka_topic_partition_list_destroy(p); }
  PartList(const PartList&) = delete;
  PartList& operator=(const PartList&) = delete;
};

struct Options {
  rd_kafka_AdminOptions_t* o;
  Options(rd_kafka_t* rk, rd_kafka_admin_op_t op, std::chrono::milliseconds timeout)
      : o(rd_kafka_AdminOptions_new(rk, op)) {
    char errstr[256];
    rd_kafka_AdminOptions_set_request_timeout(o, ms(timeout), errstr, sizeof errstr);
  }
  ~Options() { rd_kafka_AdminOptions_destroy(o); }
  Options(const Options&) = delete;
  Options& operator=(const Options&) = delete;
};

struct Event {
  rd_kafka_event_t* e;
  explicit Event(rd_kafka_event_t* ev) : e(ev) {}
  ~Event() {
    if (e) rd_kafka_event_destroy(e);
  }
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
};

}  // namespace

struct Admin::Impl {
  rd_kafka_t* rk = nullptr;
  rd_kafka_queue_t* q = nullptr;
  ~Impl() {
    if (q) rd_kafka_queue_destroy(q);
    if (rk) {
      rd_kafka_consumer_close(rk);
      rd_kafka_destroy(rk);
    }
  }
  // The next admin result, or an error after the deadline.
  rd_kafka_event_t* wait(std::chrono::milliseconds timeout) const {
    return rd_kafka_queue_poll(q, ms(timeout) + 1000);
  }
};

std::unique_ptr<Admin> Admin::create(const Settings& settings, const std::string& group_id,
                                     std::string& error) {
  char errstr[512];
  rd_kafka_conf_t* c = rd_kafka_conf_new();
  Settings all = settings;
  all["group.id"] = group_id;
  all["enable.auto.commit"] = "false";
  all["enable.auto.offset.store"] = "false";
  all["enable.partition.eof"] = "true";
  all["isolation.level"] = "read_committed";
  all["auto.offset.reset"] = "earliest";
  // The fetch is for one record's timestamp per partition: keep what comes with it small.
  all.try_emplace("max.partition.fetch.bytes", "4096");
  all.try_emplace("queued.max.messages.kbytes", "1024");
  for (const auto& [k, v] : all) {
    if (rd_kafka_conf_set(c, k.c_str(), v.c_str(), errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(c);
      error = "kafka setting " + k + ": " + errstr;
      return nullptr;
    }
  }
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, errstr, sizeof errstr);
  if (!rk) {
    error = std::string("cannot create the admin client: ") + errstr;
    return nullptr;
  }
  std::unique_ptr<Admin> a(new Admin());
  a->impl_ = std::make_unique<Impl>();
  a->impl_->rk = rk;
  rd_kafka_poll_set_consumer(rk);
  a->impl_->q = rd_kafka_queue_new(rk);
  return a;
}

Admin::~Admin() = default;

Error Admin::topics(std::string_view prefix, std::map<std::string, int>& out,
                    std::chrono::milliseconds timeout) {
  const rd_kafka_metadata_t* md = nullptr;
  ++requests_;
  auto e = rd_kafka_metadata(impl_->rk, 1, nullptr, &md, ms(timeout));
  if (e != RD_KAFKA_RESP_ERR_NO_ERROR) return err_of(e, "metadata");
  for (int i = 0; i < md->topic_cnt; ++i) {
    const auto& t = md->topics[i];
    if (t.err == RD_KAFKA_RESP_ERR_NO_ERROR && starts_with(t.topic, prefix))
      out[t.topic] = t.partition_cnt;
  }
  rd_kafka_metadata_destroy(md);
  return {};
}

Error Admin::groups(std::string_view prefix, std::vector<GroupListing>& out,
                    std::chrono::milliseconds timeout) {
  Options opts(impl_->rk, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPS, timeout);
  ++requests_;
  rd_kafka_ListConsumerGroups(impl_->rk, opts.o, impl_->q);
  Event ev(impl_->wait(timeout));
  if (!ev.e) return make_error(static_cast<int>(RD_KAFKA_RESP_ERR__TIMED_OUT), "list groups");
  if (auto e = rd_kafka_event_error(ev.e))
    return make_error(static_cast<int>(e),
                      std::string("list groups: ") + rd_kafka_event_error_string(ev.e));
  const auto* res = rd_kafka_event_ListConsumerGroups_result(ev.e);
  size_t n = 0;
  const auto** valid = rd_kafka_ListConsumerGroups_result_valid(res, &n);
  for (size_t i = 0; i < n; ++i) {
    std::string id = rd_kafka_ConsumerGroupListing_group_id(valid[i]);
    if (!starts_with(id, prefix)) continue;
    auto st = rd_kafka_ConsumerGroupListing_state(valid[i]);
    GroupListing g;
    g.group = std::move(id);
    g.state = rd_kafka_consumer_group_state_name(st);
    g.has_members = st == RD_KAFKA_CONSUMER_GROUP_STATE_STABLE ||
                    st == RD_KAFKA_CONSUMER_GROUP_STATE_PREPARING_REBALANCE ||
                    st == RD_KAFKA_CONSUMER_GROUP_STATE_COMPLETING_REBALANCE;
    out.push_back(std::move(g));
  }
  size_t ne = 0;
  const auto** errs = rd_kafka_ListConsumerGroups_result_errors(res, &ne);
  if (ne > 0)
    return make_error(static_cast<int>(rd_kafka_error_code(errs[0])),
                      std::string("list groups (partial): ") + rd_kafka_error_string(errs[0]));
  return {};
}

Error Admin::committed(const std::vector<std::string>& groups,
                       std::map<std::string, TopicPartitions>& out,
                       std::chrono::milliseconds timeout) {
  if (groups.empty()) return {};
  Options opts(impl_->rk, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS, timeout);
  for (const auto& g : groups) {
    rd_kafka_ListConsumerGroupOffsets_t* req =
        rd_kafka_ListConsumerGroupOffsets_new(g.c_str(), nullptr);
    ++requests_;
    rd_kafka_ListConsumerGroupOffsets(impl_->rk, &req, 1, opts.o, impl_->q);
    rd_kafka_ListConsumerGroupOffsets_destroy(req);
  }
  Error first;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (std::size_t answered = 0; answered < groups.size(); ++answered) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    Event ev(impl_->wait(std::max(left, std::chrono::milliseconds(0))));
    if (!ev.e) {
      return make_error(static_cast<int>(RD_KAFKA_RESP_ERR__TIMED_OUT), "committed offsets");
    }
    if (auto e = rd_kafka_event_error(ev.e)) {
      if (!first)
        first = make_error(static_cast<int>(e),
                           std::string("committed offsets: ") + rd_kafka_event_error_string(ev.e));
      continue;
    }
    const auto* res = rd_kafka_event_ListConsumerGroupOffsets_result(ev.e);
    size_t n = 0;
    const auto** grs = rd_kafka_ListConsumerGroupOffsets_result_groups(res, &n);
    for (size_t i = 0; i < n; ++i) {
      if (const auto* ge = rd_kafka_group_result_error(grs[i])) {
        if (!first)
          first = make_error(static_cast<int>(rd_kafka_error_code(ge)),
                             std::string("committed offsets: ") + rd_kafka_error_string(ge));
        continue;
      }
      auto& parts = out[rd_kafka_group_result_name(grs[i])];
      const auto* pl = rd_kafka_group_result_partitions(grs[i]);
      for (int j = 0; pl && j < pl->cnt; ++j) {
        const auto& tp = pl->elems[j];
        if (tp.err == RD_KAFKA_RESP_ERR_NO_ERROR)
          parts.push_back({tp.topic, tp.partition, tp.offset});
      }
    }
  }
  return first;
}

Error Admin::watermarks(const TopicPartitions& parts, std::vector<PartitionWatermarks>& out,
                        std::chrono::milliseconds timeout) {
  if (parts.empty()) return {};
  std::set<std::pair<std::string, std::int32_t>> unique;
  for (const auto& tp : parts) unique.insert({tp.topic, tp.partition});
  PartList start(static_cast<int>(unique.size())), end(static_cast<int>(unique.size()));
  for (const auto& [t, p] : unique) {
    rd_kafka_topic_partition_list_add(start.p, t.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_topic_partition_list_add(end.p, t.c_str(), p)->offset = RD_KAFKA_OFFSET_END;
  }
  requests_ += 2;
  // Timestamps -2 and -1 ask ListOffsets for the earliest and latest offsets, batched per leader.
  if (auto e = rd_kafka_offsets_for_times(impl_->rk, start.p, ms(timeout)))
    return err_of(e, "log start offsets");
  if (auto e = rd_kafka_offsets_for_times(impl_->rk, end.p, ms(timeout)))
    return err_of(e, "end offsets");
  for (int i = 0; i < start.p->cnt; ++i) {
    const auto& s = start.p->elems[i];
    const auto& e = end.p->elems[i];
    if (s.err || e.err) continue;
    out.push_back({s.topic, s.partition, s.offset, e.offset});
  }
  return {};
}

Error Admin::retention_ms(const std::vector<std::string>& topics,
                          std::map<std::string, std::int64_t>& out,
                          std::chrono::milliseconds timeout) {
  if (topics.empty()) return {};
  std::vector<rd_kafka_ConfigResource_t*> res;
  res.reserve(topics.size());
  for (const auto& t : topics) {
    auto* r = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, t.c_str());
    res.push_back(r);
  }
  Options opts(impl_->rk, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS, timeout);
  ++requests_;
  rd_kafka_DescribeConfigs(impl_->rk, res.data(), res.size(), opts.o, impl_->q);
  rd_kafka_ConfigResource_destroy_array(res.data(), res.size());
  Event ev(impl_->wait(timeout));
  if (!ev.e) return make_error(static_cast<int>(RD_KAFKA_RESP_ERR__TIMED_OUT), "describe configs");
  if (auto e = rd_kafka_event_error(ev.e))
    return make_error(static_cast<int>(e),
                      std::string("describe configs: ") + rd_kafka_event_error_string(ev.e));
  const auto* result = rd_kafka_event_DescribeConfigs_result(ev.e);
  size_t n = 0;
  const auto** rs = rd_kafka_DescribeConfigs_result_resources(result, &n);
  for (size_t i = 0; i < n; ++i) {
    if (rd_kafka_ConfigResource_error(rs[i])) continue;
    size_t nc = 0;
    const auto** entries = rd_kafka_ConfigResource_configs(rs[i], &nc);
    for (size_t j = 0; j < nc; ++j) {
      if (std::string_view(rd_kafka_ConfigEntry_name(entries[j])) != "retention.ms") continue;
      const char* v = rd_kafka_ConfigEntry_value(entries[j]);
      if (v) out[rd_kafka_ConfigResource_name(rs[i])] = std::stoll(v);
    }
  }
  return {};
}

Error Admin::first_records(const TopicPartitions& from, std::vector<FirstRecord>& out,
                           std::chrono::milliseconds timeout) {
  // An assignment holds one offset per partition: groups at different offsets of the same
  // partition are answered in successive rounds (as many as the most groups on one partition).
  std::vector<TopicPartitions> rounds;
  std::map<std::pair<std::string, std::int32_t>, std::size_t> seen;
  std::set<std::tuple<std::string, std::int32_t, std::int64_t>> unique;
  for (const auto& tp : from) {
    if (!unique.insert({tp.topic, tp.partition, tp.offset}).second) continue;
    std::size_t r = seen[{tp.topic, tp.partition}]++;
    if (rounds.size() <= r) rounds.resize(r + 1);
    rounds[r].push_back(tp);
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  Error error;
  for (const auto& round : rounds) {
    auto e = fetch_round(round, out, deadline);
    if (e && !error) error = e;
  }
  return error;
}

Error Admin::fetch_round(const TopicPartitions& from, std::vector<FirstRecord>& out,
                         std::chrono::steady_clock::time_point deadline) {
  PartList assignment(static_cast<int>(from.size()));
  std::map<std::pair<std::string, std::int32_t>, std::int64_t> waiting;
  for (const auto& tp : from) {
    waiting.emplace(std::pair{tp.topic, tp.partition}, tp.offset);
    rd_kafka_topic_partition_list_add(assignment.p, tp.topic.c_str(), tp.partition)->offset =
        tp.offset;
  }
  ++requests_;
  if (auto e = rd_kafka_assign(impl_->rk, assignment.p)) return err_of(e, "assign");
  Error error;
  while (!waiting.empty() && std::chrono::steady_clock::now() < deadline) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(impl_->rk, 100);
    if (!m) continue;
    std::unique_ptr<rd_kafka_message_t, void (*)(rd_kafka_message_t*)> held(
        m, rd_kafka_message_destroy);
    if (!m->rkt) {
      if (m->err && !error) error = err_of(m->err, "fetch");
      continue;
    }
    auto it = waiting.find({rd_kafka_topic_name(m->rkt), m->partition});
    if (it == waiting.end()) continue;  // a later record of a partition already answered
    FirstRecord r{it->first.first, it->first.second, it->second};
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      r.at_end = true;
    } else if (m->err) {
      if (!error) error = err_of(m->err, "fetch");
      continue;
    } else {
      rd_kafka_timestamp_type_t type = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE;
      r.offset = m->offset;
      r.timestamp_ms = rd_kafka_message_timestamp(m, &type);
    }
    out.push_back(std::move(r));
    waiting.erase(it);
  }
  rd_kafka_assign(impl_->rk, nullptr);
  return error;
}

}  // namespace relais::kafka
