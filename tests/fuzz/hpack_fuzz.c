/*
 * hpack_fuzz.c — differential libFuzzer target: our HPACK decoder (server/h2/hpack.c) against
 * libnghttp2's inflater (nghttp2_hd_inflate_hd2, Debian's 1.52), block by block, on one connection's
 * worth of field blocks.
 *
 * Input: one byte of setup, then blocks, each a length and its bytes: a length byte below 0xf0 is the
 * length; 0xfN is followed by a second byte and means N * 256 + that byte. A length past the input's
 * end takes the rest. The setup byte picks our SETTINGS_HEADER_TABLE_SIZE (given to nghttp2 too) and
 * seeds the limits below.
 *
 * Every block goes to four decoders: ours without limits, ours with small random limits (out_cap,
 * max_list_size, on_field stopping), ours with an allocator that fails at a chosen call, and nghttp2's.
 * Checked, block by block, until one side reports an error:
 *   - ours and nghttp2 both accept, with the same fields (names, values, never-indexed) and a dynamic
 *     table of the same size and count; or both refuse (our HPACK_ERR_COMPRESSION), or the case is a
 *     row of `differences` below: a leniency of one side, with the RFC's word on it;
 *   - the limited decoder emits a prefix of the unlimited one's fields, says HPACK_LIST_TOO_LARGE
 *     exactly when the prefix is shorter (or on_field stopped it), refuses exactly what it refuses, and
 *     keeps the same table (size, count, storage held);
 *   - the failing-allocator decoder (emitting all, or nothing: out_cap 0) agrees with the unlimited one
 *     until it says HPACK_ERR_NOMEM, and gives all its storage back (LeakSanitizer checks at exit).
 * Anything else aborts, with both verdicts on stderr.
 *
 * With the setup byte's top bit set, the input drives our encoder instead (encode_ops below): responses
 * made of fields the input picks, some encoded first into a buffer too small (which must write and
 * change nothing), and changes of the peer's table size between them; every block goes through
 * nghttp2's inflater and our decoder, which must give the fields back (never-indexed for set-cookie,
 * authorization, proxy-authorization) while nghttp2's table stays the size of our encoder's mirror.
 */
#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "h2/hpack.h"

#define MAX_FIELDS 4096
#define OUT_CAP    (1 << 20)
#define COUNT(a)   (sizeof(a) / sizeof((a)[0]))

/* ---- the listed differences ----------------------------------------------------------------------- */

struct block_ctx {
    int index;          /* of the block in the input, from 0 */
    uint32_t max_table; /* our SETTINGS_HEADER_TABLE_SIZE */
    const uint8_t *b;
    size_t len;
};

static bool first_block_without_size_update(const struct block_ctx *c)
{
    return c->index == 0 && c->max_table < 4096 && (c->len == 0 || (c->b[0] & 0xe0) != 0x20);
}

/* We accept, nghttp2 refuses. */
static const struct difference {
    bool (*applies)(const struct block_ctx *c);
    const char *rfc;
    const char *why;
} differences[] = {
    {first_block_without_size_update, "RFC 7541 §4.2",
     "SETTINGS_HEADER_TABLE_SIZE below 4096 and no size update at the start of the first block: nghttp2 "
     "requires one (the encoder MUST send it); we hold the table to our maximum from the start, which is "
     "what the update would say, so nothing is lost by not insisting"},
};

/* ---- the decoders ------------------------------------------------------------------------------------ */

/* where its strings are: the decoder's out buffer, a store here, or the static table */
struct field {
    const uint8_t *name;
    uint32_t name_len;
    const uint8_t *value;
    uint32_t value_len;
    bool never;
};

struct fields {
    size_t n;
    int stop_after; /* on_field asks to stop after this many (0: never) */
    struct field f[MAX_FIELDS];
};

static uint8_t out_full[OUT_CAP], out_lim[OUT_CAP], out_fail[OUT_CAP], ng_store[OUT_CAP];
static struct fields ff, fl, fx, fn;

static int collect(void *ctx, const struct hpack_field *f)
{
    struct fields *s = ctx;

    if (s->n == MAX_FIELDS)
        abort(); /* cannot happen: a field takes one byte of input at least */
    s->f[s->n++] = (struct field){f->name, f->name_len, f->value, f->value_len, f->never_indexed};
    return s->stop_after && s->n == (size_t)s->stop_after;
}

struct failing {
    long calls, fail_at;
};

static void *fail_alloc(void *ctx, size_t n)
{
    struct failing *c = ctx;

    return ++c->calls == c->fail_at ? NULL : malloc(n);
}

static void plain_free(void *ctx, void *p, size_t n)
{
    (void)ctx;
    (void)n;
    free(p);
}

static void *plain_alloc(void *ctx, size_t n)
{
    (void)ctx;
    return malloc(n);
}

static const struct hpack_alloc plain = {plain_alloc, plain_free, NULL};

/* Inflates a whole block into fn (strings in ng_store); 0, or -1 when nghttp2 refuses it. */
static int ng_inflate(nghttp2_hd_inflater *inf, const uint8_t *in, size_t len)
{
    size_t used = 0;

    fn.n = 0;
    for (;;) {
        nghttp2_nv nv;
        int flags = 0;
        ssize_t rv = nghttp2_hd_inflate_hd2(inf, &nv, &flags, in, len, 1);

        if (rv < 0)
            return -1;
        in += rv;
        len -= (size_t)rv;
        if (flags & NGHTTP2_HD_INFLATE_EMIT) {
            if (fn.n == MAX_FIELDS || used + nv.namelen + nv.valuelen > OUT_CAP)
                abort();
            memcpy(ng_store + used, nv.name, nv.namelen);
            memcpy(ng_store + used + nv.namelen, nv.value, nv.valuelen);
            fn.f[fn.n++] = (struct field){ng_store + used, (uint32_t)nv.namelen, ng_store + used + nv.namelen,
                                          (uint32_t)nv.valuelen, !!(nv.flags & NGHTTP2_NV_FLAG_NO_INDEX)};
            used += nv.namelen + nv.valuelen;
        }
        if (flags & NGHTTP2_HD_INFLATE_FINAL) {
            nghttp2_hd_inflate_end_headers(inf);
            return 0;
        }
        if (!(flags & NGHTTP2_HD_INFLATE_EMIT) && !len)
            return -1;
    }
}

static bool same_field(const struct fields *a, size_t i, const struct fields *b, size_t j)
{
    const struct field *x = &a->f[i], *y = &b->f[j];

    return x->name_len == y->name_len && x->value_len == y->value_len && x->never == y->never &&
           !memcmp(x->name, y->name, x->name_len) && !memcmp(x->value, y->value, x->value_len);
}

static void print_field(const struct fields *s, size_t i)
{
    const struct field *f = &s->f[i];

    fprintf(stderr, "    %zu: '%.*s' = '%.*s'%s\n", i, (int)f->name_len, (const char *)f->name,
            (int)f->value_len, (const char *)f->value, f->never ? " (never indexed)" : "");
}

static void fail(const struct block_ctx *c, const char *what, int ours, int theirs)
{
    fprintf(stderr,
            "hpack_fuzz: invariant broken in block %d (%zu bytes, table %u): %s (ours %d, nghttp2 %d)\n",
            c->index, c->len, c->max_table, what, ours, theirs);
    fprintf(stderr, "  ours:\n");
    for (size_t i = 0; i < ff.n; i++)
        print_field(&ff, i);
    fprintf(stderr, "  nghttp2:\n");
    for (size_t i = 0; i < fn.n; i++)
        print_field(&fn, i);
    abort();
}

static uint32_t rng;

static uint32_t rnd(uint32_t n)
{
    rng = rng * 1103515245u + 12345u;
    return n ? (rng >> 8) % n : 0;
}

/* ---- the encoder ------------------------------------------------------------------------------------ */

static const char *const enc_names[] = {
    "content-type",
    "server",
    "cache-control",
    "vary",
    "date",
    "set-cookie",
    "etag",
    "x-request-id",
    "location",
    "last-modified",
    "content-encoding",
    "authorization",
    "proxy-authorization",
    "link",
    "x-a",
    ":status",
    "accept-encoding",
    "",
    "age",
    "cookie",
    "access-control-allow-origin",
    "x-b",
    "te",
    "via",
};

static void enc_fail(const char *what, int block)
{
    fprintf(stderr, "hpack_fuzz: encoder invariant broken in block %d: %s\n", block, what);
    abort();
}

/*
 * Ops, one byte each then their operands: 0x00-0x3f: the peer's SETTINGS_HEADER_TABLE_SIZE is
 * tables[op & 7]; 0x40-0xff: a response of (op & 15) fields, each a name byte (enc_names, by value
 * modulo their count) and a value (a length byte, then that many bytes), then a status (two bytes)
 * and a content-length (four bytes). Bit 0x10 of op: each field is first tried with a random room.
 */
static void encode_ops(const uint8_t *data, size_t size)
{
    static const uint32_t tables[] = {0, 1, 64, 256, 511, 512, 4096, 65536};
    static uint8_t out[1 << 16];
    nghttp2_hd_inflater *inf;
    struct hpack_encoder e;
    struct hpack_decoder d;
    const uint8_t *end = data + size;
    int block = 0;

    if (nghttp2_hd_inflate_new(&inf))
        abort();
    hpack_encoder_init(&e, &plain);
    hpack_decoder_init(&d, 4096, &plain);
    while (data < end) {
        uint8_t op = *data++;
        size_t n, w, nf = op & 15;
        bool tight = op & 0x10;
        struct fields want = {0};
        static uint8_t want_store[1 << 16];
        size_t want_used = 0;
        int status;
        uint32_t cl;

        if (op < 0x40) {
            if (nghttp2_hd_inflate_change_table_size(inf, tables[op & 7]))
                abort();
            hpack_encoder_set_peer_table_size(&e, tables[op & 7]);
            continue;
        }
        n = hpack_encode_block_start(&e, out, HPACK_BLOCK_START_MAX);
        for (size_t i = 0; i < nf && data < end; i++) {
            const char *name = enc_names[*data++ % COUNT(enc_names)];
            size_t nlen = strlen(name), vlen = data < end ? *data++ : 0;

            if (vlen > (size_t)(end - data))
                vlen = (size_t)(end - data);
            if (!strcmp(name, ":status") || !strcmp(name, "content-length")) /* only through their calls */
                name = "x-c", nlen = 3;
            if (tight && (w = hpack_encode_field(&e, out + n, rnd((uint32_t)(nlen + vlen + 4)),
                                                 (const uint8_t *)name, nlen, data, vlen)))
                n += w;
            else if ((w = hpack_encode_field(&e, out + n, sizeof(out) - n, (const uint8_t *)name, nlen, data,
                                             vlen)))
                n += w;
            else
                enc_fail("a field does not fit 64 KiB", block);
            memcpy(want_store + want_used, name, nlen);
            memcpy(want_store + want_used + nlen, data, vlen);
            want.f[want.n++] = (struct field){want_store + want_used, (uint32_t)nlen,
                                              want_store + want_used + nlen, (uint32_t)vlen,
                                              !strcmp(name, "set-cookie") || !strcmp(name, "authorization") ||
                                                  !strcmp(name, "proxy-authorization")};
            want_used += nlen + vlen;
            data += vlen;
        }
        status = 100 + (data + 2 <= end ? (data[0] << 8 | data[1]) % 900 : 100);
        data += data + 2 <= end ? 2 : (size_t)(end - data);
        cl = 0;
        for (int k = 0; k < 4 && data < end; k++)
            cl = cl << 8 | *data++;
        if (!(w = hpack_encode_status(&e, out + n, sizeof(out) - n, status)))
            enc_fail("a status does not fit", block);
        n += w;
        if (!(w = hpack_encode_content_length(&e, out + n, sizeof(out) - n, cl)))
            enc_fail("a content-length does not fit", block);
        n += w;

        if (ng_inflate(inf, out, n))
            enc_fail("nghttp2 refuses our block", block);
        if (fn.n != want.n + 2)
            enc_fail("nghttp2 decodes another number of fields", block);
        for (size_t i = 0; i < want.n; i++)
            if (!same_field(&fn, i, &want, i))
                enc_fail("nghttp2 decodes another field", block);
        if (nghttp2_hd_inflate_get_dynamic_table_size(inf) != e._table._size ||
            nghttp2_hd_inflate_get_num_table_entries(inf) != 61 + e._table._count)
            enc_fail("nghttp2's table is not our encoder's", block);
        ff.n = 0;
        if (hpack_decode(&d, out, n, out_full, OUT_CAP, UINT32_MAX, collect, &ff) != HPACK_OK || ff.n != fn.n)
            enc_fail("our decoder does not take our block", block);
        for (size_t i = 0; i < ff.n; i++)
            if (!same_field(&ff, i, &fn, i))
                enc_fail("our decoder and nghttp2 differ on our block", block);
        block++;
    }
    hpack_encoder_free(&e);
    hpack_decoder_free(&d);
    nghttp2_hd_inflate_del(inf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint32_t tables[] = {0, 64, 256, 1000, 4096, 4096, 8192, 65536};
    struct hpack_decoder full, lim, fal;
    struct failing fc = {0};
    struct hpack_alloc failing_alloc = {fail_alloc, plain_free, &fc};
    nghttp2_hd_inflater *inf;
    uint32_t max_table;
    bool lim_on = true, fal_on = true, fal_skip;

    if (size < 1)
        return 0;
    if (data[0] & 0x80) {
        rng = data[0];
        encode_ops(data + 1, size - 1);
        return 0;
    }
    max_table = tables[data[0] & 7];
    rng = data[0];
    fc.fail_at = 1 + (data[0] >> 3) % 6;
    fal_skip = rnd(2); /* out_cap 0: every insertion made in skip mode */
    data++, size--;
    if (nghttp2_hd_inflate_new(&inf))
        abort();
    if (nghttp2_hd_inflate_change_table_size(inf, max_table))
        abort();
    hpack_decoder_init(&full, max_table, &plain);
    hpack_decoder_init(&lim, max_table, &plain);
    hpack_decoder_init(&fal, max_table, &failing_alloc);

    for (int index = 0; size > 0; index++) {
        size_t len = data[0];
        uint8_t *b;
        struct block_ctx c;
        enum hpack_result r, rl, rx;
        int ng;

        data++, size--;
        if (len >= 0xf0 && size > 0) {
            len = (len & 0x0f) << 8 | data[0];
            data++, size--;
        }
        if (len > size)
            len = size;
        b = malloc(len ? len : 1); /* exactly the block: a read past it is an ASan report */
        memcpy(b, data, len);
        data += len, size -= len;
        c = (struct block_ctx){index, max_table, b, len};

        ff.n = fl.n = fx.n = 0;
        r = hpack_decode(&full, b, len, out_full, OUT_CAP, UINT32_MAX, collect, &ff);
        ng = ng_inflate(inf, b, len);
        if (r == HPACK_LIST_TOO_LARGE || r == HPACK_ERR_NOMEM)
            fail(&c, "unlimited decoder with a plain allocator did not say OK or COMPRESSION", r, ng);

        if (lim_on) {
            size_t cap = rnd(2) ? rnd(300) : OUT_CAP;
            uint32_t max_list = rnd(2) ? rnd(600) : UINT32_MAX;
            uint64_t bytes = 0, list = 0;

            fl.stop_after = rnd(4) == 0 ? 1 + (int)rnd(4) : 0;
            rl = hpack_decode(&lim, b, len, out_lim, cap, max_list, collect, &fl);
            if (r == HPACK_ERR_COMPRESSION) {
                if (rl != HPACK_ERR_COMPRESSION)
                    fail(&c, "the limited decoder accepts what the unlimited one refuses", rl, ng);
                lim_on = false;
            } else if (rl != HPACK_OK && rl != HPACK_LIST_TOO_LARGE) {
                fail(&c, "the limited decoder refuses what the unlimited one accepts", rl, ng);
            } else {
                bool stopped = fl.stop_after && fl.n == (size_t)fl.stop_after;

                if (fl.n > ff.n)
                    fail(&c, "the limited decoder emitted more fields", rl, ng);
                for (size_t i = 0; i < fl.n; i++) {
                    if (!same_field(&fl, i, &ff, i))
                        fail(&c, "the limited decoder's fields are not a prefix", rl, ng);
                    bytes += fl.f[i].name_len + fl.f[i].value_len;
                    list += 32 + fl.f[i].name_len + fl.f[i].value_len;
                }
                if ((fl.n == ff.n && !stopped) != (rl == HPACK_OK))
                    fail(&c, "HPACK_LIST_TOO_LARGE when not cut, or HPACK_OK when cut", rl, ng);
                if (fl.n < ff.n && !stopped) {
                    const struct field *f = &ff.f[fl.n];

                    if (bytes + f->name_len + f->value_len <= cap &&
                        list + 32 + f->name_len + f->value_len <= max_list)
                        fail(&c, "the limited decoder stopped before a field that fits", rl, ng);
                }
                if (hpack_decoder_table_size(&lim) != hpack_decoder_table_size(&full) ||
                    hpack_decoder_table_count(&lim) != hpack_decoder_table_count(&full) ||
                    hpack_decoder_footprint(&lim) != hpack_decoder_footprint(&full))
                    fail(&c, "the limited decoder's table differs", rl, ng);
            }
        }

        if (fal_on) {
            rx = hpack_decode(&fal, b, len, out_fail, fal_skip ? 0 : OUT_CAP, UINT32_MAX, collect, &fx);
            if (rx == HPACK_ERR_NOMEM)
                fal_on = false;
            else if ((rx == HPACK_ERR_COMPRESSION) != (r == HPACK_ERR_COMPRESSION) ||
                     (!fal_skip && (rx != r || fx.n != ff.n)) ||
                     hpack_decoder_table_size(&fal) != hpack_decoder_table_size(&full))
                fail(&c, "the failing-allocator decoder differs before failing", rx, ng);
            else if (rx == HPACK_ERR_COMPRESSION)
                fal_on = false;
        }

        if (r == HPACK_OK && ng == 0) {
            if (ff.n != fn.n)
                fail(&c, "field counts differ", r, ng);
            for (size_t i = 0; i < ff.n; i++)
                if (!same_field(&ff, i, &fn, i))
                    fail(&c, "fields differ", r, ng);
            if (hpack_decoder_table_size(&full) != nghttp2_hd_inflate_get_dynamic_table_size(inf) ||
                hpack_decoder_table_count(&full) + 61 != nghttp2_hd_inflate_get_num_table_entries(inf))
                fail(&c, "dynamic tables differ", r, ng);
            free(b);
            continue;
        }
        if (r == HPACK_OK) {
            bool listed = false;

            for (size_t i = 0; i < COUNT(differences) && !listed; i++)
                listed = differences[i].applies(&c);
            if (!listed)
                fail(&c, "nghttp2 refuses a block we accept", r, ng);
        } else if (ng == 0) {
            fail(&c, "we refuse a block nghttp2 accepts", r, ng);
        }
        free(b); /* both refuse, or a listed difference: the connection is over */
        break;
    }

    hpack_decoder_free(&full);
    hpack_decoder_free(&lim);
    hpack_decoder_free(&fal);
    nghttp2_hd_inflate_del(inf);
    return 0;
}
