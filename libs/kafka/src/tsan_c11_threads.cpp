// ThreadSanitizer builds only (RELAIS_TSAN, `make test-tsan`): librdkafka starts its threads with
// C11 thrd_create, which glibc implements without going through the pthread_create that the TSan
// runtime intercepts; TSan then has no state for those threads and the first one crashes inside
// the runtime. This shared library, linked ahead of libc, gives librdkafka a thrd_create (and the
// thrd_join and thrd_detach that go with it) built on pthread_create, so TSan sees every thread
// start, join and detach. Same contract as glibc's: the start function's int result is what
// thrd_join reports. Never part of a production build.
#include <pthread.h>
#include <threads.h>

#include <cerrno>
#include <cstdint>
#include <new>

namespace {

struct Start {
  thrd_start_t func;
  void* arg;
};

void* run(void* p) {
  const Start start = *static_cast<Start*>(p);
  delete static_cast<Start*>(p);
  // NOLINTNEXTLINE(performance-no-int-to-ptr): the int result travels as a void*, as in glibc
  return reinterpret_cast<void*>(static_cast<std::intptr_t>(start.func(start.arg)));
}

int to_c11(int rc) {
  switch (rc) {
    case 0:
      return thrd_success;
    case ENOMEM:
      return thrd_nomem;
    case EBUSY:
      return thrd_busy;
    case ETIMEDOUT:
      return thrd_timedout;
    default:
      return thrd_error;
  }
}

}  // namespace

extern "C" int thrd_create(thrd_t* thr, thrd_start_t func, void* arg) {
  auto* start = new (std::nothrow) Start{func, arg};
  if (start == nullptr) return thrd_nomem;
  const int rc = pthread_create(thr, nullptr, run, start);
  if (rc != 0) delete start;
  return to_c11(rc);
}

extern "C" int thrd_join(thrd_t thr, int* res) {
  void* result = nullptr;
  const int rc = pthread_join(thr, &result);
  if (rc == 0 && res != nullptr) *res = static_cast<int>(reinterpret_cast<std::intptr_t>(result));
  return to_c11(rc);
}

extern "C" int thrd_detach(thrd_t thr) {
  return to_c11(pthread_detach(thr));
}
