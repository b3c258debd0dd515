#include "relais/fingerprint/fingerprint.hpp"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <openssl/sha.h>

#include <memory>

#include "relais/codec/flow.hpp"

namespace relais::fingerprint {

std::uint64_t content(const v1::Notification& n) {
  std::string bytes = "relais-content/1\n";
  bytes += std::to_string(static_cast<int>(n.flow()));
  bytes += '\n';
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
  unsigned char h[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), h);
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | h[i];
  return v;
}

}  // namespace relais::fingerprint
