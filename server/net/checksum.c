/*
 * checksum.c — Internet checksum arithmetic (see checksum.h).
 */
#include "net/checksum.h"

#include <string.h>

uint32_t csum_partial(const void *data, size_t len, uint32_t sum)
{
    const uint8_t *p = data;
    uint64_t acc = sum;

    /* 8 bytes at a time: summing big-endian 64-bit words and folding is the same ones' complement sum */
    while (len >= 8) {
        uint64_t w;

        memcpy(&w, p, 8);
        w = __builtin_bswap64(w);
        acc += w >> 32;
        acc += w & 0xffffffffu;
        p += 8;
        len -= 8;
    }
    while (len >= 2) {
        acc += (uint32_t)p[0] << 8 | p[1];
        p += 2;
        len -= 2;
    }
    if (len)
        acc += (uint32_t)p[0] << 8;
    while (acc >> 32)
        acc = (acc & 0xffffffffu) + (acc >> 32);
    return (uint32_t)acc;
}

uint32_t csum_pseudo(const uint8_t *saddr, const uint8_t *daddr, int addr_len, uint8_t proto, uint32_t len)
{
    uint32_t sum = csum_partial(saddr, (size_t)addr_len, 0);

    sum = csum_partial(daddr, (size_t)addr_len, sum);
    sum += proto;
    sum += len >> 16;
    sum += len & 0xffff;
    return sum;
}
