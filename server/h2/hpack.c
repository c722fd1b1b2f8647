/*
 * hpack.c — HPACK (RFC 7541) of hpack.h: the dynamic table both sides share, the decoder of request
 * blocks, the encoder of response blocks. No I/O, no clock, no allocation but table storage from the
 * caller's allocator, which happens when a table outgrows its block (a few times per connection).
 *
 * The table keeps an index of slots beside the ring of bytes, so entry i is found with one mask and
 * one load; eviction (RFC 7541 §4.4) only moves the ring's tail. A new entry's room is made before
 * anything is written: if the storage must grow, the new block is allocated before any entry is
 * evicted, so a failed allocation leaves the table as it was.
 *
 * The decoder copies as it decodes: strings go straight from the block (raw, or through the Huffman
 * state machine of hpack_huffdec.h) into the caller's buffer, and an inserted entry is copied from
 * there into the ring. Once emission stops (a limit, or the caller), the rest of the block runs in a
 * "skip" mode that copies nothing but what the table must insert, so the table stays in step with the
 * peer's and a field costs at most one pass over its bytes (two for a Huffman string that is inserted:
 * one to learn its length, one to write it).
 */
#include "h2/hpack.h"

#include <string.h>

#include "common/hpack_huffman.h"
#include "h2/hpack_huffdec.h"
#include "h2/hpack_static.h"

#define MIN(a, b) ((a) < (b) ? (a) : (b))

/* The storage steps: the ring grows 256 -> 1 KiB -> 4 KiB ... up to the table's maximum size, the
 * slots 8 -> 16 -> 32 ... so that a connection with a few small entries holds a few hundred bytes. */
#define RING_FIRST  256u
#define SLOTS_FIRST 8u

/* The peer's table size before its SETTINGS says otherwise (RFC 9113 §6.5.2). */
#define DEFAULT_TABLE_SIZE 4096u

static void copy(uint8_t *dst, const void *src, size_t n)
{
    if (n) /* memcpy's pointers must be valid even for 0 bytes: a table without storage has none */
        memcpy(dst, src, n);
}

/* ---- the dynamic table ------------------------------------------------------------------------- */

/* Entry i, 1 the newest, i <= _count. */
static const struct hpack_slot *table_slot(const struct hpack_table *t, uint32_t i)
{
    return &t->_slots[(t->_newest - (i - 1)) & (t->_nslots - 1)];
}

/* pos + add in the ring (add <= _ring_cap). */
static uint32_t ring_at(const struct hpack_table *t, uint32_t pos, uint32_t add)
{
    uint64_t p = (uint64_t)pos + add;

    return (uint32_t)(p >= t->_ring_cap ? p - t->_ring_cap : p);
}

static void ring_write(struct hpack_table *t, uint32_t pos, const uint8_t *src, uint32_t len)
{
    uint32_t first = t->_ring_cap - pos;

    if (len <= first) {
        copy(t->_ring + pos, src, len);
    } else {
        copy(t->_ring + pos, src, first);
        copy(t->_ring, src + first, len - first);
    }
}

static void ring_read(const struct hpack_table *t, uint32_t pos, uint8_t *dst, uint32_t len)
{
    uint32_t first = t->_ring_cap - pos;

    if (len <= first) {
        copy(dst, t->_ring + pos, len);
    } else {
        copy(dst, t->_ring + pos, first);
        copy(dst + first, t->_ring, len - first);
    }
}

static bool ring_equal(const struct hpack_table *t, uint32_t pos, const uint8_t *s, uint32_t len)
{
    uint32_t first = t->_ring_cap - pos;

    if (len <= first)
        return !len || !memcmp(t->_ring + pos, s, len);
    return !memcmp(t->_ring + pos, s, first) && !memcmp(t->_ring, s + first, len - first);
}

/*
 * Copies len bytes from src to dst within the ring, front to back, a byte at a time. Used for a new
 * entry's name taken from an entry being evicted: dst is the start of the free space and src lies
 * after it in ring order, so each byte is read before the copy can reach it.
 */
static void ring_move(struct hpack_table *t, uint32_t dst, uint32_t src, uint32_t len)
{
    for (uint32_t i = 0; i < len; i++) {
        t->_ring[dst] = t->_ring[src];
        dst = dst + 1 == t->_ring_cap ? 0 : dst + 1;
        src = src + 1 == t->_ring_cap ? 0 : src + 1;
    }
}

static void table_release(struct hpack_table *t)
{
    if (t->_mem)
        t->_alloc->free(t->_alloc->ctx, t->_mem, t->_mem_size);
    *t = (struct hpack_table){._alloc = t->_alloc, ._max = t->_max};
}

static void table_evict_oldest(struct hpack_table *t)
{
    const struct hpack_slot *s = table_slot(t, t->_count);

    t->_size -= HPACK_ENTRY_OVERHEAD + s->name_len + s->value_len;
    t->_ring_used -= s->name_len + s->value_len;
    t->_count--;
}

/* A size update (RFC 7541 §4.3): evicts down to the new maximum; an emptied table gives its storage
 * back (a peer that turns the table off costs nothing). */
static void table_set_max(struct hpack_table *t, uint32_t max)
{
    t->_max = max;
    while (t->_size > max)
        table_evict_oldest(t);
    if (!t->_count)
        table_release(t);
}

enum room { ROOM_OK, ROOM_TOO_LARGE, ROOM_NOMEM };

/*
 * A new block for the newest `keep` entries (keep_bytes of strings) and a new one of n + v bytes: the
 * entries kept are laid out from the ring's start, oldest first, and the new entry's room follows. A
 * name taken from an entry (name_from) is copied into that room from the old block before it is
 * freed. Returns false, the table untouched, when the allocator fails.
 */
static bool table_grow(struct hpack_table *t, uint32_t keep, uint32_t keep_bytes, uint32_t keep_size,
                       uint32_t n, uint32_t v, const struct hpack_slot *name_from, uint32_t *pos)
{
    uint64_t need = (uint64_t)keep_bytes + n + v, ring = RING_FIRST;
    uint32_t nslots = t->_nslots ? t->_nslots : SLOTS_FIRST, off = 0;
    struct hpack_slot *slots;
    size_t size;
    uint8_t *mem;

    while (ring < need)
        ring *= 4;
    if (ring < t->_ring_cap)
        ring = t->_ring_cap;
    if (ring > t->_max) /* strings never exceed _max - 32: the maximum is always room enough */
        ring = t->_max;
    while (nslots < keep + 1)
        nslots *= 2;
    size = (size_t)nslots * sizeof(struct hpack_slot) + (size_t)ring;
    if (!(mem = t->_alloc->alloc(t->_alloc->ctx, size)))
        return false;
    slots = (struct hpack_slot *)mem;
    for (uint32_t i = keep; i >= 1; i--) {
        const struct hpack_slot *s = table_slot(t, i);

        ring_read(t, s->off, mem + (size_t)nslots * sizeof(*slots) + off, s->name_len + s->value_len);
        slots[keep - i] = (struct hpack_slot){off, s->name_len, s->value_len};
        off += s->name_len + s->value_len;
    }
    if (name_from)
        ring_read(t, name_from->off, mem + (size_t)nslots * sizeof(*slots) + off, n);
    if (t->_mem)
        t->_alloc->free(t->_alloc->ctx, t->_mem, t->_mem_size);
    t->_mem = mem;
    t->_mem_size = size;
    t->_slots = slots;
    t->_ring = mem + (size_t)nslots * sizeof(*slots);
    t->_nslots = nslots;
    t->_ring_cap = (uint32_t)ring;
    t->_count = keep;
    t->_newest = keep - 1; /* wraps to the last slot when keep is 0: the next entry goes to slot 0 */
    t->_ring_used = off;
    t->_size = keep_size;
    *pos = off == ring ? 0 : off;
    t->_ring_head = *pos;
    return true;
}

/*
 * Makes room for a new entry of an n-byte name and a v-byte value (RFC 7541 §4.4): the oldest entries
 * are evicted until it fits. Returns its place in *pos (ROOM_OK), ROOM_TOO_LARGE when the entry is
 * larger than the whole table (which is then empty, and the entry not added), or ROOM_NOMEM (the table
 * unchanged). With name_from, the slot of the entry the name comes from, the name is copied into place
 * here (it may be among the evicted entries: RFC 7541 §4.4's caution); otherwise the caller writes it.
 * table_commit then adds the entry.
 */
static enum room table_make_room(struct hpack_table *t, uint32_t n, uint32_t v,
                                 const struct hpack_slot *name_from, uint32_t *pos)
{
    uint64_t need = (uint64_t)HPACK_ENTRY_OVERHEAD + n + v;
    uint32_t evict = 0, size = t->_size, used = t->_ring_used;

    if (need > t->_max) {
        t->_count = t->_size = t->_ring_used = 0;
        return ROOM_TOO_LARGE;
    }
    while (size + need > t->_max) {
        const struct hpack_slot *s = table_slot(t, t->_count - evict);

        size -= HPACK_ENTRY_OVERHEAD + s->name_len + s->value_len;
        used -= s->name_len + s->value_len;
        evict++;
    }
    if ((uint64_t)used + n + v > t->_ring_cap || t->_count - evict + 1 > t->_nslots)
        return table_grow(t, t->_count - evict, used, size, n, v, name_from, pos) ? ROOM_OK : ROOM_NOMEM;
    t->_count -= evict;
    t->_size = size;
    t->_ring_used = used;
    *pos = t->_ring_head;
    if (name_from)
        ring_move(t, *pos, name_from->off, n);
    return ROOM_OK;
}

/* Adds the entry whose bytes are now at pos (after table_make_room). */
static void table_commit(struct hpack_table *t, uint32_t pos, uint32_t n, uint32_t v)
{
    t->_newest = (t->_newest + 1) & (t->_nslots - 1);
    t->_slots[t->_newest] = (struct hpack_slot){pos, n, v};
    t->_count++;
    t->_ring_used += n + v;
    t->_size += HPACK_ENTRY_OVERHEAD + n + v;
    t->_ring_head = ring_at(t, pos, n + v);
}

/* Adds an entry whose name and value are in memory outside the table; false when out of memory. */
static bool table_add(struct hpack_table *t, const uint8_t *name, uint32_t n, const uint8_t *value,
                      uint32_t v)
{
    uint32_t pos;

    switch (table_make_room(t, n, v, NULL, &pos)) {
    case ROOM_NOMEM:
        return false;
    case ROOM_TOO_LARGE:
        return true;
    case ROOM_OK:
        break;
    }
    ring_write(t, pos, name, n);
    ring_write(t, ring_at(t, pos, n), value, v);
    table_commit(t, pos, n, v);
    return true;
}

/* ---- Huffman decoding (RFC 7541 §5.2) ----------------------------------------------------------- */

/*
 * One loop, three uses (count, decode into a buffer, decode into the ring): each byte moves the state
 * machine and hands the symbols it completes, if any, to EMIT. A string is good when no byte completes
 * EOS and the state after the last one accepts the end (the padding is 0-7 one bits).
 */
#define HUFF_LOOP(src, len, EMIT)                                                                            \
    do {                                                                                                     \
        unsigned row_ = 0, flags_ = HPACK_HUFFDEC_ACCEPT;                                                    \
        for (uint32_t i_ = 0; i_ < (len); i_++) {                                                            \
            const struct hpack_huffdec *e_ = &hpack_huffdec_table[row_][(src)[i_]];                          \
            if (e_->flags & HPACK_HUFFDEC_FAIL)                                                              \
                return -1;                                                                                   \
            for (unsigned k_ = 0; k_ < (e_->flags & HPACK_HUFFDEC_NSYMS); k_++)                              \
                EMIT(e_->sym[k_]);                                                                           \
            row_ = e_->next;                                                                                 \
            flags_ = e_->flags;                                                                              \
        }                                                                                                    \
        if (!(flags_ & HPACK_HUFFDEC_ACCEPT))                                                                \
            return -1;                                                                                       \
    } while (0)

/* The decoded length of a Huffman string, or -1 when it is not a valid one. */
static int64_t huff_count(const uint8_t *src, uint32_t len)
{
    int64_t n = 0;

#define COUNT(sym) n++
    HUFF_LOOP(src, len, COUNT);
#undef COUNT
    return n;
}

/* Decodes into dst, which has room for the result; the decoded length, or -1. */
static int64_t huff_decode(const uint8_t *src, uint32_t len, uint8_t *dst)
{
    uint8_t *o = dst;

#define PUT(sym) *o++ = (sym)
    HUFF_LOOP(src, len, PUT);
#undef PUT
    return o - dst;
}

/*
 * huff_decode for a dst with room for two bytes more than the longest possible result
 * (HUFF_FAST_SPARE): each byte stores both of its entry's symbol slots whether or not it completes
 * them (the pointer moves by the number it does), and failure is looked at once, at the end (a failing
 * entry leads to the root and emits nothing), so the loop has no branch but its own. The common case:
 * out has room to spare.
 */
#define HUFF_FAST_SPARE 2

static int64_t huff_decode_fast(const uint8_t *src, uint32_t len, uint8_t *dst)
{
    uint8_t *o = dst;
    unsigned row = 0, flags = HPACK_HUFFDEC_ACCEPT, seen = 0;

    for (uint32_t i = 0; i < len; i++) {
        const struct hpack_huffdec *e = &hpack_huffdec_table[row][src[i]];

        o[0] = e->sym[0];
        o[1] = e->sym[1];
        o += e->flags & HPACK_HUFFDEC_NSYMS;
        seen |= e->flags;
        row = e->next;
        flags = e->flags;
    }
    if ((seen & HPACK_HUFFDEC_FAIL) || !(flags & HPACK_HUFFDEC_ACCEPT))
        return -1;
    return o - dst;
}

/* Decodes into the ring from pos, known to have room (the string was counted first). */
static int64_t huff_decode_ring(struct hpack_table *t, const uint8_t *src, uint32_t len, uint32_t pos)
{
    int64_t n = 0;

#define PUT_RING(sym)                                                                                        \
    do {                                                                                                     \
        t->_ring[pos] = (sym);                                                                               \
        pos = pos + 1 == t->_ring_cap ? 0 : pos + 1;                                                         \
        n++;                                                                                                 \
    } while (0)
    HUFF_LOOP(src, len, PUT_RING);
#undef PUT_RING
    return n;
}

/* ---- decoder: reading representations ----------------------------------------------------------- */

/*
 * An integer with an N-bit prefix (RFC 7541 §5.1). As nghttp2: at most 5 continuation bytes (shifts
 * 0-28) and a value within 32 bits; anything longer is an error, not a bigger number.
 */
static bool read_int(const uint8_t **pp, const uint8_t *end, unsigned prefix, uint32_t *v)
{
    const uint8_t *p = *pp;
    uint32_t mask = (1u << prefix) - 1;
    uint64_t acc = *p++ & mask;

    if (acc == mask) {
        for (unsigned shift = 0;; shift += 7) {
            if (p == end || shift > 28)
                return false;
            acc += (uint64_t)(*p & 0x7f) << shift;
            if (acc > UINT32_MAX)
                return false;
            if (!(*p++ & 0x80))
                break;
        }
    }
    *v = (uint32_t)acc;
    *pp = p;
    return true;
}

/* A string literal's place in the block (RFC 7541 §5.2). */
struct str {
    const uint8_t *p;
    uint32_t len;
    bool huff;
};

static bool read_str(const uint8_t **pp, const uint8_t *end, struct str *s)
{
    uint32_t len;

    if (*pp == end)
        return false;
    s->huff = **pp & 0x80;
    if (!read_int(pp, end, 7, &len) || len > (size_t)(end - *pp))
        return false;
    s->p = *pp;
    s->len = len;
    *pp += len;
    return true;
}

/* Its decoded length, or -1 for a bad Huffman string. */
static int64_t str_decoded_len(const struct str *s)
{
    return s->huff ? huff_count(s->p, s->len) : (int64_t)s->len;
}

#define NOFIT (-2) /* put_str: the string does not fit the room given */

/* The string into dst (room bytes): its length, -1 for a bad Huffman string, or NOFIT. */
static int64_t put_str(const struct str *s, uint8_t *dst, size_t room)
{
    int64_t n;

    if (!s->huff) {
        if (s->len > room)
            return NOFIT;
        copy(dst, s->p, s->len);
        return s->len;
    }
    if ((uint64_t)s->len * 8 / 5 + HUFF_FAST_SPARE <= room) /* every code is 5 bits or more */
        return huff_decode_fast(s->p, s->len, dst);
    if ((n = huff_count(s->p, s->len)) < 0)
        return -1;
    return (uint64_t)n > room ? NOFIT : huff_decode(s->p, s->len, dst);
}

/* The string into the ring at pos (room made for its decoded length). */
static void put_str_ring(struct hpack_table *t, const struct str *s, uint32_t pos)
{
    if (s->huff)
        huff_decode_ring(t, s->p, s->len, pos); /* validated when counted */
    else
        ring_write(t, pos, s->p, s->len);
}

/* An entry named by index (RFC 7541 §2.3.3): a static one (slot NULL) or a dynamic one. */
struct ref {
    const uint8_t *name, *value; /* static entries only */
    const struct hpack_slot *slot;
    uint32_t name_len, value_len;
    uint8_t static_index; /* static entries only */
};

static bool lookup(const struct hpack_table *t, uint32_t idx, struct ref *r)
{
    if (idx == 0) /* RFC 7541 §6.1: index 0 is an error */
        return false;
    if (idx <= HPACK_STATIC_COUNT) {
        const struct hpack_static_entry *s = &hpack_static_table[idx];

        *r = (struct ref){(const uint8_t *)s->name,
                          (const uint8_t *)s->value,
                          NULL,
                          s->name_len,
                          s->value_len,
                          (uint8_t)idx};
        return true;
    }
    if (idx - HPACK_STATIC_COUNT > t->_count) /* RFC 7541 §2.3.3: past both tables */
        return false;
    r->slot = table_slot(t, idx - HPACK_STATIC_COUNT);
    r->name_len = r->slot->name_len;
    r->value_len = r->slot->value_len;
    return true;
}

/* The entry's name, then (with_value) its value, into dst (room checked by the caller). */
static void ref_copy(const struct hpack_table *t, const struct ref *r, uint8_t *dst, bool with_value)
{
    if (r->slot) {
        ring_read(t, r->slot->off, dst, r->name_len + (with_value ? r->value_len : 0));
    } else {
        copy(dst, r->name, r->name_len);
        if (with_value)
            copy(dst + r->name_len, r->value, r->value_len);
    }
}

/* ---- decoder ------------------------------------------------------------------------------------ */

void hpack_decoder_init(struct hpack_decoder *d, uint32_t max_table_size, const struct hpack_alloc *a)
{
    *d = (struct hpack_decoder){
        ._table = {._alloc = a, ._max = MIN(max_table_size, DEFAULT_TABLE_SIZE)},
        ._settings_max = max_table_size,
    };
}

void hpack_decoder_free(struct hpack_decoder *d)
{
    table_release(&d->_table);
}

size_t hpack_decoder_footprint(const struct hpack_decoder *d)
{
    return d->_table._mem_size;
}

uint32_t hpack_decoder_table_size(const struct hpack_decoder *d)
{
    return d->_table._size;
}

uint32_t hpack_decoder_table_count(const struct hpack_decoder *d)
{
    return d->_table._count;
}

uint32_t hpack_decoder_out_used(const struct hpack_decoder *d)
{
    return d->_out_used;
}

/* What is being decoded, and how much of it has been emitted. */
struct emission {
    uint8_t *out;
    size_t out_cap, used;
    uint64_t list;
    uint32_t max_list;
    bool on; /* still emitting */
};

/* Would a field of n + v bytes keep the emitted list within both bounds? */
static bool fits(const struct emission *em, uint32_t n, uint32_t v)
{
    return (uint64_t)n + v <= em->out_cap - em->used &&
           em->list + HPACK_ENTRY_OVERHEAD + n + v <= (uint64_t)em->max_list;
}

enum hpack_result hpack_decode(struct hpack_decoder *d, const uint8_t *in, size_t len, uint8_t *out,
                               size_t out_cap, uint32_t max_list_size,
                               int (*on_field)(void *ctx, const struct hpack_field *f), void *ctx)
{
    struct hpack_table *t = &d->_table;
    const uint8_t *p = in, *end = in + len;
    struct emission em = {.out = out, .out_cap = out_cap, .max_list = max_list_size, .on = true};
    bool field_seen = false;
    enum hpack_result ret = HPACK_OK;

    if (d->_broken)
        return HPACK_ERR_COMPRESSION;
    while (p < end) {
        const uint8_t *rep = p; /* where this representation starts: skip mode may read it again */
        struct hpack_field f = {0};
        struct str name = {0}, value;
        struct ref r;
        uint32_t idx, pos;
        bool insert;
        int64_t n, v;

        if (*p & 0x80) { /* indexed field (RFC 7541 §6.1) */
            if (!read_int(&p, end, 7, &idx) || !lookup(t, idx, &r))
                goto compression_error;
            field_seen = true;
            if (!em.on) /* O(1): an index costs nothing more once emission has stopped */
                continue;
            if (!fits(&em, r.name_len, r.value_len)) {
                em.on = false;
                ret = HPACK_LIST_TOO_LARGE;
                continue;
            }
            if (r.slot) {
                ref_copy(t, &r, out + em.used, true);
                f = (struct hpack_field){.name = out + em.used,
                                         .name_len = r.name_len,
                                         .value = out + em.used + r.name_len,
                                         .value_len = r.value_len};
            } else { /* the static table's strings live forever: no copy (out's room is taken all the same) */
                f = (struct hpack_field){.name = r.name,
                                         .name_len = r.name_len,
                                         .value = r.value,
                                         .value_len = r.value_len,
                                         .name_index = r.static_index,
                                         .value_static = true};
            }
            goto emitted;
        }
        if ((*p & 0xe0) == 0x20) { /* dynamic table size update (RFC 7541 §6.3) */
            /* §4.2: at the start of a block only; §6.3: within the maximum we advertised */
            if (field_seen || !read_int(&p, end, 5, &idx) || idx > d->_settings_max)
                goto compression_error;
            table_set_max(t, idx);
            continue;
        }
        /* a literal (RFC 7541 §6.2): with incremental indexing (01), without (0000), never indexed (0001) */
        field_seen = true;
        insert = *p & 0x40;
        f.never_indexed = !insert && (*p & 0x10);
        if (!read_int(&p, end, insert ? 6 : 4, &idx))
            goto compression_error;
        r = (struct ref){0};
        if (idx ? !lookup(t, idx, &r) : !read_str(&p, end, &name))
            goto compression_error;
        if (!read_str(&p, end, &value))
            goto compression_error;

        if (em.on) {
            uint8_t *dst = out + em.used;
            size_t room = out_cap - em.used;

            if (idx) {
                n = r.name_len <= room ? (int64_t)r.name_len : NOFIT;
                if (n >= 0 && r.slot)
                    ref_copy(t, &r, dst, false);
            } else {
                n = put_str(&name, dst, room);
            }
            v = n >= 0 ? put_str(&value, dst + n, room - (size_t)n) : n;
            if (n == -1 || v == -1)
                goto compression_error;
            if (n == NOFIT || v == NOFIT || !fits(&em, (uint32_t)n, (uint32_t)v)) {
                em.on = false; /* decode this field again in skip mode: it may have to be inserted */
                ret = HPACK_LIST_TOO_LARGE;
                p = rep;
                continue;
            }
            f.name = idx && !r.slot ? r.name : dst; /* a static name is not copied, as above */
            f.name_index = idx && !r.slot ? r.static_index : 0;
            if (insert && !table_add(t, f.name, (uint32_t)n, dst + n, (uint32_t)v))
                goto nomem;
            f.name_len = (uint32_t)n;
            f.value = dst + n;
            f.value_len = (uint32_t)v;
            goto emitted;
        }

        /* skip mode: the strings are checked (a bad Huffman string is still an error) and, for an
         * insertion, written into the table only */
        n = idx ? r.name_len : str_decoded_len(&name);
        v = str_decoded_len(&value);
        if (n < 0 || v < 0)
            goto compression_error;
        if (!insert)
            continue;
        if (n > UINT32_MAX || v > UINT32_MAX) /* a Huffman string of 2.7 GB or more: larger than any table */
            n = v = UINT32_MAX;
        switch (table_make_room(t, (uint32_t)n, (uint32_t)v, r.slot, &pos)) {
        case ROOM_NOMEM:
            goto nomem;
        case ROOM_TOO_LARGE:
            continue;
        case ROOM_OK:
            break;
        }
        if (!idx)
            put_str_ring(t, &name, pos);
        else if (!r.slot)
            ring_write(t, pos, r.name, (uint32_t)n);
        put_str_ring(t, &value, ring_at(t, pos, (uint32_t)n));
        table_commit(t, pos, (uint32_t)n, (uint32_t)v);
        continue;

    emitted:
        em.used += f.name_len + f.value_len;
        em.list += HPACK_ENTRY_OVERHEAD + f.name_len + f.value_len;
        if (on_field && on_field(ctx, &f)) {
            em.on = false;
            ret = HPACK_LIST_TOO_LARGE;
        }
    }
    d->_out_used = (uint32_t)em.used;
    return ret;

compression_error:
    d->_broken = true;
    return HPACK_ERR_COMPRESSION;
nomem:
    d->_broken = true;
    return HPACK_ERR_NOMEM;
}

/* ---- encoder: writing representations ----------------------------------------------------------- */

/* Bytes of v as an integer with an N-bit prefix (RFC 7541 §5.1). */
static size_t int_len(uint32_t v, unsigned prefix)
{
    uint32_t mask = (1u << prefix) - 1;
    size_t n = 1;

    if (v < mask)
        return 1;
    for (v -= mask; v >= 0x80; v >>= 7)
        n++;
    return n + 1;
}

static size_t put_int(uint8_t *o, uint8_t first, unsigned prefix, uint32_t v)
{
    uint32_t mask = (1u << prefix) - 1;
    uint8_t *p = o;

    if (v < mask) {
        *p++ = first | (uint8_t)v;
        return 1;
    }
    *p++ = first | (uint8_t)mask;
    for (v -= mask; v >= 0x80; v >>= 7)
        *p++ = (uint8_t)(v | 0x80);
    *p++ = (uint8_t)v;
    return (size_t)(p - o);
}

/* A string literal's encoded size, Huffman-coded when that is shorter (*huff set, its length in
 * *coded). */
static size_t str_size(const uint8_t *s, uint32_t len, bool *huff, uint32_t *coded)
{
    size_t h = hpack_huffman_encoded_len(s, len);

    *huff = h < len;
    *coded = *huff ? (uint32_t)h : len;
    return int_len(*coded, 7) + *coded;
}

static size_t put_str_lit(uint8_t *o, const uint8_t *s, uint32_t len, bool huff, uint32_t coded)
{
    size_t n = put_int(o, huff ? 0x80 : 0, 7, coded);

    if (huff)
        hpack_huffman_pack(s, len, o + n);
    else
        copy(o + n, s, len);
    return n + coded;
}

/* ---- encoder ------------------------------------------------------------------------------------ */

/* How a field is encoded when it is not found in a table. */
enum policy {
    INDEX,    /* literal with incremental indexing, when small enough */
    NO_INDEX, /* literal without indexing: the value changes from response to response */
    NEVER,    /* literal never indexed (RFC 7541 §7.1.3): a secret, not to be indexed by anyone */
};

/* By static index of the name; every other name, and names not in the static table, are INDEX. */
static const uint8_t static_policy[HPACK_STATIC_COUNT + 1] = {
    [4] = NO_INDEX,  /* :path */
    [5] = NO_INDEX,  /* :path */
    [21] = NO_INDEX, /* age */
    [23] = NEVER,    /* authorization */
    [28] = NO_INDEX, /* content-length */
    [30] = NO_INDEX, /* content-range */
    [32] = NO_INDEX, /* cookie: per user, and large */
    [33] = NO_INDEX, /* date */
    [34] = NO_INDEX, /* etag */
    [36] = NO_INDEX, /* expires */
    [44] = NO_INDEX, /* last-modified */
    [46] = NO_INDEX, /* location */
    [49] = NEVER,    /* proxy-authorization */
    [55] = NEVER,    /* set-cookie */
};

static uint32_t encoder_target(const struct hpack_encoder *e)
{
    return MIN(e->_peer_max, (uint32_t)HPACK_ENCODER_TABLE_MAX);
}

void hpack_encoder_init(struct hpack_encoder *e, const struct hpack_alloc *a)
{
    /* the peer's decoder starts at 4096; the first block tells it we use HPACK_ENCODER_TABLE_MAX */
    *e = (struct hpack_encoder){
        ._table = {._alloc = a, ._max = DEFAULT_TABLE_SIZE},
        ._peer_max = DEFAULT_TABLE_SIZE,
        ._low = HPACK_ENCODER_TABLE_MAX,
        ._update = true,
    };
}

void hpack_encoder_free(struct hpack_encoder *e)
{
    table_release(&e->_table);
}

size_t hpack_encoder_footprint(const struct hpack_encoder *e)
{
    return e->_table._mem_size;
}

/*
 * RFC 7541 §4.2: a peer that lowers its SETTINGS_HEADER_TABLE_SIZE below the size in use may evict at
 * once (nghttp2 does); the next block must then start with a size update no larger than the lowest
 * value since the last block, and one to the final size if that is larger. _low remembers the lowest.
 */
void hpack_encoder_set_peer_table_size(struct hpack_encoder *e, uint32_t n)
{
    uint32_t target;

    e->_peer_max = n;
    target = encoder_target(e);
    e->_low = e->_update ? MIN(e->_low, target) : target;
    e->_update = true;
}

size_t hpack_encode_block_start(struct hpack_encoder *e, uint8_t *out, size_t cap)
{
    uint32_t target = encoder_target(e), cur = e->_table._max;
    bool two = e->_low < target && e->_low < cur; /* the peer may have shrunk to _low: say it first */
    size_t n = 0;

    if (!e->_update)
        return 0;
    if (!two && target == cur) {
        e->_update = false;
        return 0;
    }
    if ((two ? int_len(e->_low, 5) : 0) + int_len(target, 5) > cap)
        return 0;
    if (two) {
        n += put_int(out, 0x20, 5, e->_low);
        table_set_max(&e->_table, e->_low);
    }
    n += put_int(out + n, 0x20, 5, target);
    table_set_max(&e->_table, target);
    e->_update = false;
    return n;
}

static size_t put_indexed(uint8_t *out, size_t cap, uint32_t idx)
{
    if (int_len(idx, 7) > cap)
        return 0;
    return put_int(out, 0x80, 7, idx);
}

size_t hpack_encode_status(struct hpack_encoder *e, uint8_t *out, size_t cap, int status)
{
    uint8_t digits[3];
    uint32_t coded;
    bool huff;
    size_t size;

    (void)e;
    if (status < 100 || status > 999)
        return 0;
    switch (status) { /* the static table's :status entries, 8-14: one indexed byte */
    case 200:
        return put_indexed(out, cap, 8);
    case 204:
        return put_indexed(out, cap, 9);
    case 206:
        return put_indexed(out, cap, 10);
    case 304:
        return put_indexed(out, cap, 11);
    case 400:
        return put_indexed(out, cap, 12);
    case 404:
        return put_indexed(out, cap, 13);
    case 500:
        return put_indexed(out, cap, 14);
    }
    digits[0] = (uint8_t)('0' + status / 100);
    digits[1] = (uint8_t)('0' + status / 10 % 10);
    digits[2] = (uint8_t)('0' + status % 10);
    size = 1 + str_size(digits, 3, &huff, &coded);
    if (size > cap)
        return 0;
    out[0] = 0x08; /* literal without indexing, static name 8 (:status): statuses other than these are rare */
    return 1 + put_str_lit(out + 1, digits, 3, huff, coded);
}

size_t hpack_encode_content_length(struct hpack_encoder *e, uint8_t *out, size_t cap, uint64_t n)
{
    uint8_t digits[20], *d = digits + sizeof(digits);
    uint32_t len, coded;
    bool huff;
    size_t size;

    (void)e;
    do
        *--d = (uint8_t)('0' + n % 10);
    while (n /= 10);
    len = (uint32_t)(digits + sizeof(digits) - d);
    size = 2 + str_size(d, len, &huff, &coded);
    if (size > cap)
        return 0;
    out[0] = 0x0f; /* literal without indexing, static name 28 (content-length): 0000 1111, then 28 - 15 */
    out[1] = 28 - 15;
    return 2 + put_str_lit(out + 2, d, len, huff, coded);
}

/* The newest entry of the table with this name and value (1 the newest), or 0. */
static uint32_t table_find(const struct hpack_table *t, const uint8_t *name, uint32_t n, const uint8_t *value,
                           uint32_t v)
{
    for (uint32_t i = 1; i <= t->_count; i++) {
        const struct hpack_slot *s = table_slot(t, i);

        if (s->name_len == n && s->value_len == v && ring_equal(t, s->off, name, n) &&
            ring_equal(t, ring_at(t, s->off, n), value, v))
            return i;
    }
    return 0;
}

static uint32_t table_find_name(const struct hpack_table *t, const uint8_t *name, uint32_t n)
{
    for (uint32_t i = 1; i <= t->_count; i++) {
        const struct hpack_slot *s = table_slot(t, i);

        if (s->name_len == n && ring_equal(t, s->off, name, n))
            return i;
    }
    return 0;
}

/* The static entry with this value whose name is entry sidx's, or 0. Only :method, :path, :scheme,
 * :status and accept-encoding have entries with values; they follow each other. */
static uint32_t static_find_field(uint32_t sidx, const uint8_t *value, uint32_t v)
{
    const struct hpack_static_entry *first = &hpack_static_table[sidx];

    for (uint32_t i = sidx; i <= HPACK_STATIC_COUNT && hpack_static_table[i].name_len == first->name_len &&
                            !memcmp(hpack_static_table[i].name, first->name, first->name_len);
         i++)
        if (hpack_static_table[i].value_len == v && v && !memcmp(hpack_static_table[i].value, value, v))
            return i;
    return 0;
}

size_t hpack_encode_field(struct hpack_encoder *e, uint8_t *out, size_t cap, const uint8_t *name,
                          size_t name_len, const uint8_t *value, size_t value_len)
{
    struct hpack_table *t = &e->_table;
    uint32_t sidx, name_idx, n, v, i, ncoded = 0, vcoded;
    bool insert, nhuff = false, vhuff;
    enum policy pol;
    size_t size;

    if (name_len > UINT32_MAX / 4 || value_len > UINT32_MAX / 4)
        return 0;
    n = (uint32_t)name_len;
    v = (uint32_t)value_len;
    sidx = hpack_static_find_name(name, n);
    pol = (enum policy)static_policy[sidx];
    if (pol == INDEX && (i = table_find(t, name, n, value, v)))
        return put_indexed(out, cap, HPACK_STATIC_COUNT + i);
    if (sidx && (i = static_find_field(sidx, value, v)))
        return put_indexed(out, cap, i);

    name_idx = sidx;
    if (!name_idx && pol == INDEX && (i = table_find_name(t, name, n)))
        name_idx = HPACK_STATIC_COUNT + i;
    /* inserted only when it takes at most half the table: one big field must not flush the others */
    insert = pol == INDEX && (uint64_t)HPACK_ENTRY_OVERHEAD + n + v <= t->_max / 2;
    vcoded = 0;
    size = str_size(value, v, &vhuff, &vcoded);
    if (!name_idx)
        size += str_size(name, n, &nhuff, &ncoded);
    for (;;) {
        size_t total = size + int_len(name_idx, insert ? 6 : 4);
        size_t o;

        if (total > cap)
            return 0;
        if (insert && !table_add(t, name, n, value, v)) { /* out of memory: the table is unchanged */
            insert = false;
            continue;
        }
        if (insert)
            o = put_int(out, 0x40, 6, name_idx);
        else
            o = put_int(out, pol == NEVER ? 0x10 : 0x00, 4, name_idx);
        if (!name_idx)
            o += put_str_lit(out + o, name, n, nhuff, ncoded);
        o += put_str_lit(out + o, value, v, vhuff, vcoded);
        return o;
    }
}
