#include "relais/pg/pool.hpp"

#include <poll.h>

namespace relais::pg {

Pool::Pool(std::string dsn, std::size_t size) : dsn_(std::move(dsn)), size_(size), workers_(size) {}

Pool::~Pool() {
  workers_.join();
}

namespace {
// A connection the server closed while it sat idle (restart, failover,
// pg_terminate_backend, idle_session_timeout) still reads CONNECTION_OK until
// it is used. An idle backend sends nothing, so anything readable on the
// socket (its FATAL message, or EOF) means it is gone: reconnect rather than
// fail the next request. A zero-timeout poll, no round trip.
bool alive(Connection& c) {
  if (!c.ok()) return false;
  pollfd p{PQsocket(c.raw()), POLLIN, 0};
  return ::poll(&p, 1, 0) == 0;
}
}  // namespace

std::unique_ptr<Connection> Pool::acquire() {
  std::unique_ptr<Connection> c;
  {
    std::lock_guard lock(mu_);
    if (!idle_.empty()) {
      c = std::move(idle_.back());
      idle_.pop_back();
    }
  }
  // Checked (and re-established) outside the lock: a reconnect blocks.
  if (c && (alive(*c) || c->reset())) return c;
  return std::make_unique<Connection>(dsn_);
}

void Pool::release(std::unique_ptr<Connection> c) {
  if (!c || !c->ok()) return;
  // A connection left inside a transaction by an exception is rolled back first.
  if (PQtransactionStatus(c->raw()) != PQTRANS_IDLE) {
    try {
      c->exec("ROLLBACK");
    } catch (...) {
      return;
    }
  }
  std::lock_guard lock(mu_);
  if (idle_.size() < size_) idle_.push_back(std::move(c));
}

Pool::Lease::Lease(Pool& p) : pool_(p), conn_(p.acquire()) {
  pool_.in_use_.fetch_add(1);
}

Pool::Lease::~Lease() {
  pool_.in_use_.fetch_sub(1);
  pool_.release(std::move(conn_));
}

bool Pool::healthy() {
  try {
    return with([](Connection& c) { return c.exec("SELECT 1").rows() == 1; });
  } catch (...) {
    return false;
  }
}

}  // namespace relais::pg
