// relaisctl replay: asks relais-api for a replay of one CPAS's notifications since a date
// (POST /v1/cpas/{cbe}/replays, with RELAIS_API_TOKEN: the CPAS's own token or the operator's)
// and follows its progress (GET /v1/cpas/{cbe}/replays/{id}) until it is done. relais-api does
// the work: interrupting relaisctl stops nothing, and running the same command again follows
// the same replay (or reports the finished one) instead of publishing twice.
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include "relais/ctl/settings.hpp"

namespace relais::ctl {

struct ReplayCall {
  std::string cbe, since, until;  // until empty: no end
  bool again = false;             // a new replay even when an identical one is done
  bool wait = true;               // follow the progress until done or failed
  std::chrono::milliseconds poll{500};
};

struct ReplayStatus {
  std::string id, state, topic, error;
  long long total = 0, published = 0;
  bool created = false;  // false: an identical replay was running or done
};

// Throws std::runtime_error with relais-api's answer when it refuses the call.
ReplayStatus replay(const Settings& s, const ReplayCall& call,
                    const std::function<void(const ReplayStatus&)>& on_progress);

}  // namespace relais::ctl
