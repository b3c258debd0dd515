// COPY ... FROM STDIN (FORMAT binary): the rows of a COPY in PostgreSQL's binary format.
//
// The server reads each field with its type's receive function instead of parsing text: no
// timestamp or array literal to parse, no escaping on either side (the journal's cost per row in
// PostgreSQL, docs/performance.md). Pure: builds bytes, talks to no server.
//
// The caller names, for each field, the column's type: `text()` serves text, varchar and
// char(n) columns (the server applies the column's length as for text input: too long is an
// error, shorter char(n) is padded), `int4()` integer, `boolean()` boolean, `timestamptz()`
// timestamptz, `text_array()` text[]. A field of another type than its column's is refused by
// the server (a data error of the batch, like malformed text input), never stored. Values are
// checked by the server as they are for text input (UTF-8, no 0x00 byte in text: refused).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace relais::pg {

class CopyBinary {
 public:
  CopyBinary();  // the header: signature, flags, no extension

  // Starts a row of `fields` fields; the row is complete when that many were added.
  void row(std::int16_t fields);
  void null();
  void text(std::string_view v);
  void int4(std::int32_t v);
  void boolean(bool v);
  // Microseconds since 1970-01-01 00:00 UTC.
  void timestamptz(std::int64_t unix_us);
  // A one-dimensional text[] (lower bound 1) of these elements, none NULL; empty: '{}'.
  void text_array(const std::vector<std::string_view>& elements);

  std::size_t rows() const { return rows_; }
  // The bytes to send: the header, the rows, the trailer. The builder starts again after.
  std::string finish();

 private:
  void header();
  void be16(std::int16_t v);
  void be32(std::int32_t v);
  void be64(std::int64_t v);

  std::string out_;
  std::size_t rows_ = 0;
};

}  // namespace relais::pg
