/*
 * isn.c — keyed hashes of a connection's 4-tuple: the initial sequence number (RFC 6528: a 4 µs
 * clock plus SipHash-2-4 of the tuple under a secret, so ISNs cannot be predicted off-path) and
 * the connection table's bucket hash (SipHash-1-3, so chains cannot be flooded by chosen tuples).
 */
#include "common/siphash.h"
#include "net/tcp_conn.h"

_Static_assert(sizeof(struct pkt_tuple) % 8 == 0, "the tuple is hashed in 8-byte words");

uint32_t tcp_isn(const uint64_t secret[2], const struct pkt_tuple *t, uint64_t now_us)
{
    return (uint32_t)(now_us / 4) + (uint32_t)siphash(secret, (const uint8_t *)t, sizeof(*t), 2, 4);
}

uint32_t tcp_tuple_hash(const uint64_t secret[2], const struct pkt_tuple *t)
{
    return (uint32_t)siphash(secret, (const uint8_t *)t, sizeof(*t), 1, 3);
}
