/* TEMPORARY adapter over nghttp2's HPACK, until server/h2/hpack.c lands (not to be committed). */
#ifndef SLUICE_H2_HPACK_H
#define SLUICE_H2_HPACK_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
struct hpack_alloc {
    void *(*alloc)(void *ctx, size_t n);
    void (*free)(void *ctx, void *p, size_t n);
    void *ctx;
};
struct hpack_field {
    const uint8_t *name;
    uint32_t name_len;
    const uint8_t *value;
    uint32_t value_len;
    bool never_indexed;
};
enum hpack_result { HPACK_OK, HPACK_LIST_TOO_LARGE, HPACK_ERR_COMPRESSION, HPACK_ERR_NOMEM };
struct hpack_decoder {
    void *inf;
};
struct hpack_encoder {
    void *def;
};
void hpack_decoder_init(struct hpack_decoder *d, uint32_t max_table_size, const struct hpack_alloc *a);
void hpack_decoder_free(struct hpack_decoder *d);
enum hpack_result hpack_decode(struct hpack_decoder *d, const uint8_t *in, size_t len, uint8_t *out,
                               size_t out_cap, uint32_t max_list_size,
                               int (*on_field)(void *ctx, const struct hpack_field *f), void *ctx);
void hpack_encoder_init(struct hpack_encoder *e, const struct hpack_alloc *a);
void hpack_encoder_free(struct hpack_encoder *e);
void hpack_encoder_set_peer_table_size(struct hpack_encoder *e, uint32_t n);
size_t hpack_encode_block_start(struct hpack_encoder *e, uint8_t *out, size_t cap);
size_t hpack_encode_status(struct hpack_encoder *e, uint8_t *out, size_t cap, int status);
size_t hpack_encode_field(struct hpack_encoder *e, uint8_t *out, size_t cap, const uint8_t *name,
                          size_t name_len, const uint8_t *value, size_t value_len);
#endif
