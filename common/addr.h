/*
 * addr.h — IPv4/IPv6 addresses as sluice's maps store them: 16 bytes plus a family, IPv4 in the
 * first four bytes. Parsing and printing for the agent, the server and the tests.
 */
#ifndef SLUICE_ADDR_H
#define SLUICE_ADDR_H

#include <stddef.h>
#include <linux/types.h>

#define ADDR_TEXT_MAX 46 /* INET6_ADDRSTRLEN */

/* Parse dotted IPv4 or IPv6 text; returns 0 and sets *family to SLUICE_IPV4/SLUICE_IPV6, or -1. */
int addr_parse(const char *text, __u8 addr[16], __u8 *family);

/* Write the address as text into buf (at least ADDR_TEXT_MAX bytes); returns buf. */
const char *addr_format(const __u8 addr[16], unsigned family, char *buf, size_t len);

#endif
