// JSON output: protobuf messages for APIs and tools, errors for HTTP answers.
#pragma once

#include <google/protobuf/message.h>

#include <boost/json/value.hpp>
#include <string>

#include "relais/validation/error.hpp"

namespace relais::codec {

// The protobuf JSON mapping with the proto field names (snake_case), enums by name, 64-bit
// integers as strings, default values omitted. Empty string if protobuf refuses the message.
std::string to_json(const google::protobuf::Message& message);

// {"code": ..., "message": ..., "field": ...} (field always present, "" when none).
boost::json::value error_value(const validation::Error& error);
std::string error_json(const validation::Error& error);

}  // namespace relais::codec
