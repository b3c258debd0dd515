// The error vocabulary of Relais's library boundaries: what kind of failure (`errc`), a stable
// machine code ("CPAS_NOT_FOUND", "INVALID_SSIN_CHECKSUM"...), a human message and the field at
// fault, carried by `result<T>` (a value or an error, like C++23's std::expected). Callers
// branch on `errc`, never on the text of a message.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace relais {

enum class errc {
  invalid,                 // the caller's input is wrong (a field, a parameter, a body)
  unauthenticated,         // no valid credential
  forbidden,               // a valid credential without the right
  not_found,               // no such resource
  method_not_allowed,      // the resource exists, not with this method
  conflict,                // the resource's state refuses this change
  too_large,               // a body or a batch beyond the limit
  unsupported_media_type,  // a body of the wrong type
  rate_limited,            // too many calls; retry later
  unavailable,             // a dependency is down; retry later
  timeout,                 // a dependency did not answer in time
  refused,                 // a peer refused the call (connection refused, 4xx upstream)
  internal,                // a bug or an unexpected state; never the caller's fault
};

// Every errc, in declaration order (for exhaustive tests and tables).
inline constexpr errc kAllErrc[] = {errc::invalid,
                                    errc::unauthenticated,
                                    errc::forbidden,
                                    errc::not_found,
                                    errc::method_not_allowed,
                                    errc::conflict,
                                    errc::too_large,
                                    errc::unsupported_media_type,
                                    errc::rate_limited,
                                    errc::unavailable,
                                    errc::timeout,
                                    errc::refused,
                                    errc::internal};

constexpr std::string_view to_string(errc e) {
  switch (e) {
    case errc::invalid:
      return "invalid";
    case errc::unauthenticated:
      return "unauthenticated";
    case errc::forbidden:
      return "forbidden";
    case errc::not_found:
      return "not_found";
    case errc::method_not_allowed:
      return "method_not_allowed";
    case errc::conflict:
      return "conflict";
    case errc::too_large:
      return "too_large";
    case errc::unsupported_media_type:
      return "unsupported_media_type";
    case errc::rate_limited:
      return "rate_limited";
    case errc::unavailable:
      return "unavailable";
    case errc::timeout:
      return "timeout";
    case errc::refused:
      return "refused";
    case errc::internal:
      return "internal";
  }
  return "internal";
}

// Worth trying again later, unchanged.
constexpr bool retryable(errc e) {
  return e == errc::unavailable || e == errc::timeout || e == errc::rate_limited ||
         e == errc::refused;
}

struct Error {
  errc kind = errc::internal;
  std::string code;     // stable, upper case: "CPAS_NOT_FOUND"
  std::string message;  // for a person; never parsed
  std::string field;    // the input at fault, "" when none
};

inline Error make_error(errc kind, std::string code, std::string message, std::string field = {}) {
  return Error{kind, std::move(code), std::move(message), std::move(field)};
}

// A value or an error `E` (relais::Error unless a library extends it). The error is never empty:
// a default-constructed result holds a default T.
template <class T, class E = Error>
class result {
 public:
  result() : v_(std::in_place_index<0>) {}
  result(T v) : v_(std::in_place_index<0>, std::move(v)) {}  // NOLINT(google-explicit-constructor)
  result(E e) : v_(std::in_place_index<1>, std::move(e)) {}  // NOLINT(google-explicit-constructor)
  bool has_value() const { return v_.index() == 0; }
  explicit operator bool() const { return has_value(); }
  T& value() { return std::get<0>(v_); }
  const T& value() const { return std::get<0>(v_); }
  T& operator*() { return value(); }
  const T& operator*() const { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  E& error() { return std::get<1>(v_); }
  const E& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, E> v_;
};

}  // namespace relais
