/*
 * err.c — filling and printing struct err (see err.h). The only formatting of failures in sluice.
 */
#include "common/err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

int err_set(struct err *e, const char *file, int line, int status, int errnum, const char *fmt, ...)
{
    va_list ap;

    e->status = status;
    e->errnum = errnum < 0 ? -errnum : errnum;
    e->src_file = file;
    e->src_line = line;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    va_end(ap);
    return -1;
}

int err_status_for_errno(int errnum)
{
    switch (errnum < 0 ? -errnum : errnum) {
    case EPERM:
    case EACCES:
        return EXIT_STATUS_PERMISSION;
    case ENOSYS:
    case EOPNOTSUPP:
        return EXIT_STATUS_NO_BPF;
    case ENODEV:
    case ENXIO:
        return EXIT_STATUS_NO_DEVICE;
    case EBUSY:
    case EEXIST:
        return EXIT_STATUS_STATE;
    default:
        return EXIT_STATUS_FAILURE;
    }
}

void err_print(FILE *out, const char *prog, const struct err *e)
{
    fprintf(out, "%s: error: %s", prog, e->msg);
    if (e->errnum)
        fprintf(out, ": %s", strerror(e->errnum));
    if (getenv("SLUICE_DEBUG"))
        fprintf(out, " [%s:%d]", e->src_file, e->src_line);
    fputc('\n', out);
}
