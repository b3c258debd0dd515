#include "relais/codec/decode.hpp"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <google/protobuf/unknown_field_set.h>

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/error.hpp>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "relais/codec/flow.hpp"
#include "relais/validation/text.hpp"

namespace relais::codec {
namespace {

namespace pb = google::protobuf;
namespace json = boost::json;
using validation::Error;
using validation::make_error;
namespace code = validation::code;

constexpr std::size_t kMaxNameInError = 128;

// `s` made safe to echo in an error message (validation/text.hpp: invalid bytes and controls
// replaced, cut on a character boundary to kMaxNameInError bytes).
std::string clip(std::string_view s) {
  return validation::sanitize_text(s, kMaxNameInError);
}

// The field of `d` with proto name `key`, else with JSON (lowerCamel) name `key`; nullptr when
// none. A scan: a flow message has a few dozen fields, and it needs no std::string per key as
// Descriptor::FindFieldByName does (that lookup was a twentieth of relais-ingest's CPU).
const pb::FieldDescriptor* field_named(const pb::Descriptor* d, std::string_view key) {
  const int n = d->field_count();
  for (int i = 0; i < n; ++i)
    if (d->field(i)->name() == key) return d->field(i);
  for (int i = 0; i < n; ++i)
    if (d->field(i)->json_name() == key) return d->field(i);
  return nullptr;
}

const char* expected(const pb::FieldDescriptor* f) {
  if (f->is_map()) return "a map (not supported)";
  switch (f->cpp_type()) {
    case pb::FieldDescriptor::CPPTYPE_STRING:
      return f->type() == pb::FieldDescriptor::TYPE_BYTES ? "a base64 string" : "a string";
    case pb::FieldDescriptor::CPPTYPE_ENUM:
      return "an enum value name";
    case pb::FieldDescriptor::CPPTYPE_MESSAGE:
      return "an object";
    case pb::FieldDescriptor::CPPTYPE_BOOL:
      return "a boolean";
    case pb::FieldDescriptor::CPPTYPE_DOUBLE:
    case pb::FieldDescriptor::CPPTYPE_FLOAT:
      return "a number";
    default:
      return "an integer";
  }
}

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+' || c == '-') return 62;
  if (c == '/' || c == '_') return 63;
  return -1;
}

// Standard or URL-safe alphabet, padding optional (as the protobuf JSON mapping allows).
bool base64_decode(std::string_view in, std::string& out) {
  while (!in.empty() && in.back() == '=') in.remove_suffix(1);
  if (in.size() % 4 == 1) return false;
  out.clear();
  out.reserve(in.size() * 3 / 4);
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    const int v = base64_value(c);
    if (v < 0) return false;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  return true;
}

// SAX handler for boost::json::basic_parser that fills a protobuf message through reflection.
// Semantic problems (unknown key, wrong type, ...) are recorded once and the rest of the document
// is still parsed, so that syntax errors are reported in preference and the answer does not
// depend on where in a malformed document the first semantic problem sits.
class Filler {
 public:
  static constexpr std::size_t max_array_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_object_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_string_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_key_size = static_cast<std::size_t>(-1);

  explicit Filler(pb::Message* root) : root_(root) {}

  const std::optional<Error>& error() const { return error_; }

  bool on_document_begin(json::error_code&) { return true; }
  bool on_document_end(json::error_code&) { return true; }
  bool on_comment_part(json::string_view, json::error_code&) { return true; }
  bool on_comment(json::string_view, json::error_code&) { return true; }

  bool on_object_begin(json::error_code&) {
    if (error_) return true;
    if (depth_ == 0) {
      push(root_, nullptr, nullptr, -1);
      return true;
    }
    Target t;
    if (!target(t)) return true;
    if (t.field->cpp_type() != pb::FieldDescriptor::CPPTYPE_MESSAGE || t.field->is_map()) {
      return wrong_type(t);
    }
    Frame& parent = top();
    const pb::Reflection* r = parent.msg->GetReflection();
    if (t.repeated) {
      push(r->AddMessage(parent.msg, t.field), nullptr, t.field, t.index);
    } else {
      push(r->MutableMessage(parent.msg, t.field), nullptr, t.field, -1);
    }
    return true;
  }

  bool on_object_end(std::size_t, json::error_code&) {
    if (error_) return true;
    --depth_;
    return true;
  }

  bool on_array_begin(json::error_code&) {
    if (error_) return true;
    if (depth_ == 0) return fail(code::kWrongType, "the body must be a JSON object", "");
    if (top().array_field != nullptr) {
      return fail(code::kWrongType, "nested arrays are not part of the schema",
                  path(top().array_field, current_index()));
    }
    const pb::FieldDescriptor* f = pending_;
    pending_ = nullptr;
    if (f == nullptr) return fail(code::kMalformedJson, "value without a key", prefix());
    if (!f->is_repeated() || f->is_map()) {
      return fail(code::kWrongType, std::string("expected ") + expected(f), path(f, -1));
    }
    push(top().msg, f, f, -1);
    return true;
  }

  bool on_array_end(std::size_t, json::error_code&) {
    if (error_) return true;
    --depth_;
    return true;
  }

  bool on_key_part(json::string_view s, std::size_t, json::error_code&) {
    if (!error_) key_.append(s.data(), s.size());
    return true;
  }

  bool on_key(json::string_view s, std::size_t, json::error_code&) {
    if (error_) return true;
    std::string_view key(s.data(), s.size());
    if (!key_.empty()) {
      key_.append(s.data(), s.size());
      key = key_;
    }
    Frame& f = top();
    const pb::Descriptor* d = f.msg->GetDescriptor();
    const pb::FieldDescriptor* field = field_named(d, key);
    if (field == nullptr) {
      std::string name = prefix();
      name.append(clip(key));
      key_.clear();
      return fail(code::kUnknownField, "unknown field", std::move(name));
    }
    key_.clear();
    const auto idx = static_cast<std::size_t>(field->index());
    if (f.seen[idx]) {
      return fail(code::kMalformedJson, "field given twice (duplicate key)", path(field, -1));
    }
    f.seen[idx] = true;
    pending_ = field;
    return true;
  }

  bool on_string_part(json::string_view s, std::size_t, json::error_code&) {
    if (!error_) str_.append(s.data(), s.size());
    return true;
  }

  bool on_string(json::string_view s, std::size_t, json::error_code&) {
    if (error_) return true;
    std::string_view value(s.data(), s.size());
    if (!str_.empty()) {
      str_.append(s.data(), s.size());
      value = str_;
    }
    set_string(value);
    str_.clear();
    return true;
  }

  bool on_number_part(json::string_view, json::error_code&) { return true; }

  bool on_int64(std::int64_t v, json::string_view, json::error_code&) {
    if (error_) return true;
    Target t;
    if (target(t)) set_signed(t, v);
    return true;
  }

  bool on_uint64(std::uint64_t v, json::string_view, json::error_code&) {
    if (error_) return true;
    Target t;
    if (target(t)) set_unsigned(t, v);
    return true;
  }

  bool on_double(double v, json::string_view, json::error_code&) {
    if (error_) return true;
    Target t;
    if (!target(t)) return true;
    const auto type = t.field->cpp_type();
    if (type == pb::FieldDescriptor::CPPTYPE_DOUBLE || type == pb::FieldDescriptor::CPPTYPE_FLOAT) {
      return set_floating(t, v);
    }
    // 1.0 or 1e3 for an integer field: fine when exact.
    constexpr double kExact = 9007199254740992.0;  // 2^53
    if (std::trunc(v) == v && std::fabs(v) <= kExact) {
      set_signed(t, static_cast<std::int64_t>(v));
      return true;
    }
    return wrong_type(t);
  }

  bool on_bool(bool v, json::error_code&) {
    if (error_) return true;
    Target t;
    if (!target(t)) return true;
    if (t.field->cpp_type() != pb::FieldDescriptor::CPPTYPE_BOOL) return wrong_type(t);
    const pb::Reflection* r = top().msg->GetReflection();
    t.repeated ? r->AddBool(top().msg, t.field, v) : r->SetBool(top().msg, t.field, v);
    return true;
  }

  bool on_null(json::error_code&) {
    if (error_) return true;
    if (depth_ == 0) return fail(code::kWrongType, "the body must be a JSON object", "");
    if (top().array_field != nullptr) {
      return fail(code::kWrongType, "null is not allowed in an array",
                  path(top().array_field, current_index()));
    }
    pending_ = nullptr;  // not set
    return true;
  }

 private:
  struct Frame {
    pb::Message* msg = nullptr;
    const pb::FieldDescriptor* array_field = nullptr;  // set: this frame is that field's array
    const pb::FieldDescriptor* via = nullptr;          // field of the parent holding msg
    int index = -1;                                    // position in `via` when repeated
    std::vector<bool> seen;                            // by field index, object frames only
  };

  // Where the next value goes.
  struct Target {
    const pb::FieldDescriptor* field = nullptr;
    bool repeated = false;  // add to the repeated field rather than set
    int index = -1;         // for repeated: the index the value will take
  };

  Frame& top() { return frames_[depth_ - 1]; }

  void push(pb::Message* msg, const pb::FieldDescriptor* array_field,
            const pb::FieldDescriptor* via, int index) {
    if (depth_ == frames_.size()) frames_.emplace_back();
    Frame& f = frames_[depth_++];
    f.msg = msg;
    f.array_field = array_field;
    f.via = via;
    f.index = index;
    if (array_field == nullptr) {
      f.seen.assign(static_cast<std::size_t>(msg->GetDescriptor()->field_count()), false);
    }
  }

  int current_index() {
    Frame& f = top();
    return f.msg->GetReflection()->FieldSize(*f.msg, f.array_field);
  }

  // The value position: the pending key of an object, or the next element of an array.
  bool target(Target& t) {
    if (depth_ == 0) {
      fail(code::kWrongType, "the body must be a JSON object", "");
      return false;
    }
    Frame& f = top();
    if (f.array_field != nullptr) {
      t.field = f.array_field;
      t.repeated = true;
      t.index = current_index();
      return true;
    }
    t.field = pending_;
    pending_ = nullptr;
    if (t.field == nullptr) {
      fail(code::kMalformedJson, "value without a key", prefix());
      return false;
    }
    if (t.field->is_repeated()) {
      fail(code::kWrongType, "expected an array", path(t.field, -1));
      return false;
    }
    return true;
  }

  // JSON path of the message being filled, with a trailing '.' unless it is the root.
  std::string prefix() const {
    std::string p;
    for (std::size_t i = 1; i < depth_; ++i) {
      const Frame& f = frames_[i];
      if (f.array_field != nullptr) continue;
      p.append(f.via->name());
      if (f.index >= 0) p.append("[").append(std::to_string(f.index)).append("]");
      p.push_back('.');
    }
    return p;
  }

  std::string path(const pb::FieldDescriptor* f, int index) const {
    std::string p = prefix();
    p.append(f->name());
    if (index >= 0) p.append("[").append(std::to_string(index)).append("]");
    return p;
  }

  // Records the first problem; returns true so that the parser goes on checking the syntax.
  bool fail(std::string_view c, std::string message, std::string field) {
    if (!error_) error_ = make_error(c, std::move(message), std::move(field));
    return true;
  }

  bool wrong_type(const Target& t) {
    return fail(code::kWrongType, std::string("expected ") + expected(t.field),
                path(t.field, t.repeated ? t.index : -1));
  }

  bool invalid_enum(const Target& t, std::string_view what) {
    std::string message = "not a " + t.field->enum_type()->name() + " value: ";
    message.append(clip(what));
    return fail(code::kInvalidEnum, std::move(message), path(t.field, t.repeated ? t.index : -1));
  }

  bool out_of_range(const Target& t) {
    return fail(code::kWrongType, "integer out of range for this field",
                path(t.field, t.repeated ? t.index : -1));
  }

  bool set_enum(const Target& t, int number) {
    pb::Message* m = top().msg;
    const pb::Reflection* r = m->GetReflection();
    t.repeated ? r->AddEnumValue(m, t.field, number) : r->SetEnumValue(m, t.field, number);
    return true;
  }

  bool set_floating(const Target& t, double v) {
    pb::Message* m = top().msg;
    const pb::Reflection* r = m->GetReflection();
    if (t.field->cpp_type() == pb::FieldDescriptor::CPPTYPE_FLOAT) {
      const auto f = static_cast<float>(v);
      t.repeated ? r->AddFloat(m, t.field, f) : r->SetFloat(m, t.field, f);
    } else {
      t.repeated ? r->AddDouble(m, t.field, v) : r->SetDouble(m, t.field, v);
    }
    return true;
  }

  bool set_signed(const Target& t, std::int64_t v) {
    if (v >= 0) return set_unsigned(t, static_cast<std::uint64_t>(v));
    pb::Message* m = top().msg;
    const pb::Reflection* r = m->GetReflection();
    switch (t.field->cpp_type()) {
      case pb::FieldDescriptor::CPPTYPE_INT32: {
        if (v < std::numeric_limits<std::int32_t>::min()) return out_of_range(t);
        const auto x = static_cast<std::int32_t>(v);
        t.repeated ? r->AddInt32(m, t.field, x) : r->SetInt32(m, t.field, x);
        return true;
      }
      case pb::FieldDescriptor::CPPTYPE_INT64:
        t.repeated ? r->AddInt64(m, t.field, v) : r->SetInt64(m, t.field, v);
        return true;
      case pb::FieldDescriptor::CPPTYPE_UINT32:
      case pb::FieldDescriptor::CPPTYPE_UINT64:
        return out_of_range(t);
      case pb::FieldDescriptor::CPPTYPE_DOUBLE:
      case pb::FieldDescriptor::CPPTYPE_FLOAT:
        return set_floating(t, static_cast<double>(v));
      case pb::FieldDescriptor::CPPTYPE_ENUM:
        if (v < std::numeric_limits<int>::min() ||
            t.field->enum_type()->FindValueByNumber(static_cast<int>(v)) == nullptr) {
          return invalid_enum(t, std::to_string(v));
        }
        return set_enum(t, static_cast<int>(v));
      default:
        return wrong_type(t);
    }
  }

  bool set_unsigned(const Target& t, std::uint64_t v) {
    pb::Message* m = top().msg;
    const pb::Reflection* r = m->GetReflection();
    switch (t.field->cpp_type()) {
      case pb::FieldDescriptor::CPPTYPE_INT32: {
        if (v > static_cast<std::uint64_t>(std::numeric_limits<std::int32_t>::max())) {
          return out_of_range(t);
        }
        const auto x = static_cast<std::int32_t>(v);
        t.repeated ? r->AddInt32(m, t.field, x) : r->SetInt32(m, t.field, x);
        return true;
      }
      case pb::FieldDescriptor::CPPTYPE_INT64: {
        if (v > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
          return out_of_range(t);
        }
        const auto x = static_cast<std::int64_t>(v);
        t.repeated ? r->AddInt64(m, t.field, x) : r->SetInt64(m, t.field, x);
        return true;
      }
      case pb::FieldDescriptor::CPPTYPE_UINT32: {
        if (v > std::numeric_limits<std::uint32_t>::max()) return out_of_range(t);
        const auto x = static_cast<std::uint32_t>(v);
        t.repeated ? r->AddUInt32(m, t.field, x) : r->SetUInt32(m, t.field, x);
        return true;
      }
      case pb::FieldDescriptor::CPPTYPE_UINT64:
        t.repeated ? r->AddUInt64(m, t.field, v) : r->SetUInt64(m, t.field, v);
        return true;
      case pb::FieldDescriptor::CPPTYPE_DOUBLE:
      case pb::FieldDescriptor::CPPTYPE_FLOAT:
        return set_floating(t, static_cast<double>(v));
      case pb::FieldDescriptor::CPPTYPE_ENUM:
        if (v > static_cast<std::uint64_t>(std::numeric_limits<int>::max()) ||
            t.field->enum_type()->FindValueByNumber(static_cast<int>(v)) == nullptr) {
          return invalid_enum(t, std::to_string(v));
        }
        return set_enum(t, static_cast<int>(v));
      default:
        return wrong_type(t);
    }
  }

  // A decimal integer in a JSON string (the proto3 mapping of 64-bit integers).
  bool set_integer_string(const Target& t, std::string_view s) {
    const char* first = s.data();
    const char* last = s.data() + s.size();
    if (!s.empty() && s.front() == '-') {
      std::int64_t v = 0;
      const auto [p, ec] = std::from_chars(first, last, v);
      if (ec == std::errc::result_out_of_range) return out_of_range(t);
      if (ec != std::errc() || p != last) return wrong_type(t);
      return set_signed(t, v);
    }
    std::uint64_t v = 0;
    const auto [p, ec] = std::from_chars(first, last, v);
    if (ec == std::errc::result_out_of_range) return out_of_range(t);
    if (ec != std::errc() || p != last) return wrong_type(t);
    return set_unsigned(t, v);
  }

  void set_string(std::string_view s) {
    Target t;
    if (!target(t)) return;
    pb::Message* m = top().msg;
    const pb::Reflection* r = m->GetReflection();
    switch (t.field->cpp_type()) {
      case pb::FieldDescriptor::CPPTYPE_STRING:
        if (t.field->type() == pb::FieldDescriptor::TYPE_BYTES) {
          std::string bytes;
          if (!base64_decode(s, bytes)) {
            wrong_type(t);
            return;
          }
          t.repeated ? r->AddString(m, t.field, std::move(bytes))
                     : r->SetString(m, t.field, std::move(bytes));
        } else {
          t.repeated ? r->AddString(m, t.field, std::string(s))
                     : r->SetString(m, t.field, std::string(s));
        }
        return;
      case pb::FieldDescriptor::CPPTYPE_ENUM: {
        const pb::EnumValueDescriptor* v = t.field->enum_type()->FindValueByName(std::string(s));
        if (v == nullptr) {
          invalid_enum(t, s);
          return;
        }
        set_enum(t, v->number());
        return;
      }
      case pb::FieldDescriptor::CPPTYPE_INT32:
      case pb::FieldDescriptor::CPPTYPE_INT64:
      case pb::FieldDescriptor::CPPTYPE_UINT32:
      case pb::FieldDescriptor::CPPTYPE_UINT64:
        set_integer_string(t, s);
        return;
      case pb::FieldDescriptor::CPPTYPE_DOUBLE:
      case pb::FieldDescriptor::CPPTYPE_FLOAT: {
        double v = 0;
        const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
        if (ec != std::errc() || p != s.data() + s.size()) {
          wrong_type(t);
          return;
        }
        set_floating(t, v);
        return;
      }
      default:
        wrong_type(t);
        return;
    }
  }

  pb::Message* root_;
  std::vector<Frame> frames_;
  std::size_t depth_ = 0;
  const pb::FieldDescriptor* pending_ = nullptr;
  std::string key_;
  std::string str_;
  std::optional<Error> error_;
};

// First field unknown to the schema, at any depth.
std::optional<Error> find_unknown(const pb::Message& m, const std::string& prefix) {
  const pb::Reflection* r = m.GetReflection();
  const pb::UnknownFieldSet& unknown = r->GetUnknownFields(m);
  if (!unknown.empty()) {
    const int number = unknown.field(0).number();
    return make_error(code::kUnknownField,
                      "field number " + std::to_string(number) + " is not part of " +
                          m.GetDescriptor()->full_name(),
                      prefix + std::to_string(number));
  }
  std::vector<const pb::FieldDescriptor*> fields;
  r->ListFields(m, &fields);
  for (const pb::FieldDescriptor* f : fields) {
    if (f->cpp_type() != pb::FieldDescriptor::CPPTYPE_MESSAGE) continue;
    if (f->is_repeated()) {
      for (int i = 0; i < r->FieldSize(m, f); ++i) {
        std::string item = prefix;
        item.append(f->name()).append("[").append(std::to_string(i)).append("].");
        if (auto e = find_unknown(r->GetRepeatedMessage(m, f, i), item)) {
          return e;
        }
      }
    } else if (auto e = find_unknown(r->GetMessage(m, f), prefix + f->name() + ".")) {
      return e;
    }
  }
  return std::nullopt;
}

std::optional<Error> too_large(std::size_t size, const Limits& limits) {
  if (size <= limits.max_body) return std::nullopt;
  return make_error(code::kBodyTooLarge,
                    "body larger than " + std::to_string(limits.max_body) + " bytes");
}

std::optional<Error> not_a_flow() {
  return make_error(code::kInconsistent, "not a notification flow", "flow");
}

}  // namespace

std::optional<Error> decode_json(relais::v1::Flow flow, std::string_view text,
                                 relais::v1::Notification& out, const Limits& limits) {
  if (auto e = too_large(text.size(), limits)) return e;
  out.Clear();
  pb::Message* root = mutable_body(out, flow);
  if (root == nullptr) return not_a_flow();

  json::parse_options options;
  options.max_depth = limits.max_depth;
  json::basic_parser<Filler> parser(options, root);
  json::error_code ec;
  const std::size_t used = parser.write_some(false, text.data(), text.size(), ec);
  if (ec == json::error::too_deep) {
    return make_error(code::kDepthExceeded,
                      "JSON nested deeper than " + std::to_string(limits.max_depth));
  }
  if (ec) return make_error(code::kMalformedJson, ec.message());
  if (used != text.size()) return make_error(code::kMalformedJson, "data after the JSON value");
  if (parser.handler().error()) return parser.handler().error();

  out.set_flow(flow);
  sync_envelope(out);
  return std::nullopt;
}

std::optional<Error> decode_protobuf(relais::v1::Flow flow, std::string_view bytes,
                                     relais::v1::Notification& out, const Limits& limits) {
  if (auto e = too_large(bytes.size(), limits)) return e;
  if (bytes.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
    return make_error(code::kBodyTooLarge, "body larger than 2 GiB");
  }
  out.Clear();
  pb::Message* root = mutable_body(out, flow);
  if (root == nullptr) return not_a_flow();
  if (!root->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return make_error(code::kMalformedProtobuf,
                      "not a valid " + root->GetDescriptor()->full_name() + " message");
  }
  if (auto e = find_unknown(*root, "")) return e;
  out.set_flow(flow);
  sync_envelope(out);
  return std::nullopt;
}

namespace {
// Accepted notifications leave the decoder with what Relais derives from the source codes
// (validation::complete): every consumer downstream sees the same completed message.
std::optional<Error> validate_and_complete(relais::v1::Notification& n, const Limits& limits) {
  if (auto e = validation::validate(n, limits.validation)) return e;
  validation::complete(n);
  return std::nullopt;
}
}  // namespace

std::optional<Error> decode_and_validate_json(relais::v1::Flow flow, std::string_view json,
                                              relais::v1::Notification& out, const Limits& limits) {
  if (auto e = decode_json(flow, json, out, limits)) return e;
  return validate_and_complete(out, limits);
}

std::optional<Error> decode_and_validate_protobuf(relais::v1::Flow flow, std::string_view bytes,
                                                  relais::v1::Notification& out,
                                                  const Limits& limits) {
  if (auto e = decode_protobuf(flow, bytes, out, limits)) return e;
  return validate_and_complete(out, limits);
}

}  // namespace relais::codec
