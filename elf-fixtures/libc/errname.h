/* errno's names and a call's result as the socket and IPC fixtures print
 * them: the value, or -1 and errno's name. */
#ifndef ERRNAME_H
#define ERRNAME_H

#include <errno.h>
#include <stdio.h>

/* errno's name (musl has no strerrorname_np). */
static const char *ename(int e)
{
    static const struct {
        int e;
        const char *n;
    } names[] = {
        {EPERM, "EPERM"}, {ENOENT, "ENOENT"}, {EINTR, "EINTR"}, {EBADF, "EBADF"}, {EAGAIN, "EAGAIN"},
        {EACCES, "EACCES"}, {EFAULT, "EFAULT"}, {EINVAL, "EINVAL"}, {ESPIPE, "ESPIPE"}, {EPIPE, "EPIPE"},
        {ENXIO, "ENXIO"}, {ENOTSOCK, "ENOTSOCK"}, {EDESTADDRREQ, "EDESTADDRREQ"}, {EMSGSIZE, "EMSGSIZE"},
        {EPROTOTYPE, "EPROTOTYPE"}, {ENOPROTOOPT, "ENOPROTOOPT"}, {EPROTONOSUPPORT, "EPROTONOSUPPORT"},
        {ESOCKTNOSUPPORT, "ESOCKTNOSUPPORT"}, {EOPNOTSUPP, "EOPNOTSUPP"}, {EAFNOSUPPORT, "EAFNOSUPPORT"},
        {EADDRINUSE, "EADDRINUSE"}, {EADDRNOTAVAIL, "EADDRNOTAVAIL"}, {ENETUNREACH, "ENETUNREACH"},
        {ECONNRESET, "ECONNRESET"}, {EISCONN, "EISCONN"}, {ENOTCONN, "ENOTCONN"}, {ECONNREFUSED, "ECONNREFUSED"},
        {EALREADY, "EALREADY"}, {EINPROGRESS, "EINPROGRESS"}, {ECONNABORTED, "ECONNABORTED"},
        {ENODEV, "ENODEV"}, {EDOM, "EDOM"}, {ENOMEM, "ENOMEM"}, {EEXIST, "EEXIST"}, {EIDRM, "EIDRM"},
        {ENOSPC, "ENOSPC"}, {ETIMEDOUT, "ETIMEDOUT"}, {ENOSYS, "ENOSYS"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].e == e)
            return names[i].n;
    return "E?";
}

static const char *err(int r)
{
    static char b[64];
    if (r >= 0)
        snprintf(b, sizeof b, "%d", r);
    else
        snprintf(b, sizeof b, "-1 %s", ename(errno));
    return b;
}

#define SHOW(what, expr) printf("%s: %s\n", what, err(expr))

#endif
