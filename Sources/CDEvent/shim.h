// libevent, imported only by the Swift module DEventLoop. libc headers come first: event2's
// event-config.h defines feature macros that otherwise give this module a different fd_set
// from Swift's Glibc module (a clean-build-only failure; Docs/platform-notes.md, "C shim
// headers").
#include <sys/types.h>
#include <sys/time.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <signal.h>
#include <spawn.h>
#include <event2/event.h>
#include <event2/util.h>

static inline short CDEvent_EV_READ(void) { return EV_READ; }
static inline short CDEvent_EV_WRITE(void) { return EV_WRITE; }
static inline short CDEvent_EV_TIMEOUT(void) { return EV_TIMEOUT; }
static inline short CDEvent_EV_SIGNAL(void) { return EV_SIGNAL; }
static inline short CDEvent_EV_PERSIST(void) { return EV_PERSIST; }
