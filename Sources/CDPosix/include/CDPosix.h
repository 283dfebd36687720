// C shim for the POSIX calls Swift cannot reach directly: the CMSG_* macros used for
// SCM_RIGHTS, C11 atomics on shared (mmap'd) memory, and a few variadic or macro-only calls.
// Imported only by the Swift module DPosix.
#ifndef CDPOSIX_H
#define CDPOSIX_H

#include <sys/types.h>
#include <sys/time.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/eventfd.h>
#include <sys/epoll.h>
#include <sys/sendfile.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <spawn.h>
#include <fcntl.h>
#include <poll.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

// CMSG macros are not importable into Swift.
static inline struct cmsghdr *CDPosix_CMSG_FIRSTHDR(struct msghdr *m) { return CMSG_FIRSTHDR(m); }
static inline struct cmsghdr *CDPosix_CMSG_NXTHDR(struct msghdr *m, struct cmsghdr *c) { return CMSG_NXTHDR(m, c); }
static inline unsigned char *CDPosix_CMSG_DATA(struct cmsghdr *c) { return CMSG_DATA(c); }
static inline size_t CDPosix_CMSG_SPACE(size_t n) { return CMSG_SPACE(n); }
static inline size_t CDPosix_CMSG_LEN(size_t n) { return CMSG_LEN(n); }

// Atomics on memory shared between processes (the scoreboard). Swift's Atomic types live in
// Swift-owned storage only, so the mmap'd region is accessed through these.
static inline uint64_t CDPosix_atomic_load_u64(const void *p) {
    return __atomic_load_n((const uint64_t *)p, __ATOMIC_ACQUIRE);
}
static inline void CDPosix_atomic_store_u64(void *p, uint64_t v) {
    __atomic_store_n((uint64_t *)p, v, __ATOMIC_RELEASE);
}
static inline uint64_t CDPosix_atomic_add_u64(void *p, uint64_t v) {
    return __atomic_add_fetch((uint64_t *)p, v, __ATOMIC_ACQ_REL);
}

// fcntl and open are variadic.
static inline int CDPosix_set_nonblocking(int fd, int on) {
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0) return -1;
    flags = on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
    return fcntl(fd, F_SETFL, flags);
}
static inline int CDPosix_set_cloexec(int fd, int on) {
    int flags = fcntl(fd, F_GETFD);
    if (flags < 0) return -1;
    flags = on ? (flags | FD_CLOEXEC) : (flags & ~FD_CLOEXEC);
    return fcntl(fd, F_SETFD, flags);
}
static inline int CDPosix_dup_above(int fd, int minimum) { return fcntl(fd, F_DUPFD_CLOEXEC, minimum); }

// Wait-status macros.
static inline int CDPosix_WIFEXITED(int s) { return WIFEXITED(s); }
static inline int CDPosix_WEXITSTATUS(int s) { return WEXITSTATUS(s); }
static inline int CDPosix_WIFSIGNALED(int s) { return WIFSIGNALED(s); }
static inline int CDPosix_WTERMSIG(int s) { return WTERMSIG(s); }

static inline int CDPosix_errno(void) { return errno; }

// Defined in shim.c, which alone sees the GNU declarations.
int CDPosix_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags);
int CDPosix_drop_new_connections(int fd);
int CDPosix_memfd_create(const char *name);
int CDPosix_open_tmpfile(const char *dir);
// A non-blocking, close-on-exec eventfd (another thread's wake-up of an event loop).
static inline int CDPosix_eventfd(void) { return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }
int CDPosix_tgkill(int tgid, int tid, int sig);

// epoll for --accept-mode shared (struct epoll_event is packed on x86-64: built here, not in
// Swift). A listener added with EPOLLEXCLUSIVE wakes one of the waiters blocked on it per
// connection; `data` is the descriptor number epoll_wait reports for it.
static inline int CDPosix_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }
static inline int CDPosix_epoll_add_exclusive(int epfd, int fd, int data) {
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN | EPOLLEXCLUSIVE;
    ev.data.fd = data;
    return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}
static inline int CDPosix_epoll_remove(int epfd, int fd) { return epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL); }

/// prctl(PR_SET_CHILD_SUBREAPER, 1): orphans of this process's descendants become its children.
int CDPosix_becomeSubreaper(void);
/// --preload: forks a process that becomes the subreaper's child, not ours (shim.c); 0 in it,
/// its pid here, -errno on failure.
pid_t CDPosix_fork_detached(void);

#endif
