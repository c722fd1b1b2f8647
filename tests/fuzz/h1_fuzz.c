/*
 * h1_fuzz.c — libFuzzer target for the HTTP/1.1 request framing (server/http/h1_parse.c) on its own.
 *
 * An input is two bytes of seed, then a byte stream of requests. tests/fuzz/h1_stream.c reads the
 * stream as a server does, cut at points drawn from the seed, and aborts when the framing breaks an
 * invariant: a string or span outside its input, more bytes used than given, a head end or a decoded
 * body that depends on where the input was cut, a name that is not a lowercase token, a value with a
 * CTL or surrounding whitespace. The corpus (tests/fuzz/corpus/h1/) and dictionary (h1.dict) are
 * shared with h1_diff_fuzz.c, which takes the same input format.
 */
#include <stddef.h>
#include <stdint.h>

#include "tests/fuzz/h1_stream.h"

#define MAX_CUTS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct h1s_result r;
    size_t cuts[MAX_CUTS], ncuts;

    if (size < 2)
        return 0;
    ncuts = h1s_cuts((uint32_t)data[0] << 8 | data[1], size - 2, cuts, MAX_CUTS);
    h1s_read(data + 2, size - 2, cuts, ncuts, &r);
    /* the error table covers every error the framing returns */
    for (uint32_t i = 0; i < r.n; i++)
        if ((unsigned)r.req[i].err >= H1_ERROR_COUNT || !h1_error_status(r.req[i].err) != !r.req[i].err)
            __builtin_trap();
    h1s_free(&r);
    return 0;
}
