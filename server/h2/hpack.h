/*
 * hpack.h — HPACK (RFC 7541) for the native HTTP/2 codec: the decoder of request field blocks and the
 * encoder of response field blocks, one of each per connection. Pure: bytes in, fields or bytes out;
 * no I/O, no clock, no global state. The only memory is the dynamic tables' storage, taken from the
 * caller's allocator (the session passes its worker's pool) in a few steps as a table fills — never
 * per request or per field — and given back by the _free functions.
 *
 * Where it sits: the session joins a HEADERS frame and its CONTINUATIONs into one contiguous block
 * and decodes it with one hpack_decode call into the stream's request buffer: each field comes out
 * through on_field with its name and value copied into that buffer, so they outlive the frames (a
 * name or value the static table holds is not copied: it points there, and lives forever). A
 * response's fields are encoded straight into the HEADERS frame being built:
 *
 *     n  = hpack_encode_block_start(&enc, out, cap);                  cap >= HPACK_BLOCK_START_MAX
 *     n += hpack_encode_status(&enc, out + n, cap - n, 200);
 *     n += hpack_encode_field(&enc, out + n, cap - n, name, name_len, value, value_len);    ...
 *     n += hpack_encode_content_length(&enc, out + n, cap - n, 13);
 *
 * An encode call that returns 0 wrote nothing and changed nothing: call it again with more room (the
 * rest of the block then goes into a CONTINUATION). A block once started must be sent whole and in
 * order: the encoder's table already holds what its fields inserted, as the peer's will.
 *
 * The decoder's errors are RFC 9113 §4.3 connection errors of type COMPRESSION_ERROR. Its limits
 * protect the server, not the protocol: they stop the copying of fields (a stream error, 431 or
 * RST_STREAM), never the decoding, so that the dynamic table stays in step with the peer's and the
 * connection survives. Work is bounded per input byte: a field that is not emitted costs O(1) if it
 * is an indexed reference (an "HPACK bomb" of references to one big entry copies nothing), and at
 * most one pass over its string bytes otherwise.
 *
 * Choices the RFC leaves open:
 *   - the decoder's table starts at min(max_table_size, 4096) (RFC 9113 §6.5.2: 4096 until the peer
 *     signals otherwise); a peer may raise it with a size update up to max_table_size. When we
 *     advertise less than 4096 we do not require the size update RFC 7541 §4.2 asks the peer for
 *     (nghttp2 does): the table is held to our maximum either way.
 *   - several size updates in a row at the start of a block are taken (§4.2 requires two in one case);
 *     one after a field is an error.
 *   - the encoder uses at most HPACK_ENCODER_TABLE_MAX bytes of the peer's table and says so with a
 *     size update in its first block, so that its table mirrors the peer decoder's exactly.
 */
#ifndef SLUICE_HPACK_H
#define SLUICE_HPACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Table storage. The session passes its worker's pool; one per worker, outliving the connections. */
struct hpack_alloc {
    void *(*alloc)(void *ctx, size_t n); /* NULL when there is no memory */
    void (*free)(void *ctx, void *p, size_t n);
    void *ctx;
};

/* A decoded field: name and value are in the caller's out buffer or, when name_index or value_static
 * says so, in the static table (not NUL-terminated either way). */
struct hpack_field {
    const uint8_t *name;
    uint32_t name_len;
    const uint8_t *value;
    uint32_t value_len;
    bool never_indexed; /* sent as "never indexed" (RFC 7541 §6.2.3): an intermediary keeps it so */
    uint8_t name_index; /* the name is the static table's entry name_index (RFC 7541 Appendix A; 0: it is
                           not): valid lowercase, needs no check, and tells the name without comparing */
    bool value_static;  /* the value is that entry's too */
};

enum hpack_result {
    HPACK_OK,
    /* A stream error: the fields past max_list_size or out_cap (or after on_field asked to stop) were
     * not emitted; the block was decoded to its end all the same and the table is consistent. */
    HPACK_LIST_TOO_LARGE,
    /* A connection error of type COMPRESSION_ERROR: the decoder must not be used again (every later
     * call returns it too). */
    HPACK_ERR_COMPRESSION,
    /* The allocator failed: treat as a connection error; the decoder must not be used again. */
    HPACK_ERR_NOMEM,
};

/* RFC 7541 §4.1: an entry's size is its name and value plus 32 bytes; so is a field's in a list's
 * size (RFC 9113 §6.5.2). */
#define HPACK_ENTRY_OVERHEAD 32

/* ---- the dynamic table (internal; embedded in the decoder and the encoder) ---------------------- */

/* Where an entry's name starts in the string ring; its value follows the name. */
struct hpack_slot {
    uint32_t off;
    uint32_t name_len;
    uint32_t value_len;
};

/*
 * A dynamic table (RFC 7541 §2.3.2): the decoder's, or the encoder's mirror of the peer decoder's.
 * One block of storage holds a ring of slots (the index: entry i is one load away) and a ring of the
 * entries' bytes, oldest evicted first; an entry's bytes may wrap around the ring's end. All-zero
 * but _alloc and _max is an empty table holding no storage.
 */
struct hpack_table {
    const struct hpack_alloc *_alloc;
    void *_mem;                /* _mem_size bytes: _slots, then _ring; NULL when no storage is held */
    struct hpack_slot *_slots; /* _nslots of them (a power of two); the newest entry is at _newest */
    uint8_t *_ring;            /* _ring_cap bytes */
    size_t _mem_size;
    uint32_t _nslots;
    uint32_t _ring_cap;
    uint32_t _count;     /* entries */
    uint32_t _newest;    /* the slot of entry 1 (the newest), when _count > 0 */
    uint32_t _ring_head; /* where the next entry's bytes go */
    uint32_t _ring_used; /* bytes the entries hold: they end at _ring_head */
    uint32_t _size;      /* the RFC size of the entries: HPACK_ENTRY_OVERHEAD + name + value each */
    uint32_t _max;       /* the maximum size (the last size update, or the initial one) */
};

/* ---- decoder ------------------------------------------------------------------------------------ */

struct hpack_decoder {
    struct hpack_table _table;
    uint32_t _settings_max; /* our SETTINGS_HEADER_TABLE_SIZE: no size update may go above it */
    bool _broken;           /* a connection error was returned: every later call fails */
    uint32_t _out_used;     /* bytes of out the last hpack_decode took */
};

/* max_table_size: the SETTINGS_HEADER_TABLE_SIZE we advertise (the protocol's default is 4096). *a is
 * kept (not copied). Holds no storage until the peer inserts an entry. */
void hpack_decoder_init(struct hpack_decoder *d, uint32_t max_table_size, const struct hpack_alloc *a);

/* Gives the table's storage back. d may be used again after hpack_decoder_init. */
void hpack_decoder_free(struct hpack_decoder *d);

/* Bytes of storage held now (the struct itself not counted). */
size_t hpack_decoder_footprint(const struct hpack_decoder *d);

/* The dynamic table as RFC 7541 §4.1 counts it (for tests and /metrics). */
uint32_t hpack_decoder_table_size(const struct hpack_decoder *d);
uint32_t hpack_decoder_table_count(const struct hpack_decoder *d);

/*
 * Decodes one whole field block (HEADERS + CONTINUATIONs joined, contiguous: in[0..len)). Each field,
 * in order, has its name and value copied into out[0..out_cap) (packed, name then value; out is not
 * NULL) and goes to on_field (which may be NULL); the strings stay valid as long as out does.
 *
 * Fields are emitted while the list's size (32 + name + value per field, RFC 9113 §6.5.2) stays
 * within max_list_size and their bytes within out_cap. The first field past either bound, or
 * on_field returning nonzero (the field it was given was emitted), stops emission: the rest of the
 * block is still decoded, without copying anything (only the dynamic table's insertions are made),
 * and the result is HPACK_LIST_TOO_LARGE — for a stop asked by on_field too. A COMPRESSION_ERROR
 * found later in the block wins over it.
 *
 * HPACK_ERR_COMPRESSION for: index 0, or past the static and dynamic tables; an integer above
 * 2^32 - 1 or of more than 5 continuation bytes; a string past the block's end; a Huffman string
 * containing EOS, or padded with more than 7 bits or with a 0 bit; a dynamic table size update above
 * max_table_size, or after the block's first field; a block ending inside a field.
 */
enum hpack_result hpack_decode(struct hpack_decoder *d, const uint8_t *in, size_t len, uint8_t *out,
                               size_t out_cap, uint32_t max_list_size,
                               int (*on_field)(void *ctx, const struct hpack_field *f), void *ctx);

/* Bytes of out the last hpack_decode that did not fail took: what follows is free for another block. */
uint32_t hpack_decoder_out_used(const struct hpack_decoder *d);

/* ---- encoder ------------------------------------------------------------------------------------ */

/*
 * The most of the peer's dynamic table the encoder uses: room for the few fields that repeat from
 * response to response (content-type values, server, cache-control, vary) and no more, so that an
 * idle connection holds little.
 */
#define HPACK_ENCODER_TABLE_MAX 512

/* Room hpack_encode_block_start may need: two dynamic table size updates. */
#define HPACK_BLOCK_START_MAX 12

struct hpack_encoder {
    struct hpack_table _table; /* the peer decoder's table, entry for entry */
    uint32_t _peer_max;        /* the peer's SETTINGS_HEADER_TABLE_SIZE */
    uint32_t _low;             /* the smallest size the table had to fit since the last block started */
    bool _update;              /* a size update is due at the next block_start */
};

/* The peer's table size is the protocol's default (4096) until hpack_encoder_set_peer_table_size. */
void hpack_encoder_init(struct hpack_encoder *e, const struct hpack_alloc *a);
void hpack_encoder_free(struct hpack_encoder *e);
size_t hpack_encoder_footprint(const struct hpack_encoder *e);

/* The peer's SETTINGS_HEADER_TABLE_SIZE, when a SETTINGS frame carries one. Takes effect at the next
 * hpack_encode_block_start, which signals it (RFC 7541 §4.2, §6.3). */
void hpack_encoder_set_peer_table_size(struct hpack_encoder *e, uint32_t n);

/*
 * Each returns the bytes written to out, or 0 when they do not fit in cap (out untouched, the encoder
 * unchanged). Names must be lowercase (RFC 9113 §8.2.1); nothing is checked.
 */

/* First in every block: writes the dynamic table size update(s) due, if any (so may return 0 with
 * nothing to do). Needs at most HPACK_BLOCK_START_MAX bytes. */
size_t hpack_encode_block_start(struct hpack_encoder *e, uint8_t *out, size_t cap);

/* :status, 100-999 (any other value writes nothing): one byte for 200 204 206 304 400 404 500 (static
 * entries), else a literal with the static name, never inserted. */
size_t hpack_encode_status(struct hpack_encoder *e, uint8_t *out, size_t cap, int status);

/* content-length: a literal without indexing (static name 28): each response's value differs. */
size_t hpack_encode_content_length(struct hpack_encoder *e, uint8_t *out, size_t cap, uint64_t n);

/*
 * Any other field. A field already in the table is one indexed byte (or two); else a literal whose
 * name is an index where one exists (the static table's, else an entry of ours with that name), its
 * strings Huffman-coded when that is shorter. A field likely to repeat is
 * inserted (incremental indexing) when it takes at most half the table; fields whose values change or
 * are secrets never are: content-length, date, age, etag, last-modified, expires, location,
 * content-range, cookie, and set-cookie, authorization, proxy-authorization, which go as "never
 * indexed" (RFC 7541 §7.1.3) so that no intermediary indexes them either.
 */
size_t hpack_encode_field(struct hpack_encoder *e, uint8_t *out, size_t cap, const uint8_t *name,
                          size_t name_len, const uint8_t *value, size_t value_len);

#endif
