#ifndef KILN_CKILNLINUX_SHIM_H
#define KILN_CKILNLINUX_SHIM_H
// Linux interfaces that Swift's Glibc module does not import: epoll and eventfd for the HTTP
// server's event loops, and accept4 (declared by glibc only under _GNU_SOURCE), reached through
// syscall(2) so that no feature macro has to leak into other modules.
#if defined(__linux__)
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

static inline int kiln_accept4(int fd, struct sockaddr *address, socklen_t *length, int flags) {
    return (int)syscall(SYS_accept4, fd, address, length, flags);
}
#endif
#endif
