// Most of the shim is header-only (static inline functions); what keeps state is here.
#include <errno.h>
#include <string.h>
#include <stdint.h>
#include <unistd.h>
#include "CDPython.h"

// The timeout signal (--timeout; PythonRuntime+Timeout.swift). One handler runs two: first
// faulthandler's, registered for the signal and taken from it, which writes the stack of every
// Python thread from the signal handler itself (so it works while the code is inside C), then
// Python's own, which makes the main thread run the Python-level handler at its next bytecode.
// faulthandler installs its handler with SA_RESTART, and its `chain` re-installs it so after
// every signal: a blocking read without a timeout would then be restarted by the kernel, never
// returning to Python. This handler is installed without SA_RESTART, so the read fails with
// EINTR, Python checks its signals, and the request's exception is raised (Docs/platform-notes.md,
// "Signals").
static void (*timeout_dump)(int);
static void (*timeout_python)(int);
// --threads: an eventfd the handler also makes readable, so that the worker's event loop
// interrupts the request threads past their time (Python runs signal handlers only in the main
// thread). -1 without threads.
static int timeout_wake = -1;

static void timeout_handler(int signum) {
    int saved = errno;
    timeout_dump(signum);
    timeout_python(signum);
    if (timeout_wake >= 0) {
        uint64_t one = 1;
        ssize_t written = write(timeout_wake, &one, sizeof one);
        (void)written;
    }
    errno = saved;
}

void CDPy_TimeoutWake(int fd) { timeout_wake = fd; }

int CDPy_TimeoutTakeHandler(int signum, int dump) {
    struct sigaction current;
    if (sigaction(signum, NULL, &current) != 0) return -1;
    if ((current.sa_flags & SA_SIGINFO) || current.sa_handler == SIG_DFL || current.sa_handler == SIG_IGN) return -1;
    if (dump) timeout_dump = current.sa_handler;
    else timeout_python = current.sa_handler;
    return 0;
}

int CDPy_TimeoutInstall(int signum) {
    if (!timeout_dump || !timeout_python) return -1;
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = timeout_handler;
    sigemptyset(&action.sa_mask);
    // As Python installs its handlers: on the alternate stack when a thread has one.
    action.sa_flags = SA_ONSTACK;
    return sigaction(signum, &action, NULL);
}
