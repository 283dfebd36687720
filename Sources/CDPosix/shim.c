// GNU extensions (accept4, memfd_create) are declared only with _GNU_SOURCE, which is kept
// inside this file: defining it for the whole C module changes fd_set's definition and breaks
// clean builds (platform-notes pitfall 4).
#define _GNU_SOURCE
#include <sys/socket.h>
#include <sys/mman.h>
#include "CDPosix.h"

int CDPosix_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags) { return accept4(fd, addr, len, flags); }
int CDPosix_memfd_create(const char *name) { return memfd_create(name, MFD_CLOEXEC); }
