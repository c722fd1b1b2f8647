/*
 * checksum.h — the Internet checksum (RFC 1071) and its incremental update (RFC 1624).
 *
 * Sums are carried as 32-bit partial sums and folded once at the end, so a segment's checksum is
 * pseudo-header + TCP header + payload, where the payload's sum can be computed once and kept with
 * its frame for every retransmission.
 */
#ifndef SLUICE_NET_CHECKSUM_H
#define SLUICE_NET_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>

/* Add len bytes at data (treated as big-endian 16-bit words from data) to sum. */
uint32_t csum_partial(const void *data, size_t len, uint32_t sum);

/* Fold a partial sum to 16 bits (not complemented). */
static inline uint16_t csum_fold(uint32_t sum)
{
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)sum;
}

/* The checksum field value for a finished sum, complemented, to be stored big-endian. */
static inline uint16_t csum_finish(uint32_t sum)
{
    return (uint16_t)~csum_fold(sum);
}

/*
 * The partial sum of bytes placed at offset at of a larger sum (RFC 1071 2(B): at an odd offset,
 * their 16-bit words straddle the larger one's, which swaps the bytes of their sum), folded.
 */
static inline uint32_t csum_at(uint32_t sum, uint32_t at)
{
    uint16_t folded = csum_fold(sum);

    return at & 1 ? (uint16_t)(folded << 8 | folded >> 8) : folded;
}

/* Partial sum of the TCP pseudo-header: addresses (4 or 16 bytes each), protocol, TCP length. */
uint32_t csum_pseudo(const uint8_t *saddr, const uint8_t *daddr, int addr_len, uint8_t proto, uint32_t len);

/*
 * RFC 1624 eqn. 3: the new value of a checksum field when a 16-bit word of the data it covers
 * changes from old to new (all three as big-endian values read from the wire).
 */
static inline uint16_t csum_replace16(uint16_t check, uint16_t old, uint16_t new_)
{
    uint32_t sum = (uint16_t)~check + (uint16_t)~old + new_;

    return (uint16_t)~csum_fold(sum);
}

#endif
