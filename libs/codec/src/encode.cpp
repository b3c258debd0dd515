#include "relais/codec/encode.hpp"

#include <google/protobuf/util/json_util.h>

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

namespace relais::codec {

std::string to_json(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  std::string out;
  if (!google::protobuf::util::MessageToJsonString(message, &out, options).ok()) return {};
  return out;
}

boost::json::value error_value(const validation::Error& error) {
  return boost::json::object{
      {"code", error.code},
      {"message", error.message},
      {"field", error.field},
  };
}

std::string error_json(const validation::Error& error) {
  return boost::json::serialize(error_value(error));
}

}  // namespace relais::codec
