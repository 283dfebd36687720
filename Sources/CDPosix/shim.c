// GNU extensions (accept4, memfd_create) are declared only with _GNU_SOURCE, which is kept
// inside this file: defining it for the whole C module changes fd_set's definition and breaks
// clean builds (platform-notes pitfall 4).
#define _GNU_SOURCE
#include <sys/socket.h>
#include <sys/mman.h>
#include "CDPosix.h"

int CDPosix_accept4(int fd, int flags) { return accept4(fd, NULL, NULL, flags); }
int CDPosix_memfd_create(const char *name) { return memfd_create(name, MFD_CLOEXEC); }
