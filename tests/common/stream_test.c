/*
 * stream_test.c — the deterministic stream (common/stream.h) that the source service, /bytes and the
 * test clients generate and check: stream_fill writes exactly stream_byte's bytes from any position,
 * for any length, and the stream itself is pinned by known bytes, since a sender and a receiver that
 * both changed would still agree with each other.
 */
#include <stdio.h>
#include <string.h>

#include "common/stream.h"
#include "tests/lib/check.h"

/* stream_fill against stream_byte at every start within a word and lengths across several words, with
 * a guard byte on either side that must stay untouched. */
static void test_fill_matches_definition(void)
{
    uint8_t buf[2 + 300];
    int bad = 0;

    for (uint64_t seed = 0; seed < 3; seed++)
        for (uint64_t pos = 0; pos < 24; pos++)
            for (size_t n = 0; n <= 299; n += n < 40 ? 1 : 37) {
                memset(buf, 0xa5, sizeof(buf));
                stream_fill(seed, pos + (seed << 40), buf + 1, n);
                for (size_t i = 0; i < n; i++)
                    bad += buf[1 + i] != stream_byte(seed, pos + (seed << 40) + i);
                bad += buf[0] != 0xa5 || buf[1 + n] != 0xa5;
            }
    CHECKF(bad == 0, "%d bytes differ from stream_byte or were written outside", bad);
}

/* The first bytes of seed 0 and seed 7 from position 5: the stream as every test and benchmark knows it. */
static void test_known_bytes(void)
{
    uint8_t b[16];
    char hex[33];

    stream_fill(0, 0, b, 16);
    for (int i = 0; i < 16; i++)
        snprintf(hex + 2 * i, 3, "%02x", b[i]);
    CHECKF(!strcmp(hex, "0000000000000000afcd1d7b39a820e2"), "seed 0: %s", hex);
    stream_fill(7, 5, b, 16);
    for (int i = 0; i < 16; i++)
        snprintf(hex + 2 * i, 3, "%02x", b[i]);
    CHECKF(!strcmp(hex, "30ae12dda1a1b5cb045ff789a9817b8a"), "seed 7 from 5: %s", hex);
}

int main(int argc, char **argv)
{
    static const struct check_case tests[] = {
        CHECK_CASE(test_fill_matches_definition),
        CHECK_CASE(test_known_bytes),
    };

    return check_main(argc, argv, tests, CHECK_COUNT(tests), NULL);
}
