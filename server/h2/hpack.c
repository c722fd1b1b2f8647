/* TEMPORARY adapter over nghttp2's HPACK (not to be committed). */
#include "h2/hpack.h"
#include <nghttp2/nghttp2.h>
#include <string.h>
void hpack_decoder_init(struct hpack_decoder *d, uint32_t max_table_size, const struct hpack_alloc *a)
{
    (void)max_table_size;
    (void)a;
    nghttp2_hd_inflater *i = NULL;
    nghttp2_hd_inflate_new(&i);
    d->inf = i;
}
void hpack_decoder_free(struct hpack_decoder *d)
{
    if (d->inf)
        nghttp2_hd_inflate_del(d->inf);
    d->inf = NULL;
}
enum hpack_result hpack_decode(struct hpack_decoder *d, const uint8_t *in, size_t len, uint8_t *out,
                               size_t out_cap, uint32_t max_list_size,
                               int (*on_field)(void *ctx, const struct hpack_field *f), void *ctx)
{
    size_t used = 0, list = 0;
    bool stop = false;
    for (;;) {
        nghttp2_nv nv;
        int flags = 0;
        ssize_t rv = nghttp2_hd_inflate_hd2(d->inf, &nv, &flags, in, len, 1);
        if (rv < 0)
            return HPACK_ERR_COMPRESSION;
        in += rv;
        len -= (size_t)rv;
        if (flags & NGHTTP2_HD_INFLATE_EMIT) {
            list += 32 + nv.namelen + nv.valuelen;
            if (!stop && (list > max_list_size || used + nv.namelen + nv.valuelen > out_cap))
                stop = true;
            if (!stop) {
                struct hpack_field f = {out + used, (uint32_t)nv.namelen, out + used + nv.namelen,
                                        (uint32_t)nv.valuelen, false};
                memcpy(out + used, nv.name, nv.namelen);
                memcpy(out + used + nv.namelen, nv.value, nv.valuelen);
                used += nv.namelen + nv.valuelen;
                if (on_field(ctx, &f))
                    stop = true;
            }
        }
        if (flags & NGHTTP2_HD_INFLATE_FINAL) {
            nghttp2_hd_inflate_end_headers(d->inf);
            break;
        }
        if (!len && !(flags & NGHTTP2_HD_INFLATE_EMIT))
            return HPACK_ERR_COMPRESSION;
    }
    return stop ? HPACK_LIST_TOO_LARGE : HPACK_OK;
}
void hpack_encoder_init(struct hpack_encoder *e, const struct hpack_alloc *a)
{
    (void)a;
    nghttp2_hd_deflater *x = NULL;
    nghttp2_hd_deflate_new(&x, 4096);
    e->def = x;
}
void hpack_encoder_free(struct hpack_encoder *e)
{
    if (e->def)
        nghttp2_hd_deflate_del(e->def);
    e->def = NULL;
}
void hpack_encoder_set_peer_table_size(struct hpack_encoder *e, uint32_t n)
{
    nghttp2_hd_deflate_change_table_size(e->def, n < 4096 ? n : 4096);
}
size_t hpack_encode_block_start(struct hpack_encoder *e, uint8_t *out, size_t cap)
{
    (void)e;
    (void)out;
    (void)cap;
    return 0;
}
static size_t enc(struct hpack_encoder *e, uint8_t *out, size_t cap, const uint8_t *n, size_t nl,
                  const uint8_t *v, size_t vl)
{
    nghttp2_nv nv = {(uint8_t *)n, (uint8_t *)v, nl, vl, 0};
    ssize_t rv = nghttp2_hd_deflate_hd(e->def, out, cap, &nv, 1);
    return rv < 0 ? 0 : (size_t)rv;
}
size_t hpack_encode_status(struct hpack_encoder *e, uint8_t *out, size_t cap, int status)
{
    uint8_t s[3] = {(uint8_t)('0' + status / 100), (uint8_t)('0' + status / 10 % 10),
                    (uint8_t)('0' + status % 10)};
    return enc(e, out, cap, (const uint8_t *)":status", 7, s, 3);
}
size_t hpack_encode_field(struct hpack_encoder *e, uint8_t *out, size_t cap, const uint8_t *name,
                          size_t name_len, const uint8_t *value, size_t value_len)
{
    return enc(e, out, cap, name, name_len, value, value_len);
}
