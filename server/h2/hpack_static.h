/*
 * hpack_static.h — the HPACK static table (RFC 7541 Appendix A), shared by the decoder and the
 * encoder of server/h2/hpack.c (and read by its tests). Constant data; nothing to initialise.
 */
#ifndef SLUICE_HPACK_STATIC_H
#define SLUICE_HPACK_STATIC_H

#include <stddef.h>
#include <stdint.h>

#define HPACK_STATIC_COUNT    61 /* entries 1-61; dynamic table entries are numbered from 62 */
#define HPACK_STATIC_NAME_MAX 27 /* the longest name: access-control-allow-origin */

struct hpack_static_entry {
    const char *name;
    const char *value;
    uint8_t name_len;
    uint8_t value_len;
};

/* The static indexes (the first of a name's entries) a request's reader tells fields by. */
enum hpack_static_name {
    HPACK_STATIC_AUTHORITY = 1,
    HPACK_STATIC_METHOD = 2, /* and 3 */
    HPACK_STATIC_PATH = 4,   /* and 5 */
    HPACK_STATIC_SCHEME = 6, /* and 7 */
    HPACK_STATIC_STATUS = 8, /* to 14 */
    HPACK_STATIC_CONTENT_LENGTH = 28,
    HPACK_STATIC_HOST = 38,
    HPACK_STATIC_TRANSFER_ENCODING = 57,
};

/* Indexed 1-61 as on the wire; entry 0 is empty. */
extern const struct hpack_static_entry hpack_static_table[HPACK_STATIC_COUNT + 1];

/*
 * The first static index whose name is name[0..len), or 0 when none has it. The entries with the same
 * name follow each other (:status 8-14), so a caller looking for a value too scans on from there.
 */
uint32_t hpack_static_find_name(const uint8_t *name, size_t len);

#endif
