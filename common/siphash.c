/*
 * siphash.c — SipHash-c-d (see siphash.h).
 */
#include "common/siphash.h"

#include <string.h>

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

static void sip_round(uint64_t v[4])
{
    v[0] += v[1];
    v[1] = ROTL(v[1], 13);
    v[1] ^= v[0];
    v[0] = ROTL(v[0], 32);
    v[2] += v[3];
    v[3] = ROTL(v[3], 16);
    v[3] ^= v[2];
    v[0] += v[3];
    v[3] = ROTL(v[3], 21);
    v[3] ^= v[0];
    v[2] += v[1];
    v[1] = ROTL(v[1], 17);
    v[1] ^= v[2];
    v[2] = ROTL(v[2], 32);
}

uint64_t siphash(const uint64_t k[2], const uint8_t *in, size_t len, int c_rounds, int d_rounds)
{
    uint64_t v[4] = {k[0] ^ 0x736f6d6570736575ull, k[1] ^ 0x646f72616e646f6dull, k[0] ^ 0x6c7967656e657261ull,
                     k[1] ^ 0x7465646279746573ull};
    uint64_t m;

    for (size_t i = 0; i < len; i += 8) {
        memcpy(&m, in + i, 8);
        v[3] ^= m;
        for (int r = 0; r < c_rounds; r++)
            sip_round(v);
        v[0] ^= m;
    }
    m = (uint64_t)len << 56;
    v[3] ^= m;
    for (int r = 0; r < c_rounds; r++)
        sip_round(v);
    v[0] ^= m;
    v[2] ^= 0xff;
    for (int r = 0; r < d_rounds; r++)
        sip_round(v);
    return v[0] ^ v[1] ^ v[2] ^ v[3];
}
