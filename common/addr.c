/*
 * addr.c — text <-> map form of IP addresses (see addr.h), on top of inet_pton/inet_ntop.
 */
#include "common/addr.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "maps/sluice_maps.h"

int addr_parse(const char *text, __u8 addr[16], __u8 *family)
{
    memset(addr, 0, 16);
    if (inet_pton(AF_INET, text, addr) == 1) {
        *family = SLUICE_IPV4;
        return 0;
    }
    if (inet_pton(AF_INET6, text, addr) == 1) {
        *family = SLUICE_IPV6;
        return 0;
    }
    return -1;
}

const char *addr_format(const __u8 addr[16], unsigned family, char *buf, size_t len)
{
    if (!inet_ntop(family == SLUICE_IPV6 ? AF_INET6 : AF_INET, addr, buf, len))
        snprintf(buf, len, "?");
    return buf;
}
