// The content fingerprint of a notification: what tells an exact re-post of a
// ticket from the same ticket reused for other content (relais-ingest inside a
// batch, relais-router across everything it processed).
#pragma once

#include <cstdint>

#include "relais/v1/records.pb.h"

namespace relais::fingerprint {

// The first 64 bits (big-endian) of SHA-256 over the flow and the body's
// deterministic protobuf bytes, with the ticket (deduplication compares it
// apart, in any case) and the transport fields cleared: sent_at,
// source_file_id and sequence_number describe a delivery, not the event (a
// re-sent message may carry new ones), and the Notification's accepted_at_us
// and envelope copy are not read. Every other field counts, the SSIN included.
// Stable across processes and versions (it is stored in relais.dedupe.v1 and
// names alerts). A notification without a body gives the hash of the flow alone.
std::uint64_t content(const v1::Notification& n);
// The same value, without copying the body: the transport fields are taken out of `n` for the
// time of the serialization and put back (n is unchanged when it returns; not thread-safe on n).
std::uint64_t content(v1::Notification& n);

}  // namespace relais::fingerprint
