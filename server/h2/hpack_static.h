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

/* Indexed 1-61 as on the wire; entry 0 is empty. */
extern const struct hpack_static_entry hpack_static_table[HPACK_STATIC_COUNT + 1];

/*
 * The first static index whose name is name[0..len), or 0 when none has it. The entries with the same
 * name follow each other (:status 8-14), so a caller looking for a value too scans on from there.
 */
uint32_t hpack_static_find_name(const uint8_t *name, size_t len);

#endif
