/*
 * siphash.h — SipHash-c-d (Aumasson and Bernstein), the keyed hash sluice uses wherever a client
 * could otherwise choose inputs that collide: the TCP engine's initial sequence numbers (2-4) and
 * connection table (1-3), the per-client rate limit's table (1-3).
 */
#ifndef SLUICE_COMMON_SIPHASH_H
#define SLUICE_COMMON_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

/* SipHash-c_rounds-d_rounds of len bytes (a multiple of 8) under the 128-bit key k. */
uint64_t siphash(const uint64_t k[2], const uint8_t *in, size_t len, int c_rounds, int d_rounds);

#endif
