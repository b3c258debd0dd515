// A large XML file (a batch of records under one root) read as a stream: never the whole file in
// one tree. The root's child elements come one at a time as their own serialised XML (namespace
// declarations of the ancestors included), to be parsed by xml::parse under its per-document
// limits. The file as a whole is hostile input too: UTF-8 only, no DOCTYPE (refused before
// libxml2 reads a byte of it), no network, a bound on its size, libxml2's own limits (no HUGE).
#pragma once

#include <boost/system/result.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "relais/xml/xml.hpp"

namespace relais::xml {

// Where the prolog of a document ends (pure): the root element starts, a DOCTYPE (or any other
// `<!` declaration) comes first, or the given bytes end before either. A UTF-16/32 document is
// `unsupported` (the scan reads UTF-8 bytes only).
enum class Prolog { root, doctype, need_more, unsupported };
Prolog scan_prolog(std::string_view head);

struct StreamChild {
  std::string ns, name;  // namespace URI and local name
  std::string xml;       // the element and its subtree, self-contained
  int line = 0;          // where it starts in the file
};

class StreamReader {
 public:
  // Opens `path`; reads up to its root element. Errors: too_large (file over max_file_bytes),
  // dtd_forbidden, malformed (also: not UTF-8, no root element).
  static boost::system::result<std::unique_ptr<StreamReader>, Error> open(
      const std::string& path, std::uint64_t max_file_bytes);
  ~StreamReader();
  StreamReader(const StreamReader&) = delete;
  StreamReader& operator=(const StreamReader&) = delete;

  const std::string& root_ns() const { return root_ns_; }
  const std::string& root_name() const { return root_name_; }
  // The next child element of the root; nullopt after the last one (the rest of the file is
  // then read to its end, so a malformed tail is still an error). After an error the stream is
  // finished.
  boost::system::result<std::optional<StreamChild>, Error> next();
  // Bytes of the file the parser has consumed so far (a progress figure).
  std::uint64_t bytes_consumed() const;

 private:
  struct Impl;
  explicit StreamReader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  std::string root_ns_, root_name_;
};

}  // namespace relais::xml
