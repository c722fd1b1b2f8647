/*
 * stream.h — a deterministic byte stream for transfers whose integrity is checked end to end.
 *
 * Byte i of the stream with a given seed is a function of (seed, i) alone, so a sender can start
 * anywhere and a receiver can verify or hash without either side storing the stream. Used by the
 * server's source service and by test clients.
 */
#ifndef SLUICE_STREAM_H
#define SLUICE_STREAM_H

#include <stddef.h>
#include <stdint.h>

static inline uint64_t stream_word(uint64_t seed, uint64_t index)
{
    uint64_t x = seed ^ (index * 0x9e3779b97f4a7c15ull);

    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* Write n bytes of the stream starting at byte position pos. */
static inline void stream_fill(uint64_t seed, uint64_t pos, uint8_t *dst, size_t n)
{
    while (n) {
        uint64_t word = stream_word(seed, pos >> 3);
        unsigned shift = (unsigned)(pos & 7);

        for (; shift < 8 && n; shift++, n--, pos++)
            *dst++ = (uint8_t)(word >> (8 * shift));
    }
}

#endif
