#include "relais/fingerprint/fingerprint.hpp"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include <memory>

#include "relais/codec/flow.hpp"
#include "relais/fingerprint/sha256.hpp"

namespace relais::fingerprint {

namespace {
std::uint64_t hash_of(const std::string& bytes) {
  const auto h = sha256(bytes);
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | h[i];
  return v;
}

std::string prefix(const v1::Notification& n) {
  std::string bytes = "relais-content/1\n";
  bytes += std::to_string(static_cast<int>(n.flow()));
  bytes += '\n';
  return bytes;
}

// The body's deterministic bytes with the transport fields (1 ticket, 5 sent_at, 6 source_file_id,
// 7 sequence_number) taken out for the time of the serialization and put back: the same bytes
// as a cleared copy, without copying the body.
template <typename Body>
void append_without_transport(Body& b, std::string& bytes) {
  std::string ticket, sent_at, file;
  ticket.swap(*b.mutable_ticket());
  sent_at.swap(*b.mutable_sent_at());
  file.swap(*b.mutable_source_file_id());
  const auto seq = b.sequence_number();
  b.set_sequence_number(0);
  {
    google::protobuf::io::StringOutputStream out(&bytes);
    google::protobuf::io::CodedOutputStream coded(&out);
    coded.SetSerializationDeterministic(true);
    b.SerializeToCodedStream(&coded);
  }
  b.mutable_ticket()->swap(ticket);
  b.mutable_sent_at()->swap(sent_at);
  b.mutable_source_file_id()->swap(file);
  b.set_sequence_number(seq);
}
}  // namespace

std::uint64_t content(v1::Notification& n) {
  std::string bytes = prefix(n);
  switch (n.body_case()) {
    case v1::Notification::kNotifyPerson:
      append_without_transport(*n.mutable_notify_person(), bytes);
      break;
    case v1::Notification::kNotifyFamilyComposition:
      append_without_transport(*n.mutable_notify_family_composition(), bytes);
      break;
    case v1::Notification::kPensionRegisterMutation:
      append_without_transport(*n.mutable_pension_register_mutation(), bytes);
      break;
    case v1::Notification::kPersonnelFile:
      append_without_transport(*n.mutable_personnel_file(), bytes);
      break;
    case v1::Notification::kSelfEmployedCareer:
      append_without_transport(*n.mutable_self_employed_career(), bytes);
      break;
    case v1::Notification::kEcarmedCalculation:
      append_without_transport(*n.mutable_ecarmed_calculation(), bytes);
      break;
    case v1::Notification::kSppisClignotant:
      append_without_transport(*n.mutable_sppis_clignotant(), bytes);
      break;
    case v1::Notification::BODY_NOT_SET:
      return content(static_cast<const v1::Notification&>(n));
  }
  return hash_of(bytes);
}

std::uint64_t content(const v1::Notification& n) {
  std::string bytes = prefix(n);
  if (const auto* body = codec::body(n)) {
    std::unique_ptr<google::protobuf::Message> b(body->New());
    b->CopyFrom(*body);
    // Envelope field numbers, the same in every flow message: ticket, sent_at,
    // source_file_id, sequence_number.
    const auto* d = b->GetDescriptor();
    const auto* r = b->GetReflection();
    for (int number : {1, 5, 6, 7})
      if (const auto* f = d->FindFieldByNumber(number)) r->ClearField(b.get(), f);
    google::protobuf::io::StringOutputStream out(&bytes);
    google::protobuf::io::CodedOutputStream coded(&out);
    coded.SetSerializationDeterministic(true);
    b->SerializeToCodedStream(&coded);
  }
  return hash_of(bytes);
}

}  // namespace relais::fingerprint
