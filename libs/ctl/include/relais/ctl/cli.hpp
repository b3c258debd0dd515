// relaisctl's command line: parsing, dispatch, output. Exit codes: 0 success, 1 the operation
// failed (or, for `status`, a service is not ready), 2 usage error (bad option or input).
#pragma once

#include <iosfwd>

namespace relais::ctl {

inline constexpr int kExitOk = 0, kExitFailed = 1, kExitUsage = 2;

int run(int argc, char** argv, char** env, std::ostream& out, std::ostream& err);

}  // namespace relais::ctl
