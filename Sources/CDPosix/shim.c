// GNU extensions (accept4, memfd_create) are declared only with _GNU_SOURCE, which is kept
// inside this file: defining it for the whole C module changes fd_set's definition and breaks
// clean builds (Docs/platform-notes.md, "C shim headers").
#define _GNU_SOURCE
#include <sys/socket.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "CDPosix.h"

#include <sys/prctl.h>

int CDPosix_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags) { return accept4(fd, addr, len, flags); }
int CDPosix_memfd_create(const char *name) { return memfd_create(name, MFD_CLOEXEC); }

// An unnamed file in `dir`, removed when its last descriptor closes: O_TMPFILE where the file
// system has it, otherwise a named file that is unlinked at once.
int CDPosix_open_tmpfile(const char *dir) {
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0) return fd;
    char path[4096];
    if (snprintf(path, sizeof path, "%s/dispatchd-body-XXXXXX", dir) >= (int)sizeof path) return -1;
    fd = mkostemp(path, O_CLOEXEC);
    if (fd >= 0) unlink(path);
    return fd;
}

// A listening socket that drops every packet from now on: no new handshake completes (a SYN
// is dropped; the client retries it, and finds the port closed), while the connections
// already in the accept queue stay there to be accepted. Closing a listener resets the
// connections in its queue; attaching this first and accepting until EAGAIN leaves none.
int CDPosix_drop_new_connections(int fd) {
    // A TCP socket's filter sees the segment from its TCP header: byte 13 holds the flags. A SYN
    // without ACK (a new connection) is dropped; the ACK that completes a handshake already under
    // way passes, so that connection reaches the queue instead of being reset at the close.
    struct sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 13),
        BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x02, 0, 2),
        BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x10, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, 0),
        BPF_STMT(BPF_RET | BPF_K, 0xFFFFFFFF),
    };
    struct sock_fprog program = {.len = 5, .filter = filter};
    return setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &program, sizeof program);
}

// A signal to one thread of a process (glibc has a tgkill wrapper only since 2.30).
int CDPosix_tgkill(int tgid, int tid, int sig) { return (int)syscall(SYS_tgkill, tgid, tid, sig); }

int CDPosix_becomeSubreaper(void) { return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); }

// --preload: forks a worker that is not our child. A child forks the worker and exits at once,
// so that the worker is re-parented to the nearest subreaper (the master), which reaps it as it
// reaps a spawned one; the worker's pid comes back through a pipe. Returns 0 in the worker, its
// pid in the caller, or -errno. The intermediate process calls nothing but fork, write and
// _exit, which are safe between a fork and an exit.
pid_t CDPosix_fork_detached(void) {
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) return -errno;
    pid_t middle = fork();
    if (middle < 0) {
        int e = errno;
        close(p[0]);
        close(p[1]);
        return -e;
    }
    if (middle == 0) {
        pid_t worker = fork();
        if (worker == 0) {
            close(p[0]);
            close(p[1]);
            return 0;
        }
        int32_t answer = worker < 0 ? -errno : worker;
        ssize_t n;
        do { n = write(p[1], &answer, sizeof answer); } while (n < 0 && errno == EINTR);
        _exit(0);
    }
    close(p[1]);
    int32_t answer = -EIO;
    ssize_t n;
    do { n = read(p[0], &answer, sizeof answer); } while (n < 0 && errno == EINTR);
    close(p[0]);
    int status;
    while (waitpid(middle, &status, 0) < 0 && errno == EINTR) {}
    return n == (ssize_t)sizeof answer ? answer : -EIO;
}
