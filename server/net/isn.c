/*
 * isn.c — keyed hashes of a connection's 4-tuple: the initial sequence number (RFC 6528: a 4 µs
 * clock plus SipHash-2-4 of the tuple under a secret, so ISNs cannot be predicted off-path) and
 * the connection table's bucket hash (SipHash-1-3, so chains cannot be flooded by chosen tuples).
 */
#include <string.h>

#include "net/tcp_conn.h"

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

/* SipHash-c-d of len bytes (len a multiple of 8) under key k. */
static uint64_t siphash(const uint64_t k[2], const uint8_t *in, size_t len, int c_rounds, int d_rounds)
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

_Static_assert(sizeof(struct pkt_tuple) % 8 == 0, "the tuple is hashed in 8-byte words");

uint32_t tcp_isn(const uint64_t secret[2], const struct pkt_tuple *t, uint64_t now_us)
{
    return (uint32_t)(now_us / 4) + (uint32_t)siphash(secret, (const uint8_t *)t, sizeof(*t), 2, 4);
}

uint32_t tcp_tuple_hash(const uint64_t secret[2], const struct pkt_tuple *t)
{
    return (uint32_t)siphash(secret, (const uint8_t *)t, sizeof(*t), 1, 3);
}
