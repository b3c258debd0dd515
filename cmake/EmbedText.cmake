# cmake -DINPUT=<file> -DOUTPUT=<file.cpp> -DNAMESPACE=<ns> -DFUNCTION=<name> -P EmbedText.cmake
# Writes a .cpp defining `std::string_view <ns>::<name>()` returning the file's bytes, so a binary
# serves the text without reading the source tree at run time. The bytes are emitted as a
# brace-initialised char array (hex), so any content (quotes, backslashes, ")") is safe.
file(READ "${INPUT}" hex HEX)
string(LENGTH "${hex}" len)
math(EXPR count "${len} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "'\\\\x\\1'," bytes "${hex}")
string(REGEX REPLACE "(('\\\\x[0-9a-f][0-9a-f]',){16})" "\\1\n" bytes "${bytes}")
file(WRITE "${OUTPUT}.tmp" "// Generated from ${INPUT} by cmake/EmbedText.cmake; do not edit.
#include <string_view>
namespace ${NAMESPACE} {
namespace {
const char k_data[] = {\n${bytes}'\\0'};
}  // namespace
std::string_view ${FUNCTION}() { return {k_data, ${count}}; }
}  // namespace ${NAMESPACE}
")
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUTPUT}.tmp")
