// Realistic, valid notifications of every flow, for tests, demo generators and benchmarks.
#pragma once

#include <string>

#include "relais/v1/records.pb.h"

namespace relais::codec {

// A notification of `flow` that passes validation::validate() when `ticket` is a UUID, `ssin`
// a valid SSIN and `effective_date` a YYYY-MM-DD date (from 1800-01-01 to 2199-11-30).
// Events: ADDRESS_CHANGE, COMPOSITION_CHANGED, RIGHT_GRANTED, DIMONA_IN, CAREER_STARTED,
// CALCULATION_CREATED. They carry the source codes (NR country 150, IT020 with a raw value,
// FamilyRole codes, DIMONA OTH, an NSSO number) and what Relais derives from them, so
// validation::complete leaves them unchanged. The body's dates follow effective_date; sent_at is
// effective_date at 06:00Z; n.envelope is filled. A non-flow value gives a Notification with flow
// and body unset.
relais::v1::Notification sample_notification(relais::v1::Flow flow, std::string ticket,
                                             std::string ssin, std::string effective_date);

// The same body as the JSON a BCSS push would carry (proto field names).
std::string sample_json(relais::v1::Flow flow, std::string ticket, std::string ssin,
                        std::string effective_date);

// The same body as serialized protobuf (the application/x-protobuf form).
std::string sample_protobuf(relais::v1::Flow flow, std::string ticket, std::string ssin,
                            std::string effective_date);

}  // namespace relais::codec
