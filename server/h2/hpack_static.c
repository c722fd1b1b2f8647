/*
 * hpack_static.c — the HPACK static table (RFC 7541 Appendix A) and the lookup of a name in it, for
 * the decoder (an index to a field) and the encoder (a name to its index).
 *
 * The table is data, as the RFC prints it. The name lookup is a list of candidates per name length
 * (at most six, the first index of each name) and a memcmp: no hashing, no state, nothing to build.
 * tests/h2/hpack_test.c checks that every name finds the first entry that has it.
 */
#include "h2/hpack_static.h"

#include <string.h>

#define S(i, n, v) [i] = {n, v, sizeof(n) - 1, sizeof(v) - 1}

const struct hpack_static_entry hpack_static_table[HPACK_STATIC_COUNT + 1] = {
    S(1, ":authority", ""),
    S(2, ":method", "GET"),
    S(3, ":method", "POST"),
    S(4, ":path", "/"),
    S(5, ":path", "/index.html"),
    S(6, ":scheme", "http"),
    S(7, ":scheme", "https"),
    S(8, ":status", "200"),
    S(9, ":status", "204"),
    S(10, ":status", "206"),
    S(11, ":status", "304"),
    S(12, ":status", "400"),
    S(13, ":status", "404"),
    S(14, ":status", "500"),
    S(15, "accept-charset", ""),
    S(16, "accept-encoding", "gzip, deflate"),
    S(17, "accept-language", ""),
    S(18, "accept-ranges", ""),
    S(19, "accept", ""),
    S(20, "access-control-allow-origin", ""),
    S(21, "age", ""),
    S(22, "allow", ""),
    S(23, "authorization", ""),
    S(24, "cache-control", ""),
    S(25, "content-disposition", ""),
    S(26, "content-encoding", ""),
    S(27, "content-language", ""),
    S(28, "content-length", ""),
    S(29, "content-location", ""),
    S(30, "content-range", ""),
    S(31, "content-type", ""),
    S(32, "cookie", ""),
    S(33, "date", ""),
    S(34, "etag", ""),
    S(35, "expect", ""),
    S(36, "expires", ""),
    S(37, "from", ""),
    S(38, "host", ""),
    S(39, "if-match", ""),
    S(40, "if-modified-since", ""),
    S(41, "if-none-match", ""),
    S(42, "if-range", ""),
    S(43, "if-unmodified-since", ""),
    S(44, "last-modified", ""),
    S(45, "link", ""),
    S(46, "location", ""),
    S(47, "max-forwards", ""),
    S(48, "proxy-authenticate", ""),
    S(49, "proxy-authorization", ""),
    S(50, "range", ""),
    S(51, "referer", ""),
    S(52, "refresh", ""),
    S(53, "retry-after", ""),
    S(54, "server", ""),
    S(55, "set-cookie", ""),
    S(56, "strict-transport-security", ""),
    S(57, "transfer-encoding", ""),
    S(58, "user-agent", ""),
    S(59, "vary", ""),
    S(60, "via", ""),
    S(61, "www-authenticate", ""),
};

#undef S

/* by_len[n]: the first index of each static name of n bytes, 0-terminated */
static const uint8_t by_len[HPACK_STATIC_NAME_MAX + 1][7] = {
    [3] = {21, 60},
    [4] = {33, 34, 37, 38, 45, 59},
    [5] = {4, 22, 50},
    [6] = {19, 32, 35, 54},
    [7] = {2, 6, 8, 36, 51, 52},
    [8] = {39, 42, 46},
    [10] = {1, 55, 58},
    [11] = {53},
    [12] = {31, 47},
    [13] = {18, 23, 24, 30, 41, 44},
    [14] = {15, 28},
    [15] = {16, 17},
    [16] = {26, 27, 29, 61},
    [17] = {40, 57},
    [18] = {48},
    [19] = {25, 43, 49},
    [25] = {56},
    [27] = {20},
};

uint32_t hpack_static_find_name(const uint8_t *name, size_t len)
{
    if (len > HPACK_STATIC_NAME_MAX)
        return 0;
    for (const uint8_t *c = by_len[len]; *c; c++)
        if (hpack_static_table[*c].name[0] == name[0] && !memcmp(hpack_static_table[*c].name, name, len))
            return *c;
    return 0;
}
