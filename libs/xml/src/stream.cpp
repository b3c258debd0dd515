#include "relais/xml/stream.hpp"

#include <libxml/parser.h>
#include <libxml/xmlerror.h>
#include <libxml/xmlreader.h>

#include <algorithm>
#include <cstdio>

#include "relais/validation/text.hpp"

namespace relais::xml {

namespace {
constexpr std::size_t kHeadBytes = std::size_t{64} * 1024;  // the prolog must end within this

bool starts(std::string_view s, std::string_view p) {
  return s.substr(0, p.size()) == p;
}
}  // namespace

Prolog scan_prolog(std::string_view s) {
  if (starts(s, "\xEF\xBB\xBF")) s.remove_prefix(3);
  if (starts(s, "\xFE\xFF") || starts(s, "\xFF\xFE") ||
      (s.size() >= 2 && (s[0] == '\0' || s[1] == '\0'))) {
    return Prolog::unsupported;
  }
  for (;;) {
    const auto p = s.find_first_not_of(" \t\r\n");
    if (p == std::string_view::npos) return Prolog::need_more;
    s.remove_prefix(p);
    if (s.size() < 2) return Prolog::need_more;
    if (s[0] != '<') return Prolog::root;  // not XML: libxml2 says why
    std::string_view end;
    if (starts(s, "<?")) {
      end = "?>";
    } else if (starts(s, "<!--")) {
      end = "-->";
    } else if (s[1] == '!') {
      if (s.size() < 4) return Prolog::need_more;
      return Prolog::doctype;  // <!DOCTYPE, or any other declaration: never read
    } else {
      return Prolog::root;
    }
    const auto e = s.find(end, 2);
    if (e == std::string_view::npos) return Prolog::need_more;
    s.remove_prefix(e + end.size());
  }
}

struct StreamReader::Impl {
  std::FILE* file = nullptr;
  std::uint64_t max_bytes = 0, read = 0;
  std::string head;  // the prolog, served before the rest of the file
  std::size_t head_pos = 0;
  bool too_large = false;
  xmlTextReaderPtr reader = nullptr;
  bool done = false;
  bool pending = false;  // the reader already stands on the node to examine (after Next())
  ~Impl() {
    if (reader != nullptr) xmlFreeTextReader(reader);
    if (file != nullptr) std::fclose(file);
  }

  static int read_cb(void* ctx, char* buf, int len) {
    auto* self = static_cast<Impl*>(ctx);
    if (self->head_pos < self->head.size()) {
      const std::size_t n =
          std::min<std::size_t>(static_cast<std::size_t>(len), self->head.size() - self->head_pos);
      std::copy_n(self->head.data() + self->head_pos, n, buf);
      self->head_pos += n;
      return static_cast<int>(n);
    }
    const std::size_t n = std::fread(buf, 1, static_cast<std::size_t>(len), self->file);
    self->read += n;
    if (self->read > self->max_bytes) {
      self->too_large = true;
      return -1;
    }
    if (n == 0 && std::ferror(self->file)) return -1;
    return static_cast<int>(n);
  }
  static int close_cb(void*) { return 0; }

  Error failure(errc fallback, const std::string& what) const {
    if (too_large)
      return Error{
          errc::too_large, "file larger than " + std::to_string(max_bytes) + " bytes", 0, {}};
    Error e{fallback, what, 0, {}};
    if (const xmlError* x = xmlGetLastError(); x != nullptr && x->message != nullptr) {
      std::string_view m(x->message);
      while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.remove_suffix(1);
      e.message = validation::sanitize_text(m, 300);
      e.line = x->line;
    }
    return e;
  }
};

StreamReader::StreamReader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
StreamReader::~StreamReader() = default;

boost::system::result<std::unique_ptr<StreamReader>, Error> StreamReader::open(
    const std::string& path, std::uint64_t max_file_bytes) {
  auto impl = std::make_unique<Impl>();
  impl->max_bytes = max_file_bytes;
  impl->file = std::fopen(path.c_str(), "rb");
  if (impl->file == nullptr) return Error{errc::malformed, path + ": cannot open", 0, {}};
  // The prolog is checked before libxml2 sees any of it: a DOCTYPE never reaches the parser.
  impl->head.resize(kHeadBytes);
  const std::size_t n = std::fread(impl->head.data(), 1, kHeadBytes, impl->file);
  impl->head.resize(n);
  impl->read = n;
  if (impl->read > max_file_bytes) {
    return Error{
        errc::too_large, "file larger than " + std::to_string(max_file_bytes) + " bytes", 0, {}};
  }
  switch (scan_prolog(impl->head)) {
    case Prolog::doctype:
      return Error{errc::dtd_forbidden, "a DOCTYPE is not accepted (no DTD, no entity)", 0, {}};
    case Prolog::unsupported:
      return Error{errc::malformed, "batch files are UTF-8", 0, {}};
    case Prolog::need_more:
      return Error{errc::malformed,
                   "no root element in the first " + std::to_string(kHeadBytes) + " bytes",
                   0,
                   {}};
    case Prolog::root:
      break;
  }
  xmlResetLastError();
  impl->reader = xmlReaderForIO(&Impl::read_cb, &Impl::close_cb, impl.get(), nullptr, "UTF-8",
                                XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
  if (impl->reader == nullptr) return Error{errc::malformed, "cannot read the file as XML", 0, {}};
  for (;;) {
    const int r = xmlTextReaderRead(impl->reader);
    if (r != 1) return impl->failure(errc::malformed, "no root element");
    const int type = xmlTextReaderNodeType(impl->reader);
    if (type == XML_READER_TYPE_DOCUMENT_TYPE)
      return Error{errc::dtd_forbidden, "a DOCTYPE is not accepted", 0, {}};
    if (type != XML_READER_TYPE_ELEMENT) continue;
    auto str = [](const xmlChar* s) {
      return s ? std::string(reinterpret_cast<const char*>(s)) : std::string();
    };
    std::unique_ptr<StreamReader> out(new StreamReader(std::move(impl)));
    out->root_ns_ = str(xmlTextReaderConstNamespaceUri(out->impl_->reader));
    out->root_name_ = str(xmlTextReaderConstLocalName(out->impl_->reader));
    if (xmlTextReaderIsEmptyElement(out->impl_->reader) == 1) out->impl_->done = true;
    return out;
  }
}

std::uint64_t StreamReader::bytes_consumed() const {
  const long n = xmlTextReaderByteConsumed(impl_->reader);
  return n > 0 ? static_cast<std::uint64_t>(n) : 0;
}

boost::system::result<std::optional<StreamChild>, Error> StreamReader::next() {
  Impl& m = *impl_;
  if (m.done) return std::optional<StreamChild>{};
  for (;;) {
    if (!m.pending) {
      const int r = xmlTextReaderRead(m.reader);
      if (r != 1) {
        m.done = true;
        if (r == 0) return std::optional<StreamChild>{};
        return m.failure(errc::malformed, "not well-formed XML");
      }
    }
    m.pending = false;
    const int type = xmlTextReaderNodeType(m.reader);
    const int depth = xmlTextReaderDepth(m.reader);
    if (type == XML_READER_TYPE_END_ELEMENT && depth == 0) {
      // The rest of the file (comments, whitespace) must still be well-formed.
      int rest = 0;
      while ((rest = xmlTextReaderRead(m.reader)) == 1) {
      }
      m.done = true;
      if (rest < 0) return m.failure(errc::malformed, "not well-formed XML after the root element");
      return std::optional<StreamChild>{};
    }
    if (type == XML_READER_TYPE_ENTITY_REFERENCE) {
      m.done = true;
      return Error{errc::dtd_forbidden,
                   "entity references are not accepted",
                   xmlTextReaderGetParserLineNumber(m.reader),
                   {}};
    }
    if (type != XML_READER_TYPE_ELEMENT || depth != 1) continue;
    StreamChild c;
    auto str = [](const xmlChar* s) {
      return s ? std::string(reinterpret_cast<const char*>(s)) : std::string();
    };
    c.ns = str(xmlTextReaderConstNamespaceUri(m.reader));
    c.name = str(xmlTextReaderConstLocalName(m.reader));
    c.line = xmlTextReaderGetParserLineNumber(m.reader);
    xmlChar* outer = xmlTextReaderReadOuterXml(m.reader);
    if (outer == nullptr) {
      m.done = true;
      return m.failure(errc::malformed, "not well-formed XML");
    }
    c.xml = reinterpret_cast<const char*>(outer);
    xmlFree(outer);
    // Past the subtree: the reader frees the nodes it no longer needs, so memory stays bounded.
    const int nr = xmlTextReaderNext(m.reader);
    if (nr < 0) {
      m.done = true;
      return m.failure(errc::malformed, "not well-formed XML");
    }
    // Next() already stands on the following node: the next call examines it before reading on.
    if (nr == 0) {
      m.done = true;
    } else {
      m.pending = true;
    }
    return std::optional<StreamChild>{std::move(c)};
  }
}

}  // namespace relais::xml
