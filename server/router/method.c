/*
 * method.c — HTTP method names to enum method and back (router.h).
 *
 * Hand-written, and shared by the request parser and sluice-routegen, so that a routes file and a
 * request spell methods the same way. Methods are case-sensitive (RFC 9110 9.1): "get" is not GET.
 * Switches on the length first, then compares the bytes, as h2o's token table does.
 */
#include <string.h>

#include "sluice/router.h"

enum method method_parse(const char *name, size_t len)
{
    switch (len) {
    case 3:
        if (memcmp(name, "GET", 3) == 0)
            return METHOD_GET;
        if (memcmp(name, "PUT", 3) == 0)
            return METHOD_PUT;
        break;
    case 4:
        if (memcmp(name, "HEAD", 4) == 0)
            return METHOD_HEAD;
        if (memcmp(name, "POST", 4) == 0)
            return METHOD_POST;
        break;
    case 5:
        if (memcmp(name, "PATCH", 5) == 0)
            return METHOD_PATCH;
        break;
    case 6:
        if (memcmp(name, "DELETE", 6) == 0)
            return METHOD_DELETE;
        break;
    case 7:
        if (memcmp(name, "OPTIONS", 7) == 0)
            return METHOD_OPTIONS;
        break;
    }
    return METHOD_OTHER;
}

const char *method_name(enum method m)
{
    static const char *const names[METHOD_COUNT] = {
        [METHOD_GET] = "GET",         [METHOD_HEAD] = "HEAD",     [METHOD_POST] = "POST",
        [METHOD_PUT] = "PUT",         [METHOD_DELETE] = "DELETE", [METHOD_PATCH] = "PATCH",
        [METHOD_OPTIONS] = "OPTIONS",
    };

    /* Unsigned, so that a stray negative value is caught too. */
    return (unsigned)m < METHOD_COUNT ? names[m] : "OTHER";
}
