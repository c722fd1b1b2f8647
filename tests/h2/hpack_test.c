/*
 * hpack_test.c — HPACK (server/h2/hpack.h) on its own, in memory: RFC 7541's examples, and real peers.
 *
 * The decoder takes RFC 7541 Appendix C's blocks (C.2-C.6, with the dynamic table checked after each),
 * every COMPRESSION_ERROR rule as a crafted block, and thousands of blocks from libnghttp2's deflater
 * (random fields, random table sizes, size updates), which must come out as the fields that went in.
 * The encoder's blocks go through libnghttp2's inflater, whose table must stay the size of ours as the
 * peer's table size changes. The limits: an HPACK bomb (16k references to a 4000-byte entry) stops
 * emission at once and leaves the table consistent; a limited decoder emits a prefix of what an
 * unlimited one does, with the same table after; the allocator failing at each of its calls in turn
 * gives HPACK_ERR_NOMEM and leaks nothing. Every block is copied into a heap block of exactly its
 * length first: under ASan a read past the end fails the test.
 */
#include <nghttp2/nghttp2.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tests/lib/check.h"
#include "common/hpack_huffman.h"
#include "h2/hpack.h"
#include "h2/hpack_static.h"

#define MAX_FIELDS 512
#define OUT_CAP    (1 << 18)

/* ---- helpers -------------------------------------------------------------------------------------- */

/* An allocator that counts what is held and can be told to fail its Nth call from now. */
struct counting {
    long calls, fail_at; /* fail_at: the call (1-based) that fails; 0 never */
    long live;           /* blocks held */
    size_t bytes;        /* bytes held */
};

static void *counting_alloc(void *ctx, size_t n)
{
    struct counting *c = ctx;

    if (c->fail_at && ++c->calls == c->fail_at)
        return NULL;
    c->live++;
    c->bytes += n;
    return malloc(n);
}

static void counting_free(void *ctx, void *p, size_t n)
{
    struct counting *c = ctx;

    c->live--;
    c->bytes -= n;
    free(p);
}

static struct counting counter;
static const struct hpack_alloc alloc = {counting_alloc, counting_free, &counter};

/* What a decode emitted: the fields point into out. */
struct fields {
    size_t n;
    struct hpack_field f[MAX_FIELDS];
    int stop_after; /* on_field returns nonzero after this many fields (0: never) */
    uint8_t out[OUT_CAP];
};

static int collect(void *ctx, const struct hpack_field *f)
{
    struct fields *s = ctx;

    if (s->n == MAX_FIELDS)
        return 1;
    s->f[s->n++] = *f;
    return s->stop_after && s->n == (size_t)s->stop_after;
}

static struct fields fa, fb; /* large: static */

/* Decodes a copy of block[0..len) with the given bounds. */
static enum hpack_result decode_with(struct hpack_decoder *d, const uint8_t *block, size_t len,
                                     struct fields *s, size_t out_cap, uint32_t max_list)
{
    uint8_t *b = malloc(len ? len : 1);
    enum hpack_result r;

    memcpy(b, block, len);
    s->n = 0;
    r = hpack_decode(d, b, len, s->out, out_cap, max_list, collect, s);
    free(b);
    return r;
}

static enum hpack_result decode(struct hpack_decoder *d, const uint8_t *block, size_t len, struct fields *s)
{
    return decode_with(d, block, len, s, OUT_CAP, UINT32_MAX);
}

static size_t unhex(const char *hex, uint8_t *out)
{
    size_t n = 0;

    for (; hex[0] && hex[1]; hex += 2)
        out[n++] = (uint8_t)strtol((char[]){hex[0], hex[1], 0}, NULL, 16);
    return n;
}

static bool field_is(const struct hpack_field *f, const char *name, const char *value)
{
    return f->name_len == strlen(name) && !memcmp(f->name, name, f->name_len) &&
           f->value_len == strlen(value) && !memcmp(f->value, value, f->value_len);
}

/* An integer with an N-bit prefix, as the tests write blocks by hand. */
static size_t put_int(uint8_t *o, uint8_t first, unsigned prefix, uint32_t v)
{
    uint32_t mask = (1u << prefix) - 1;
    size_t n = 0;

    if (v < mask) {
        o[n++] = first | (uint8_t)v;
        return n;
    }
    o[n++] = first | (uint8_t)mask;
    for (v -= mask; v >= 0x80; v >>= 7)
        o[n++] = (uint8_t)(v | 0x80);
    o[n++] = (uint8_t)v;
    return n;
}

/* Entry i (1 the newest) of d's dynamic table, read by decoding an indexed field: that changes nothing
 * in the decoder. */
static bool table_entry(struct hpack_decoder *d, uint32_t i, struct hpack_field *f)
{
    uint8_t b[8];
    size_t n = put_int(b, 0x80, 7, HPACK_STATIC_COUNT + i);

    if (decode(d, b, n, &fb) != HPACK_OK || fb.n != 1)
        return false;
    *f = fb.f[0];
    return true;
}

/* ---- nghttp2 as the peer -------------------------------------------------------------------------- */

/* A field list as nghttp2 takes and gives it; strings owned here. */
struct nvlist {
    size_t n;
    nghttp2_nv nv[MAX_FIELDS];
    uint8_t store[OUT_CAP];
    size_t used;
};

static void nv_add(struct nvlist *l, const void *name, size_t nlen, const void *value, size_t vlen,
                   uint8_t flags)
{
    nghttp2_nv *nv = &l->nv[l->n++];

    nv->name = l->store + l->used;
    memcpy(nv->name, name, nlen);
    l->used += nlen;
    nv->value = l->store + l->used;
    memcpy(nv->value, value, vlen);
    l->used += vlen;
    nv->namelen = nlen;
    nv->valuelen = vlen;
    nv->flags = flags;
}

/* Inflates a whole block; 0, or -1 when nghttp2 finds an error. */
static int ng_inflate(nghttp2_hd_inflater *inf, const uint8_t *in, size_t len, struct nvlist *l)
{
    l->n = l->used = 0;
    for (;;) {
        nghttp2_nv nv;
        int flags = 0;
        ssize_t rv = nghttp2_hd_inflate_hd2(inf, &nv, &flags, in, len, 1);

        if (rv < 0)
            return -1;
        in += rv;
        len -= (size_t)rv;
        if (flags & NGHTTP2_HD_INFLATE_EMIT) {
            if (l->n == MAX_FIELDS || l->used + nv.namelen + nv.valuelen > sizeof(l->store))
                return -1;
            nv_add(l, nv.name, nv.namelen, nv.value, nv.valuelen, nv.flags);
        }
        if (flags & NGHTTP2_HD_INFLATE_FINAL) {
            nghttp2_hd_inflate_end_headers(inf);
            return 0;
        }
        if (!(flags & NGHTTP2_HD_INFLATE_EMIT) && !len)
            return -1;
    }
}

/* Do our fields and nghttp2's match, never-indexed flag included? */
static bool same_fields(const struct fields *s, const struct nvlist *l, size_t *where)
{
    size_t n = s->n < l->n ? s->n : l->n;

    for (size_t i = 0; i < n; i++) {
        const struct hpack_field *f = &s->f[i];
        const nghttp2_nv *nv = &l->nv[i];

        if (f->name_len != nv->namelen || memcmp(f->name, nv->name, nv->namelen) ||
            f->value_len != nv->valuelen || memcmp(f->value, nv->value, nv->valuelen) ||
            f->never_indexed != !!(nv->flags & NGHTTP2_NV_FLAG_NO_INDEX)) {
            *where = i;
            return false;
        }
    }
    *where = n;
    return s->n == l->n;
}

/* ---- random fields -------------------------------------------------------------------------------- */

static uint64_t rng_state;

static uint32_t rnd(uint32_t n)
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return n ? (uint32_t)((rng_state >> 33) % n) : 0;
}

static const char *const pool_names[] = {
    ":method",       ":path",   ":scheme",      ":authority", "accept",     "accept-encoding",
    "user-agent",    "cookie",  "content-type", "x-custom",   "x-trace-id", "cache-control",
    "if-none-match", "referer", "te",           "",
};
static const char *const pool_values[] = {
    "GET",
    "/",
    "http",
    "https",
    "gzip, deflate",
    "text/html",
    "www.example.com",
    "no-cache",
    "*/*",
    "",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
};

static size_t random_string(uint8_t *o, uint32_t max)
{
    uint32_t len = rnd(8) == 0 ? rnd(max) : rnd(40), kind = rnd(3);

    for (uint32_t i = 0; i < len; i++)
        o[i] = kind == 0   ? (uint8_t)('a' + rnd(26))
               : kind == 1 ? (uint8_t)(0x20 + rnd(95))
                           : (uint8_t)rnd(256);
    return len;
}

/* A random field list: names and values from the pools (so that they repeat) or random. */
static void random_fields(struct nvlist *l, uint32_t max_fields, uint32_t max_len)
{
    uint32_t n = 1 + rnd(max_fields);
    uint8_t name[4096], value[4096];

    l->n = l->used = 0;
    for (uint32_t i = 0; i < n; i++) {
        size_t nlen, vlen;

        if (rnd(4)) {
            const char *s = pool_names[rnd(sizeof(pool_names) / sizeof(pool_names[0]))];

            nlen = strlen(s);
            memcpy(name, s, nlen);
        } else {
            nlen = random_string(name, max_len);
        }
        if (rnd(2)) {
            const char *s = pool_values[rnd(sizeof(pool_values) / sizeof(pool_values[0]))];

            vlen = strlen(s);
            memcpy(value, s, vlen);
        } else {
            vlen = random_string(value, max_len);
        }
        nv_add(l, name, nlen, value, vlen, rnd(10) == 0 ? NGHTTP2_NV_FLAG_NO_INDEX : NGHTTP2_NV_FLAG_NONE);
    }
}

/* ---- the static table and the Huffman code -------------------------------------------------------- */

static void test_static_names(void)
{
    for (uint32_t i = 1; i <= HPACK_STATIC_COUNT; i++) {
        const struct hpack_static_entry *s = &hpack_static_table[i];
        uint32_t first = i;

        while (first > 1 && !strcmp(hpack_static_table[first - 1].name, s->name))
            first--;
        CHECKF(hpack_static_find_name((const uint8_t *)s->name, s->name_len) == first, "%s", s->name);
        CHECK(s->name_len == strlen(s->name) && s->value_len == strlen(s->value));
    }
    CHECK(hpack_static_find_name((const uint8_t *)"x-custom", 8) == 0);
    CHECK(hpack_static_find_name((const uint8_t *)"Content-Type", 12) == 0);
    CHECK(hpack_static_find_name((const uint8_t *)"", 0) == 0);
    CHECK(!strcmp(hpack_static_table[61].name, "www-authenticate") &&
          !strcmp(hpack_static_table[8].value, "200"));
}

/* A literal without indexing named "x" whose value is s Huffman-coded. */
static size_t huffman_block(const uint8_t *s, size_t len, uint8_t *b)
{
    size_t n = 0;

    b[n++] = 0x00;
    b[n++] = 0x01;
    b[n++] = 'x';
    n += put_int(b + n, 0x80, 7, (uint32_t)hpack_huffman_encoded_len(s, len));
    return n + hpack_huffman_pack(s, len, b + n);
}

/* Every symbol alone and all 256 in a row decode back (the generated state machine is right), and the
 * two encoders of common/hpack_huffman.c agree. */
static void test_huffman_roundtrip(void)
{
    struct hpack_decoder d;
    uint8_t s[256], b[1024], padded[1024];

    hpack_decoder_init(&d, 4096, &alloc);
    for (int c = 0; c < 256; c++) {
        s[c] = (uint8_t)c;
        CHECKF(decode(&d, b, huffman_block(&s[c], 1, b), &fa) == HPACK_OK, "symbol %d", c);
        CHECKF(fa.n == 1 && fa.f[0].value_len == 1 && fa.f[0].value[0] == c, "symbol %d", c);
    }
    CHECK(decode(&d, b, huffman_block(s, 256, b), &fa) == HPACK_OK);
    CHECK(fa.n == 1 && fa.f[0].value_len == 256 && !memcmp(fa.f[0].value, s, 256));
    CHECK(hpack_huffman_encode_padded(s, 256, padded, sizeof(padded)) == hpack_huffman_encoded_len(s, 256));
    CHECK(hpack_huffman_pack(s, 256, b) == hpack_huffman_encoded_len(s, 256));
    CHECK(!memcmp(padded, b, hpack_huffman_encoded_len(s, 256)));
    /* "aaaaa": 25 bits, so 7 bits of padding: the most allowed */
    CHECK(hpack_huffman_encoded_len("aaaaa", 5) == 4);
    CHECK(decode(&d, b, huffman_block((const uint8_t *)"aaaaa", 5, b), &fa) == HPACK_OK);
    CHECK(field_is(&fa.f[0], "x", "aaaaa"));
    hpack_decoder_free(&d);
}

/* ---- RFC 7541 Appendix C ---------------------------------------------------------------------------- */

struct rfc_block {
    const char *hex;
    const char *fields[8][2];
    const char *table[5][2]; /* the dynamic table after, newest first */
    uint32_t table_size;
};

/* Decodes the blocks in order on one decoder of max_table bytes; fields and table checked after each. */
static void rfc_sequence(const struct rfc_block *blocks, size_t n, uint32_t max_table)
{
    struct hpack_decoder d;
    uint8_t b[512];

    hpack_decoder_init(&d, max_table, &alloc);
    for (size_t k = 0; k < n; k++) {
        const struct rfc_block *rb = &blocks[k];
        size_t len = unhex(rb->hex, b), nf = 0, nt = 0;

        CHECKF(decode(&d, b, len, &fa) == HPACK_OK, "block %zu", k);
        while (nf < 8 && rb->fields[nf][0])
            nf++;
        CHECKF(fa.n == nf, "block %zu: %zu fields", k, fa.n);
        for (size_t i = 0; i < nf; i++)
            CHECKF(field_is(&fa.f[i], rb->fields[i][0], rb->fields[i][1]), "block %zu field %zu", k, i);
        while (nt < 5 && rb->table[nt][0])
            nt++;
        CHECKF(hpack_decoder_table_count(&d) == nt, "block %zu: %u entries", k,
               hpack_decoder_table_count(&d));
        CHECKF(hpack_decoder_table_size(&d) == rb->table_size, "block %zu: size %u", k,
               hpack_decoder_table_size(&d));
        for (size_t i = 0; i < nt; i++) {
            struct hpack_field f;

            CHECK(table_entry(&d, (uint32_t)i + 1, &f));
            CHECKF(field_is(&f, rb->table[i][0], rb->table[i][1]), "block %zu entry %zu", k, i + 1);
        }
    }
    hpack_decoder_free(&d);
    CHECK(counter.live == 0);
}

static void test_rfc_c2(void)
{
    /* each on a fresh decoder (C.2 has no common state) */
    static const struct rfc_block c21 = {"400a637573746f6d2d6b65790d637573746f6d2d686561646572",
                                         {{"custom-key", "custom-header"}},
                                         {{"custom-key", "custom-header"}},
                                         55};
    static const struct rfc_block c22 = {
        "040c2f73616d706c652f70617468", {{":path", "/sample/path"}}, {{0}}, 0};
    static const struct rfc_block c23 = {
        "100870617373776f726406736563726574", {{"password", "secret"}}, {{0}}, 0};
    static const struct rfc_block c24 = {"82", {{":method", "GET"}}, {{0}}, 0};
    struct hpack_decoder d;
    uint8_t b[64];

    rfc_sequence(&c21, 1, 4096);
    rfc_sequence(&c22, 1, 4096);
    rfc_sequence(&c23, 1, 4096);
    rfc_sequence(&c24, 1, 4096);
    hpack_decoder_init(&d, 4096, &alloc);
    CHECK(decode(&d, b, unhex(c23.hex, b), &fa) == HPACK_OK && fa.f[0].never_indexed);
    CHECK(decode(&d, b, unhex(c22.hex, b), &fa) == HPACK_OK && !fa.f[0].never_indexed);
    hpack_decoder_free(&d);
}

#define C3_FIELDS1                                                                                           \
    {":method", "GET"}, {":scheme", "http"}, {":path", "/"},                                                 \
    {                                                                                                        \
        ":authority", "www.example.com"                                                                      \
    }
#define C3_FIELDS2                                                                                           \
    C3_FIELDS1,                                                                                              \
    {                                                                                                        \
        "cache-control", "no-cache"                                                                          \
    }
#define C3_FIELDS3                                                                                           \
    {":method", "GET"}, {":scheme", "https"}, {":path", "/index.html"}, {":authority", "www.example.com"},   \
    {                                                                                                        \
        "custom-key", "custom-value"                                                                         \
    }
#define C3_TABLE1                                                                                            \
    {                                                                                                        \
        ":authority", "www.example.com"                                                                      \
    }
#define C3_TABLE2 {"cache-control", "no-cache"}, C3_TABLE1
#define C3_TABLE3 {"custom-key", "custom-value"}, C3_TABLE2

static void test_rfc_c3(void)
{
    static const struct rfc_block c3[] = {
        {"828684410f7777772e6578616d706c652e636f6d", {C3_FIELDS1}, {C3_TABLE1}, 57},
        {"828684be58086e6f2d6361636865", {C3_FIELDS2}, {C3_TABLE2}, 110},
        {"828785bf400a637573746f6d2d6b65790c637573746f6d2d76616c7565", {C3_FIELDS3}, {C3_TABLE3}, 164},
    };

    rfc_sequence(c3, 3, 4096);
}

static void test_rfc_c4(void)
{
    static const struct rfc_block c4[] = {
        {"828684418cf1e3c2e5f23a6ba0ab90f4ff", {C3_FIELDS1}, {C3_TABLE1}, 57},
        {"828684be5886a8eb10649cbf", {C3_FIELDS2}, {C3_TABLE2}, 110},
        {"828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf", {C3_FIELDS3}, {C3_TABLE3}, 164},
    };

    rfc_sequence(c4, 3, 4096);
}

#define DATE1  "Mon, 21 Oct 2013 20:13:21 GMT"
#define DATE2  "Mon, 21 Oct 2013 20:13:22 GMT"
#define LOC    "https://www.example.com"
#define COOKIE "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1"
#define C5_FIELDS1                                                                                           \
    {":status", "302"}, {"cache-control", "private"}, {"date", DATE1},                                       \
    {                                                                                                        \
        "location", LOC                                                                                      \
    }
#define C5_FIELDS2                                                                                           \
    {":status", "307"}, {"cache-control", "private"}, {"date", DATE1},                                       \
    {                                                                                                        \
        "location", LOC                                                                                      \
    }
#define C5_FIELDS3                                                                                           \
    {":status", "200"}, {"cache-control", "private"}, {"date", DATE2}, {"location", LOC},                    \
        {"content-encoding", "gzip"},                                                                        \
    {                                                                                                        \
        "set-cookie", COOKIE                                                                                 \
    }
#define C5_TABLE1                                                                                            \
    {"location", LOC}, {"date", DATE1}, {"cache-control", "private"},                                        \
    {                                                                                                        \
        ":status", "302"                                                                                     \
    }
#define C5_TABLE2                                                                                            \
    {":status", "307"}, {"location", LOC}, {"date", DATE1},                                                  \
    {                                                                                                        \
        "cache-control", "private"                                                                           \
    }
#define C5_TABLE3                                                                                            \
    {"set-cookie", COOKIE}, {"content-encoding", "gzip"},                                                    \
    {                                                                                                        \
        "date", DATE2                                                                                        \
    }

/* C.5 and C.6: a table of 256 bytes, so that entries are evicted */
static void test_rfc_c5(void)
{
    static const struct rfc_block c5[] = {
        {"4803333032580770726976617465611d4d6f6e2c203231204f637420323031332032303a31333a323120474d546e176874"
         "7470733a2f2f7777772e6578616d706c652e636f6d",
         {C5_FIELDS1},
         {C5_TABLE1},
         222},
        {"4803333037c1c0bf", {C5_FIELDS2}, {C5_TABLE2}, 222},
        {"88c1611d4d6f6e2c203231204f637420323031332032303a31333a323220474d54c05a04677a69707738666f6f3d415344"
         "4a4b48514b425a584f5157454f50495541585157454f49553b206d61782d6167653d333630303b2076657273696f6e3d31",
         {C5_FIELDS3},
         {C5_TABLE3},
         215},
    };

    rfc_sequence(c5, 3, 256);
}

static void test_rfc_c6(void)
{
    static const struct rfc_block c6[] = {
        {"488264025885aec3771a4b6196d07abe941054d444a8200595040b8166e082a62d1bff6e919d29ad171863c78f0b97c8e9"
         "ae82ae43d3",
         {C5_FIELDS1},
         {C5_TABLE1},
         222},
        {"4883640effc1c0bf", {C5_FIELDS2}, {C5_TABLE2}, 222},
        {"88c16196d07abe941054d444a8200595040b8166e084a62d1bffc05a839bd9ab77ad94e7821dd7f2e6c7b335dfdfcd5b39"
         "60d5af27087f3672c1ab270fb5291f9587316065c003ed4ee5b1063d5007",
         {C5_FIELDS3},
         {C5_TABLE3},
         215},
    };

    rfc_sequence(c6, 3, 256);
}

/* ---- COMPRESSION_ERROR, each rule ------------------------------------------------------------------- */

struct bad_block {
    const char *name;
    const char *hex;
};

static void test_compression_errors(void)
{
    static const struct bad_block bad[] = {
        {"index 0", "82"
                    "80"},
        {"index past the static table, dynamic empty", "be"},
        {"index past both tables", "400178017982"
                                   "bf"}, /* x: y inserted (62), then 63 */
        {"literal name index past both tables", "7f0000"},
        {"integer above 2^32 - 1", "ffffffffff0f"},
        {"integer of 6 continuation bytes", "ff808080808000"},
        {"integer cut by the block's end", "ff80"},
        {"name string past the block's end", "0005616263"},
        {"value string past the block's end", "0001780261"},
        {"Huffman string with EOS", "000178"
                                    "84ffffffff"},
        {"Huffman padding of 8 bits", "000178"
                                      "82f8ff"}, /* &: 8 bits, then 8 ones */
        {"Huffman padding of 11 bits", "000178"
                                       "821fff"},
        {"Huffman padding with a 0 bit", "000178"
                                         "8118"},
        {"size update above the maximum", "3fe21f"},
        {"size update after a field", "82"
                                      "20"},
        {"size update after a literal", "000178017920"},
        {"block ends after a literal's first byte", "40"},
        {"block ends before a value", "400178"},
    };
    struct hpack_decoder d;
    uint8_t b[64];

    for (size_t i = 0; i < CHECK_COUNT(bad); i++) {
        hpack_decoder_init(&d, 4096, &alloc);
        CHECKF(decode(&d, b, unhex(bad[i].hex, b), &fa) == HPACK_ERR_COMPRESSION, "%s", bad[i].name);
        /* a broken decoder stays broken */
        CHECKF(decode(&d, b, unhex("82", b), &fa) == HPACK_ERR_COMPRESSION, "%s: used again", bad[i].name);
        hpack_decoder_free(&d);
    }
    CHECK(counter.live == 0);

    /* what is allowed: several size updates at the start, up to the maximum, then fields; 2^32 - 1 */
    hpack_decoder_init(&d, 4096, &alloc);
    CHECK(decode(&d, b,
                 unhex("20"
                       "3fe11f"
                       "82",
                       b),
                 &fa) == HPACK_OK &&
          fa.n == 1);
    CHECK(decode(&d, b, unhex("3f8080808000", b), &fa) == HPACK_OK); /* 5 continuation bytes, zeros: 31 */
    hpack_decoder_free(&d);
    hpack_decoder_init(&d, UINT32_MAX, &alloc);
    CHECK(decode(&d, b, unhex("3fe0ffffff0f", b), &fa) == HPACK_OK); /* size update to 2^32 - 1 */
    CHECK(decode(&d, b, unhex("3fe0ffffff1f", b), &fa) == HPACK_ERR_COMPRESSION);
    hpack_decoder_free(&d);
}

/* The table starts at min(max, 4096); a size update takes it up to the maximum advertised. */
static void test_table_size_rules(void)
{
    struct hpack_decoder d;
    uint8_t b[8192];
    size_t n = 0;

    hpack_decoder_init(&d, 8192, &alloc);
    /* one entry of 32 + 1 + 4500 bytes: larger than 4096, so it empties the table and is not kept */
    n = put_int(b, 0x40, 6, 0);
    n += put_int(b + n, 0, 7, 1);
    b[n++] = 'x';
    n += put_int(b + n, 0, 7, 4500);
    memset(b + n, 'v', 4500);
    n += 4500;
    CHECK(decode(&d, b, n, &fa) == HPACK_OK && fa.n == 1 && fa.f[0].value_len == 4500);
    CHECK(hpack_decoder_table_count(&d) == 0);
    /* after a size update to 8192 it fits */
    memmove(b + 3, b, n);
    b[0] = 0x3f, b[1] = 0xe1, b[2] = 0x3f; /* 31 + 97 + 63 * 128 = 8192 */
    CHECK(decode(&d, b, n + 3, &fa) == HPACK_OK && fa.n == 1);
    CHECKF(hpack_decoder_table_count(&d) == 1 && hpack_decoder_table_size(&d) == 32 + 1 + 4500, "%u",
           hpack_decoder_table_size(&d));
    /* a size update to 0 empties it and gives the storage back */
    CHECK(decode(&d, b, unhex("20", b), &fa) == HPACK_OK);
    CHECK(hpack_decoder_table_count(&d) == 0 && hpack_decoder_footprint(&d) == 0 && counter.live == 0);
    hpack_decoder_free(&d);
}

/* ---- against nghttp2's deflater ---------------------------------------------------------------------- */

static struct nvlist nva, nvb;

/* Thousands of random field lists deflated by nghttp2 come out of our decoder as they went in, the
 * table the size of the deflater's, over random table sizes and size updates. */
static void test_nghttp2_deflate(void)
{
    static const uint32_t sizes[] = {0, 32, 64, 100, 256, 512, 1000, 4096, 8192, 65536};
    static uint8_t block[1 << 18];
    long blocks = 0;

    rng_state = 7541;
    for (int conn = 0; conn < 200; conn++) {
        uint32_t max = sizes[rnd(CHECK_COUNT(sizes))];
        nghttp2_hd_deflater *def;
        nghttp2_hd_inflater *inf;
        struct hpack_decoder d;

        CHECK(nghttp2_hd_deflate_new(&def, sizes[rnd(CHECK_COUNT(sizes))]) == 0);
        CHECK(nghttp2_hd_deflate_change_table_size(def, max) == 0); /* our SETTINGS */
        CHECK(nghttp2_hd_inflate_new(&inf) == 0);
        CHECK(nghttp2_hd_inflate_change_table_size(inf, max) == 0);
        hpack_decoder_init(&d, max, &alloc);
        for (int k = 0; k < 30; k++, blocks++) {
            ssize_t len;
            size_t where;

            if (rnd(8) == 0) /* a new SETTINGS value, within what we advertised first */
                CHECK(nghttp2_hd_deflate_change_table_size(def, rnd(max + 1)) == 0);
            random_fields(&nva, 20, rnd(4) ? 300 : 3000);
            len = nghttp2_hd_deflate_hd(def, block, sizeof(block), nva.nv, nva.n);
            CHECKF(len >= 0, "%zd", len);
            CHECKF(decode(&d, block, (size_t)len, &fa) == HPACK_OK, "conn %d block %d", conn, k);
            /* nghttp2 sends some fields never-indexed of its own accord (short cookies): the flags are
             * compared with its inflater's, names and values with what went in too */
            CHECK(ng_inflate(inf, block, (size_t)len, &nvb) == 0);
            CHECKF(same_fields(&fa, &nvb, &where), "conn %d block %d: field %zu of %zu/%zu", conn, k, where,
                   fa.n, nvb.n);
            for (size_t i = 0; i < nva.n; i++)
                fa.f[i].never_indexed = nva.nv[i].flags & NGHTTP2_NV_FLAG_NO_INDEX;
            CHECKF(same_fields(&fa, &nva, &where), "conn %d block %d: field %zu of %zu/%zu", conn, k, where,
                   fa.n, nva.n);
            CHECKF(hpack_decoder_table_size(&d) == nghttp2_hd_deflate_get_dynamic_table_size(def),
                   "conn %d block %d: %u against %zu", conn, k, hpack_decoder_table_size(&d),
                   nghttp2_hd_deflate_get_dynamic_table_size(def));
            CHECK(hpack_decoder_table_count(&d) + HPACK_STATIC_COUNT ==
                  nghttp2_hd_deflate_get_num_table_entries(def));
        }
        hpack_decoder_free(&d);
        nghttp2_hd_deflate_del(def);
        nghttp2_hd_inflate_del(inf);
    }
    CHECK(counter.live == 0 && blocks == 6000);
}

/* A limited decoder emits a prefix of what an unlimited one emits (as long as each field fits), says
 * HPACK_LIST_TOO_LARGE exactly when it is shorter, and keeps the same table. */
static void test_limits_keep_table(void)
{
    static uint8_t block[1 << 18];
    long cut = 0;

    rng_state = 9113;
    for (int conn = 0; conn < 100; conn++) {
        nghttp2_hd_deflater *def;
        struct hpack_decoder full, lim;

        CHECK(nghttp2_hd_deflate_new(&def, 4096) == 0);
        hpack_decoder_init(&full, 4096, &alloc);
        hpack_decoder_init(&lim, 4096, &alloc);
        for (int k = 0; k < 30; k++) {
            size_t out_cap = rnd(2) ? rnd(2000) : OUT_CAP;
            uint32_t max_list = rnd(2) ? rnd(3000) : UINT32_MAX;
            enum hpack_result r;
            uint64_t list = 0, bytes = 0;
            size_t i;
            ssize_t len;

            random_fields(&nva, 20, 600);
            len = nghttp2_hd_deflate_hd(def, block, sizeof(block), nva.nv, nva.n);
            CHECK(len >= 0);
            CHECK(decode(&full, block, (size_t)len, &fa) == HPACK_OK);
            fb.stop_after = rnd(4) == 0 ? 1 + (int)rnd(5) : 0;
            r = decode_with(&lim, block, (size_t)len, &fb, out_cap, max_list);
            CHECK(fb.n <= fa.n);
            for (i = 0; i < fb.n; i++) {
                CHECK(fa.f[i].name_len == fb.f[i].name_len && fa.f[i].value_len == fb.f[i].value_len);
                CHECK(!memcmp(fa.f[i].name, fb.f[i].name, fa.f[i].name_len));
                CHECK(!memcmp(fa.f[i].value, fb.f[i].value, fa.f[i].value_len));
                list += 32 + fb.f[i].name_len + fb.f[i].value_len;
                bytes += fb.f[i].name_len + fb.f[i].value_len;
            }
            if (fb.n == fa.n && !(fb.stop_after && fb.n == (size_t)fb.stop_after)) {
                CHECKF(r == HPACK_OK, "conn %d block %d: %d", conn, k, r);
            } else {
                CHECKF(r == HPACK_LIST_TOO_LARGE, "conn %d block %d: %d", conn, k, r);
                cut++;
                if (!(fb.stop_after && fb.n == (size_t)fb.stop_after)) { /* the next field did not fit */
                    const struct hpack_field *f = &fa.f[fb.n];

                    CHECK(bytes + f->name_len + f->value_len > out_cap ||
                          list + 32 + f->name_len + f->value_len > max_list);
                }
            }
            CHECK(hpack_decoder_table_size(&full) == hpack_decoder_table_size(&lim));
            CHECK(hpack_decoder_table_count(&full) == hpack_decoder_table_count(&lim));
            CHECK(hpack_decoder_footprint(&full) == hpack_decoder_footprint(&lim));
        }
        fb.stop_after = 0;
        hpack_decoder_free(&full);
        hpack_decoder_free(&lim);
        nghttp2_hd_deflate_del(def);
    }
    CHECKF(cut > 500, "%ld blocks cut", cut);
}

/* ---- the limits ----------------------------------------------------------------------------------- */

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* One 4000-byte field inserted, then a block of 16k references to it: 64 MB of fields for 16 KB of
 * input. With max_list_size 16 KiB, four fit; the rest cost O(1) each, and the table is intact. */
static void test_hpack_bomb(void)
{
    static uint8_t b[16384 + 8];
    struct hpack_decoder d;
    uint64_t t0, ns;
    size_t n;

    hpack_decoder_init(&d, 4096, &alloc);
    n = put_int(b, 0x40, 6, 0);
    n += put_int(b + n, 0, 7, 1);
    b[n++] = 'x';
    n += put_int(b + n, 0, 7, 3999);
    memset(b + n, 'v', 3999);
    n += 3999;
    CHECK(decode(&d, b, n, &fa) == HPACK_OK && hpack_decoder_table_size(&d) == 4032);

    memset(b, 0x80 | 62, 16384);
    t0 = now_ns();
    CHECK(decode_with(&d, b, 16384, &fa, OUT_CAP, 16384) == HPACK_LIST_TOO_LARGE);
    ns = now_ns() - t0;
    CHECKF(fa.n == 4, "%zu fields emitted", fa.n); /* 4 * 4032 <= 16384 < 5 * 4032 */
    CHECK(fa.f[3].value_len == 3999 && fa.f[3].value[3998] == 'v');
    CHECKF(ns < 20 * 1000000, "%llu ns", (unsigned long long)ns);

    /* the next block decodes against the same table */
    n = unhex("be"
              "82"
              "400179"
              "017a"
              "bf",
              b);
    CHECK(decode(&d, b, n, &fa) == HPACK_OK && fa.n == 4);
    CHECK(fa.f[0].value_len == 3999 && field_is(&fa.f[1], ":method", "GET") && field_is(&fa.f[2], "y", "z"));
    CHECK(fa.f[3].value_len == 3999); /* 63 now: y: z is 62 */
    hpack_decoder_free(&d);
}

/* on_field returning nonzero stops emission after that field; the rest is still decoded into the
 * table; a later block sees it. */
static void test_on_field_stops(void)
{
    struct hpack_decoder d;
    uint8_t b[64];

    hpack_decoder_init(&d, 4096, &alloc);
    fa.stop_after = 1;
    CHECK(decode(&d, b,
                 unhex("8284"
                       "4001610162"
                       "0001630164",
                       b),
                 &fa) == HPACK_LIST_TOO_LARGE);
    fa.stop_after = 0;
    CHECK(fa.n == 1 && field_is(&fa.f[0], ":method", "GET"));
    CHECK(hpack_decoder_table_count(&d) == 1);
    CHECK(decode(&d, b, unhex("be", b), &fa) == HPACK_OK && fa.n == 1 && field_is(&fa.f[0], "a", "b"));
    /* out_cap 0: nothing emitted, the insertion still made */
    CHECK(decode_with(&d, b, unhex("400178017982", b), &fa, 0, UINT32_MAX) == HPACK_LIST_TOO_LARGE &&
          fa.n == 0);
    CHECK(decode(&d, b, unhex("bebf", b), &fa) == HPACK_OK && field_is(&fa.f[0], "x", "y") &&
          field_is(&fa.f[1], "a", "b"));
    /* an empty block, and one of size updates only, are fine */
    CHECK(decode(&d, b, 0, &fa) == HPACK_OK && fa.n == 0);
    hpack_decoder_free(&d);
}

/* A literal with incremental indexing whose name is a dynamic entry evicted by that very insertion
 * (RFC 7541 §4.4), in emitting and in skip mode, with the ring wrapping. */
static void test_name_of_evicted_entry(void)
{
    struct hpack_decoder d;
    uint8_t b[512];
    size_t n;

    for (int skip = 0; skip < 2; skip++) {
        hpack_decoder_init(&d, 100, &alloc);
        /* "name1: v" (32 + 5 + 1 = 38), then a literal with name index 62 and a 55-byte value:
         * 32 + 5 + 55 = 92 does not fit beside it, so entry 62 is evicted while its name is in use */
        for (int round = 0; round < 5; round++) {
            n = 0;
            if (round == 0)
                n += (size_t)unhex("40056e616d653101"
                                   "76",
                                   b);
            n += put_int(b + n, 0x40, 6, 62);
            n += put_int(b + n, 0, 7, 55 - (uint32_t)round);
            memset(b + n, 'a' + round, 55 - (size_t)round);
            n += 55 - (size_t)round;
            CHECK(decode_with(&d, b, n, &fa, skip ? 0 : OUT_CAP, UINT32_MAX) ==
                  (skip ? HPACK_LIST_TOO_LARGE : HPACK_OK));
            CHECKF(hpack_decoder_table_count(&d) == 1, "round %d", round);
            CHECK(decode(&d, b, unhex("be", b), &fa) == HPACK_OK);
            CHECKF(fa.f[0].name_len == 5 && !memcmp(fa.f[0].name, "name1", 5) &&
                       fa.f[0].value_len == 55 - (uint32_t)round && fa.f[0].value[0] == 'a' + round,
                   "skip %d round %d", skip, round);
        }
        hpack_decoder_free(&d);
    }
}

/* ---- footprint, allocation failure -------------------------------------------------------------------- */

static void browser_request(struct nvlist *l, const char *path)
{
    static const char *const f[][2] = {
        {":method", "GET"},
        {":authority", "www.example.com"},
        {":scheme", "https"},
        {":path", NULL},
        {"sec-ch-ua", "\"Chromium\";v=\"124\", \"Google Chrome\";v=\"124\", \"Not-A.Brand\";v=\"99\""},
        {"sec-ch-ua-mobile", "?0"},
        {"sec-ch-ua-platform", "\"Linux\""},
        {"upgrade-insecure-requests", "1"},
        {"user-agent",
         "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 "
         "Safari/537.36"},
        {"accept",
         "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;"
         "q=0.8,application/signed-exchange;v=b3;q=0.7"},
        {"sec-fetch-site", "same-origin"},
        {"sec-fetch-mode", "navigate"},
        {"sec-fetch-user", "?1"},
        {"sec-fetch-dest", "document"},
        {"accept-encoding", "gzip, deflate, br, zstd"},
        {"accept-language", "en-US,en;q=0.9,de;q=0.8"},
    };

    l->n = l->used = 0;
    for (size_t i = 0; i < CHECK_COUNT(f); i++) {
        const char *v = f[i][1] ? f[i][1] : path;

        nv_add(l, f[i][0], strlen(f[i][0]), v, strlen(v), 0);
    }
}

static void h2load_request(struct nvlist *l)
{
    static const char *const f[][2] = {
        {":method", "GET"},
        {":path", "/"},
        {":scheme", "http"},
        {":authority", "10.0.0.1:8080"},
        {"accept", "*/*"},
        {"accept-encoding", "gzip, deflate"},
        {"user-agent", "h2load nghttp2/1.52.0"},
    };

    l->n = l->used = 0;
    for (size_t i = 0; i < CHECK_COUNT(f); i++)
        nv_add(l, f[i][0], strlen(f[i][0]), f[i][1], strlen(f[i][1]), 0);
}

/* What a connection holds after the requests of a browser, or of h2load. */
static void test_footprint(void)
{
    static uint8_t block[8192];
    nghttp2_hd_deflater *def;
    struct hpack_decoder d;
    ssize_t len;

    CHECK(nghttp2_hd_deflate_new(&def, 4096) == 0);
    hpack_decoder_init(&d, 4096, &alloc);
    CHECK(hpack_decoder_footprint(&d) == 0);
    h2load_request(&nva);
    for (int i = 0; i < 3; i++) {
        len = nghttp2_hd_deflate_hd(def, block, sizeof(block), nva.nv, nva.n);
        CHECK(len > 0 && decode(&d, block, (size_t)len, &fa) == HPACK_OK && fa.n == nva.n);
    }
    printf("# footprint: h2load-like requests: %zu bytes for %u entries (%u by RFC 7541's count)\n",
           hpack_decoder_footprint(&d), hpack_decoder_table_count(&d), hpack_decoder_table_size(&d));
    CHECKF(hpack_decoder_footprint(&d) <= 400, "%zu", hpack_decoder_footprint(&d));
    CHECK(counter.bytes == hpack_decoder_footprint(&d));
    hpack_decoder_free(&d);
    nghttp2_hd_deflate_del(def);

    CHECK(nghttp2_hd_deflate_new(&def, 4096) == 0);
    hpack_decoder_init(&d, 4096, &alloc);
    browser_request(&nva, "/");
    len = nghttp2_hd_deflate_hd(def, block, sizeof(block), nva.nv, nva.n);
    CHECK(len > 0 && decode(&d, block, (size_t)len, &fa) == HPACK_OK && fa.n == nva.n);
    browser_request(&nva, "/style.css");
    len = nghttp2_hd_deflate_hd(def, block, sizeof(block), nva.nv, nva.n);
    CHECK(len > 0 && decode(&d, block, (size_t)len, &fa) == HPACK_OK && fa.n == nva.n);
    printf("# footprint: browser-like requests: %zu bytes for %u entries (%u by RFC 7541's count)\n",
           hpack_decoder_footprint(&d), hpack_decoder_table_count(&d), hpack_decoder_table_size(&d));
    CHECKF(hpack_decoder_footprint(&d) <= 1280, "%zu", hpack_decoder_footprint(&d));
    hpack_decoder_free(&d);
    nghttp2_hd_deflate_del(def);
    CHECK(counter.live == 0 && counter.bytes == 0);
}

/* The allocator fails at its 1st, 2nd, ... call: the decoder says HPACK_ERR_NOMEM (then stays broken),
 * and gives everything back. */
static void test_nomem(void)
{
    static uint8_t block[1 << 16];
    bool failed = true;

    for (long at = 1; failed; at++) {
        nghttp2_hd_deflater *def;
        struct hpack_decoder d;

        CHECK(at < 100);
        failed = false;
        rng_state = 42;
        counter.calls = 0;
        counter.fail_at = at;
        CHECK(nghttp2_hd_deflate_new(&def, 65536) == 0);
        CHECK(nghttp2_hd_deflate_change_table_size(def, 65536) == 0);
        hpack_decoder_init(&d, 65536, &alloc);
        for (int k = 0; k < 40 && !failed; k++) {
            ssize_t len;
            enum hpack_result r;

            random_fields(&nva, 20, 2000);
            len = nghttp2_hd_deflate_hd(def, block, sizeof(block), nva.nv, nva.n);
            CHECK(len >= 0);
            r = decode(&d, block, (size_t)len, &fa);
            if (r == HPACK_ERR_NOMEM) {
                failed = true;
                CHECK(decode(&d, block, (size_t)len, &fa) == HPACK_ERR_COMPRESSION);
            } else {
                CHECKF(r == HPACK_OK, "%d", r);
            }
        }
        hpack_decoder_free(&d);
        nghttp2_hd_deflate_del(def);
        CHECKF(counter.live == 0 && counter.bytes == 0, "failing call %ld: %ld blocks held", at,
               counter.live);
        if (!failed)
            CHECKF(at > 3, "only %ld allocations: the test does not grow the table", at - 1);
    }
    counter.fail_at = 0;
}

/* ---- the encoder ------------------------------------------------------------------------------------ */

/* Encodes one response: :status, the fields of l, content-length. */
static size_t encode_response(struct hpack_encoder *e, uint8_t *out, size_t cap, int status,
                              const struct nvlist *l, uint64_t content_length)
{
    size_t n = hpack_encode_block_start(e, out, cap), w;

    if (!(w = hpack_encode_status(e, out + n, cap - n, status)))
        return 0;
    n += w;
    for (size_t i = 0; i < l->n; i++) {
        if (!(w = hpack_encode_field(e, out + n, cap - n, l->nv[i].name, l->nv[i].namelen, l->nv[i].value,
                                     l->nv[i].valuelen)))
            return 0;
        n += w;
    }
    if (!(w = hpack_encode_content_length(e, out + n, cap - n, content_length)))
        return 0;
    return n + w;
}

static void test_encoder_bytes(void)
{
    struct hpack_encoder e;
    struct nvlist *l = &nva;
    uint8_t out[256], want[64];
    size_t n, hl;

    hpack_encoder_init(&e, &alloc);
    l->n = l->used = 0;
    nv_add(l, "content-type", 12, "text/plain", 10, 0);
    n = encode_response(&e, out, sizeof(out), 200, l, 13);
    /* size update to 512; :status 200 indexed; content-type inserted with static name 31, value
     * Huffman-coded; content-length without indexing, "13" raw (Huffman is no shorter) */
    hl = hpack_huffman_encoded_len("text/plain", 10);
    CHECKF(n == 3 + 1 + 1 + 1 + hl + 5, "%zu", n);
    CHECK(!memcmp(out, "\x3f\xe1\x03\x88\x5f", 5) && out[5] == (0x80 | hl));
    hpack_huffman_pack("text/plain", 10, want);
    CHECK(!memcmp(out + 6, want, hl));
    CHECK(!memcmp(out + n - 5,
                  "\x0f\x0d\x02"
                  "13",
                  5));
    /* the second time: content-type is one byte, no size update */
    n = encode_response(&e, out, sizeof(out), 200, l, 1234567);
    hl = hpack_huffman_encoded_len("1234567", 7); /* 40 bits: 5 bytes for 7 digits */
    CHECKF(hl == 5 && n == 1 + 1 + 2 + 1 + hl, "%zu", n);
    CHECK(out[0] == 0x88 && out[1] == 0xbe && out[2] == 0x0f && out[3] == 0x0d && out[4] == (0x80 | hl));
    /* statuses without a static entry; one that does not fit writes nothing */
    CHECK(hpack_encode_status(&e, out, sizeof(out), 404) == 1 && out[0] == 0x8d);
    n = hpack_encode_status(&e, out, sizeof(out), 201);
    CHECK(n == 4 && out[0] == 0x08 && out[1] == 0x82); /* "201": 15 bits Huffman-coded */
    CHECK(hpack_encode_status(&e, out, sizeof(out), 99) == 0 &&
          hpack_encode_status(&e, out, 1000, 1000) == 0);
    memset(out, 0xee, sizeof(out));
    CHECK(hpack_encode_status(&e, out, 3, 503) == 0 && out[0] == 0xee);
    CHECK(hpack_encode_field(&e, out, 5, (const uint8_t *)"server", 6, (const uint8_t *)"sluice/1", 8) == 0);
    CHECK(out[0] == 0xee && e._table._count == 1); /* nothing written, nothing inserted */
    CHECK(hpack_encoder_footprint(&e) > 0 && hpack_encoder_footprint(&e) <= 512);
    hpack_encoder_free(&e);
    CHECK(counter.live == 0);
}

static const char *const resp_names[] = {
    "content-type",  "server",        "cache-control",
    "vary",          "date",          "set-cookie",
    "etag",          "x-request-id",  "x-frame-options",
    "location",      "last-modified", "content-encoding",
    "authorization", "link",          "x-a",
};
static const char *const resp_values[] = {
    "text/plain",
    "text/html; charset=utf-8",
    "application/json",
    "sluice",
    "no-store",
    "max-age=3600",
    "accept-encoding",
    "gzip",
    "DENY",
    "",
};

static void random_response(struct nvlist *l)
{
    uint8_t v[1024];
    uint32_t n = rnd(10);

    l->n = l->used = 0;
    for (uint32_t i = 0; i < n; i++) {
        const char *name = resp_names[rnd(CHECK_COUNT(resp_names))];
        size_t vlen;

        if (rnd(3)) {
            const char *s = resp_values[rnd(CHECK_COUNT(resp_values))];

            vlen = strlen(s);
            memcpy(v, s, vlen);
        } else {
            vlen = random_string(v, 600);
        }
        nv_add(l, name, strlen(name), v, vlen, 0);
    }
}

/* Our blocks through nghttp2's inflater: the same fields (never-indexed where we said so), and its table
 * the size of ours, entry for entry, as the peer's SETTINGS_HEADER_TABLE_SIZE changes. */
static void test_encoder_nghttp2_inflate(void)
{
    static const uint32_t sizes[] = {0, 1, 64, 100, 256, 511, 512, 1000, 4096, 65536};
    static const int statuses[] = {200, 200, 200, 204, 206, 301, 302, 304, 400, 404, 500, 503, 201, 100, 999};
    static uint8_t out[1 << 16];
    long blocks = 0, inserted = 0;

    rng_state = 1;
    for (int conn = 0; conn < 100; conn++) {
        nghttp2_hd_inflater *inf;
        struct hpack_encoder e;
        struct hpack_decoder d; /* ours, decoding our own blocks too */

        CHECK(nghttp2_hd_inflate_new(&inf) == 0);
        hpack_encoder_init(&e, &alloc);
        hpack_decoder_init(&d, 4096, &alloc);
        for (int k = 0; k < 40; k++, blocks++) {
            int status = statuses[rnd(CHECK_COUNT(statuses))];
            uint64_t cl = rnd(2) ? rnd(100) : (uint64_t)rnd(UINT32_MAX) * rnd(UINT32_MAX);
            size_t n, where;
            char digits[24];

            for (int c = rnd(6) == 0 ? 1 + (int)rnd(3) : 0; c > 0; c--) { /* SETTINGS, once or more */
                uint32_t s = sizes[rnd(CHECK_COUNT(sizes))];

                CHECK(nghttp2_hd_inflate_change_table_size(inf, s) == 0);
                hpack_encoder_set_peer_table_size(&e, s);
            }
            random_response(&nva);
            n = encode_response(&e, out, sizeof(out), status, &nva, cl);
            CHECK(n > 0);
            CHECKF(ng_inflate(inf, out, n, &nvb) == 0, "conn %d block %d", conn, k);
            CHECKF(nvb.n == nva.n + 2, "conn %d block %d", conn, k);
            snprintf(digits, sizeof(digits), "%d", status);
            CHECK(nvb.nv[0].namelen == 7 && !memcmp(nvb.nv[0].name, ":status", 7));
            CHECK(nvb.nv[0].valuelen == 3 && !memcmp(nvb.nv[0].value, digits, 3));
            for (size_t i = 0; i < nva.n; i++) {
                const nghttp2_nv *a = &nva.nv[i], *b = &nvb.nv[i + 1];
                bool never = (a->namelen == 10 && !memcmp(a->name, "set-cookie", 10)) ||
                             (a->namelen == 13 && !memcmp(a->name, "authorization", 13));

                CHECKF(a->namelen == b->namelen && !memcmp(a->name, b->name, a->namelen), "field %zu", i);
                CHECKF(a->valuelen == b->valuelen && !memcmp(a->value, b->value, a->valuelen), "field %zu",
                       i);
                CHECKF(never == !!(b->flags & NGHTTP2_NV_FLAG_NO_INDEX), "field %zu", i);
            }
            snprintf(digits, sizeof(digits), "%llu", (unsigned long long)cl);
            CHECK(nvb.nv[nva.n + 1].valuelen == strlen(digits) &&
                  !memcmp(nvb.nv[nva.n + 1].value, digits, strlen(digits)));
            CHECKF(nghttp2_hd_inflate_get_dynamic_table_size(inf) == e._table._size,
                   "conn %d block %d: %zu against %u", conn, k,
                   nghttp2_hd_inflate_get_dynamic_table_size(inf), e._table._size);
            CHECK(nghttp2_hd_inflate_get_num_table_entries(inf) == HPACK_STATIC_COUNT + e._table._count);
            CHECK(e._table._size <= HPACK_ENCODER_TABLE_MAX);
            inserted += e._table._count;
            /* and our own decoder agrees */
            CHECK(decode(&d, out, n, &fa) == HPACK_OK);
            CHECKF(same_fields(&fa, &nvb, &where), "conn %d block %d: field %zu", conn, k, where);
        }
        hpack_encoder_free(&e);
        hpack_decoder_free(&d);
        nghttp2_hd_inflate_del(inf);
    }
    CHECK(counter.live == 0);
    CHECKF(inserted > blocks, "%ld entries over %ld blocks: the table is used", inserted, blocks);
}

/* The encoder's allocator failing: fields go without indexing, and the peer still agrees. */
static void test_encoder_nomem(void)
{
    static uint8_t out[1 << 16];

    for (long at = 1; at < 6; at++) {
        nghttp2_hd_inflater *inf;
        struct hpack_encoder e;

        counter.calls = 0;
        counter.fail_at = at;
        rng_state = 99;
        CHECK(nghttp2_hd_inflate_new(&inf) == 0);
        hpack_encoder_init(&e, &alloc);
        for (int k = 0; k < 30; k++) {
            size_t n;

            random_response(&nva);
            n = encode_response(&e, out, sizeof(out), 200, &nva, 5);
            CHECK(n > 0 && ng_inflate(inf, out, n, &nvb) == 0 && nvb.n == nva.n + 2);
            CHECK(nghttp2_hd_inflate_get_dynamic_table_size(inf) == e._table._size);
        }
        hpack_encoder_free(&e);
        nghttp2_hd_inflate_del(inf);
        CHECK(counter.live == 0);
    }
    counter.fail_at = 0;
}

int main(int argc, char **argv)
{
    static const struct check_case tests[] = {
        CHECK_CASE(test_static_names),
        CHECK_CASE(test_huffman_roundtrip),
        CHECK_CASE(test_rfc_c2),
        CHECK_CASE(test_rfc_c3),
        CHECK_CASE(test_rfc_c4),
        CHECK_CASE(test_rfc_c5),
        CHECK_CASE(test_rfc_c6),
        CHECK_CASE(test_compression_errors),
        CHECK_CASE(test_table_size_rules),
        CHECK_CASE(test_nghttp2_deflate),
        CHECK_CASE(test_limits_keep_table),
        CHECK_CASE(test_hpack_bomb),
        CHECK_CASE(test_on_field_stops),
        CHECK_CASE(test_name_of_evicted_entry),
        CHECK_CASE(test_footprint),
        CHECK_CASE(test_nomem),
        CHECK_CASE(test_encoder_bytes),
        CHECK_CASE(test_encoder_nghttp2_inflate),
        CHECK_CASE(test_encoder_nomem),
    };

    return check_main(argc, argv, tests, CHECK_COUNT(tests), NULL);
}
