/*
 * tls_record.c — sealing and opening TLS application records (tls_record.h). TLS 1.3: key and IV
 * by HKDF-Expand-Label from the traffic secrets (RFC 8446 7.1, 7.3), the per-record nonce (5.3), AEAD
 * over the header and the inner plaintext with its content type (5.2). TLS 1.2: keys from the key
 * block (RFC 5246 6.3), AES-GCM's salt and explicit nonce (RFC 5288 3), ChaCha20-Poly1305's nonce as
 * 1.3's (RFC 7905 2), the AAD of sequence number, type, version and length (RFC 5246 6.2.3.3).
 */
#include "tls/tls_record.h"

#include <pthread.h>
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/kdf.h>

static EVP_KDF *hkdf;
static pthread_once_t hkdf_once = PTHREAD_ONCE_INIT;

static void hkdf_fetch(void)
{
    hkdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
}

/* HKDF-Expand-Label(secret, label, "", len) */
static int expand_label(const EVP_MD *md, const uint8_t *secret, size_t secret_len, const char *label,
                        uint8_t *out, size_t len)
{
    uint8_t info[2 + 1 + 6 + 32 + 1];
    size_t label_len = strlen(label), info_len = 0;
    int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY, ok;
    OSSL_PARAM params[5];
    EVP_KDF_CTX *kctx;

    pthread_once(&hkdf_once, hkdf_fetch);
    if (!hkdf || label_len > 32)
        return -1;
    info[info_len++] = (uint8_t)(len >> 8);
    info[info_len++] = (uint8_t)len;
    info[info_len++] = (uint8_t)(6 + label_len);
    memcpy(info + info_len, "tls13 ", 6);
    info_len += 6;
    memcpy(info + info_len, label, label_len);
    info_len += label_len;
    info[info_len++] = 0; /* no context */
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)EVP_MD_get0_name(md), 0);
    params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)secret, secret_len);
    params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, info_len);
    params[3] = OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode);
    params[4] = OSSL_PARAM_construct_end();
    kctx = EVP_KDF_CTX_new(hkdf);
    if (!kctx)
        return -1;
    ok = EVP_KDF_derive(kctx, out, len, params);
    EVP_KDF_CTX_free(kctx);
    return ok == 1 ? 0 : -1;
}

bool tls_record_tls12_supported(int cipher_nid)
{
    return cipher_nid == NID_aes_128_gcm || cipher_nid == NID_aes_256_gcm ||
           cipher_nid == NID_chacha20_poly1305;
}

static int key_init12(struct tls_record_key *k, const EVP_CIPHER *cipher, const uint8_t *key,
                      const uint8_t *iv, size_t iv_len, uint64_t seq, bool encrypt)
{
    memset(k, 0, sizeof(*k));
    k->cipher = cipher;
    k->tls12 = true;
    k->explicit_nonce = iv_len == 4;
    k->seq = seq;
    memcpy(k->iv, iv, iv_len);
    k->ctx = EVP_CIPHER_CTX_new();
    if (!k->ctx || EVP_CipherInit_ex(k->ctx, cipher, NULL, key, NULL, encrypt ? 1 : 0) != 1) {
        tls_record_key_free(k);
        return -1;
    }
    return 0;
}

int tls_record_keys_tls12(int cipher_nid, const EVP_MD *prf, const uint8_t *master, size_t master_len,
                          const uint8_t client_random[32], const uint8_t server_random[32], uint64_t seq,
                          struct tls_record_key *client_to_us, struct tls_record_key *us_to_client)
{
    const EVP_CIPHER *cipher = cipher_nid == NID_aes_128_gcm   ? EVP_aes_128_gcm()
                               : cipher_nid == NID_aes_256_gcm ? EVP_aes_256_gcm()
                                                               : EVP_chacha20_poly1305();
    size_t key_len = (size_t)EVP_CIPHER_get_key_length(cipher),
           iv_len = cipher_nid == NID_chacha20_poly1305 ? 12 : 4;
    uint8_t seed[13 + 64], block[2 * 32 + 2 * 12];
    EVP_KDF *kdf = tls_record_tls12_supported(cipher_nid) ? EVP_KDF_fetch(NULL, "TLS1-PRF", NULL) : NULL;
    EVP_KDF_CTX *kctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    OSSL_PARAM params[4];
    int ok;

    EVP_KDF_free(kdf);
    if (!kctx)
        return -1;
    memcpy(seed, "key expansion", 13);
    memcpy(seed + 13, server_random, 32);
    memcpy(seed + 45, client_random, 32);
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)EVP_MD_get0_name(prf), 0);
    params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SECRET, (void *)master, master_len);
    params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SEED, seed, sizeof(seed));
    params[3] = OSSL_PARAM_construct_end();
    ok = EVP_KDF_derive(kctx, block, 2 * key_len + 2 * iv_len, params);
    EVP_KDF_CTX_free(kctx);
    /* the key block (no MAC keys with AEAD): client key, server key, client IV, server IV */
    if (ok != 1 || key_init12(client_to_us, cipher, block, block + 2 * key_len, iv_len, seq, false)) {
        OPENSSL_cleanse(block, sizeof(block));
        return -1;
    }
    if (key_init12(us_to_client, cipher, block + key_len, block + 2 * key_len + iv_len, iv_len, seq, true)) {
        tls_record_key_free(client_to_us);
        OPENSSL_cleanse(block, sizeof(block));
        return -1;
    }
    OPENSSL_cleanse(block, sizeof(block));
    return 0;
}

bool tls_record_suite_supported(uint16_t suite)
{
    return suite == 0x1301 || suite == 0x1302 || suite == 0x1303;
}

static int suite_algorithms(uint16_t suite, const EVP_CIPHER **cipher, const EVP_MD **md)
{
    switch (suite) {
    case 0x1301: /* TLS_AES_128_GCM_SHA256 */
        *cipher = EVP_aes_128_gcm();
        *md = EVP_sha256();
        return 0;
    case 0x1302: /* TLS_AES_256_GCM_SHA384 */
        *cipher = EVP_aes_256_gcm();
        *md = EVP_sha384();
        return 0;
    case 0x1303: /* TLS_CHACHA20_POLY1305_SHA256 */
        *cipher = EVP_chacha20_poly1305();
        *md = EVP_sha256();
        return 0;
    default:
        return -1;
    }
}

/* Key and IV from the current secret, into the cipher context. */
static int key_schedule(struct tls_record_key *k, bool encrypt)
{
    uint8_t key[32];
    int key_len = EVP_CIPHER_get_key_length(k->cipher), ok;

    if (expand_label(k->md, k->secret, k->secret_len, "key", key, (size_t)key_len) ||
        expand_label(k->md, k->secret, k->secret_len, "iv", k->iv, sizeof(k->iv)))
        return -1;
    ok = EVP_CipherInit_ex(k->ctx, k->cipher, NULL, key, NULL, encrypt ? 1 : 0);
    OPENSSL_cleanse(key, sizeof(key));
    return ok == 1 ? 0 : -1;
}

int tls_record_key_init(struct tls_record_key *k, uint16_t suite, const uint8_t *secret, size_t secret_len,
                        uint64_t seq, bool encrypt)
{
    memset(k, 0, sizeof(*k));
    if (suite_algorithms(suite, &k->cipher, &k->md) || secret_len != (size_t)EVP_MD_get_size(k->md) ||
        secret_len > sizeof(k->secret))
        return -1;
    k->ctx = EVP_CIPHER_CTX_new();
    if (!k->ctx)
        return -1;
    memcpy(k->secret, secret, secret_len);
    k->secret_len = (uint8_t)secret_len;
    k->seq = seq;
    if (key_schedule(k, encrypt)) {
        tls_record_key_free(k);
        return -1;
    }
    return 0;
}

void tls_record_key_free(struct tls_record_key *k)
{
    EVP_CIPHER_CTX_free(k->ctx);
    OPENSSL_cleanse(k, sizeof(*k));
}

int tls_record_key_update(struct tls_record_key *k)
{
    uint8_t next[TLS_RECORD_MAX_SECRET];

    if (expand_label(k->md, k->secret, k->secret_len, "traffic upd", next, k->secret_len))
        return -1;
    memcpy(k->secret, next, k->secret_len);
    OPENSSL_cleanse(next, sizeof(next));
    k->seq = 0;
    return key_schedule(k, EVP_CIPHER_CTX_is_encrypting(k->ctx));
}

/* TLS 1.3 and ChaCha20-Poly1305 in 1.2: the IV xor the sequence number; AES-GCM in 1.2: the salt
 * and an explicit nonce, which is ours to choose: the sequence number too. */
static void nonce(const struct tls_record_key *k, uint8_t out[12])
{
    if (k->explicit_nonce) {
        memcpy(out, k->iv, 4);
        for (int i = 0; i < 8; i++)
            out[11 - i] = (uint8_t)(k->seq >> (8 * i));
        return;
    }
    memcpy(out, k->iv, 12);
    for (int i = 0; i < 8; i++)
        out[11 - i] ^= (uint8_t)(k->seq >> (8 * i));
}

/* TLS 1.2's additional data: seq_num, type, version, length (of the plaintext) */
static void aad12(const struct tls_record_key *k, uint8_t type, size_t len, uint8_t out[13])
{
    for (int i = 0; i < 8; i++)
        out[7 - i] = (uint8_t)(k->seq >> (8 * i));
    out[8] = type;
    out[9] = 3;
    out[10] = 3;
    out[11] = (uint8_t)(len >> 8);
    out[12] = (uint8_t)len;
}

static int sink_write(const struct tls_sink *sink, const uint8_t *p, size_t len)
{
    while (len) {
        size_t room;
        uint8_t *dst = sink->span(sink->ctx, &room);

        if (!dst)
            return -1;
        if (room > len)
            room = len;
        memcpy(dst, p, room);
        sink->commit(sink->ctx, room);
        p += room;
        len -= room;
    }
    return 0;
}

/* Encrypt len bytes of in into the sink's spans. */
static int sink_encrypt(const struct tls_sink *sink, EVP_CIPHER_CTX *ctx, const uint8_t *in, size_t len)
{
    while (len) {
        size_t room;
        uint8_t *dst = sink->span(sink->ctx, &room);
        int n;

        if (!dst)
            return -1;
        if (room > len)
            room = len;
        if (EVP_EncryptUpdate(ctx, dst, &n, in, (int)room) != 1 || (size_t)n != room)
            return -1;
        sink->commit(sink->ctx, room);
        in += room;
        len -= room;
    }
    return 0;
}

static int seal12(struct tls_record_key *k, enum tls_content type, const uint8_t *in, size_t len,
                  const struct tls_sink *sink)
{
    size_t explicit_len = k->explicit_nonce ? TLS_RECORD_EXPLICIT_NONCE : 0;
    size_t cipher_len = explicit_len + len + TLS_RECORD_TAG;
    uint8_t header[TLS_RECORD_HEADER] = {(uint8_t)type, 3, 3, (uint8_t)(cipher_len >> 8),
                                         (uint8_t)cipher_len};
    uint8_t iv[12], aad[13], tag[TLS_RECORD_TAG], final[16];
    int n;

    nonce(k, iv);
    aad12(k, (uint8_t)type, len, aad);
    if (EVP_EncryptInit_ex(k->ctx, NULL, NULL, NULL, iv) != 1 ||
        EVP_EncryptUpdate(k->ctx, NULL, &n, aad, 13) != 1 || sink_write(sink, header, sizeof(header)) ||
        sink_write(sink, iv + 4, explicit_len) || sink_encrypt(sink, k->ctx, in, len) ||
        EVP_EncryptFinal_ex(k->ctx, final, &n) != 1 || n ||
        EVP_CIPHER_CTX_ctrl(k->ctx, EVP_CTRL_AEAD_GET_TAG, TLS_RECORD_TAG, tag) != 1 ||
        sink_write(sink, tag, sizeof(tag)))
        return -1;
    k->seq++;
    return 0;
}

int tls_record_seal(struct tls_record_key *k, enum tls_content type, const uint8_t *in, size_t len,
                    const struct tls_sink *sink)
{
    size_t cipher_len = len + 1 + TLS_RECORD_TAG;
    uint8_t header[TLS_RECORD_HEADER] = {TLS_CT_APPLICATION_DATA, 3, 3, (uint8_t)(cipher_len >> 8),
                                         (uint8_t)cipher_len};
    uint8_t iv[12], inner_type = (uint8_t)type, tag[TLS_RECORD_TAG], final[16];
    int n;

    if (len > 16384)
        return -1;
    if (k->tls12)
        return seal12(k, type, in, len, sink);
    nonce(k, iv);
    if (EVP_EncryptInit_ex(k->ctx, NULL, NULL, NULL, iv) != 1 ||
        EVP_EncryptUpdate(k->ctx, NULL, &n, header, sizeof(header)) != 1 ||
        sink_write(sink, header, sizeof(header)) || sink_encrypt(sink, k->ctx, in, len) ||
        sink_encrypt(sink, k->ctx, &inner_type, 1) || EVP_EncryptFinal_ex(k->ctx, final, &n) != 1 || n ||
        EVP_CIPHER_CTX_ctrl(k->ctx, EVP_CTRL_AEAD_GET_TAG, TLS_RECORD_TAG, tag) != 1 ||
        sink_write(sink, tag, sizeof(tag)))
        return -1;
    k->seq++;
    return 0;
}

int tls_record_length(const struct tls_record_key *k, const uint8_t header[TLS_RECORD_HEADER])
{
    int len = header[3] << 8 | header[4];
    bool type_ok = k->tls12 ? header[0] >= TLS_CT_ALERT && header[0] <= TLS_CT_APPLICATION_DATA
                            : header[0] == TLS_CT_APPLICATION_DATA;
    int least = TLS_RECORD_TAG + (k->tls12 ? (k->explicit_nonce ? TLS_RECORD_EXPLICIT_NONCE : 0) : 1);

    if (!type_ok || header[1] != 3 || header[2] != 3 || len < least ||
        len > (k->tls12 ? TLS_RECORD_MAX_CIPHER : 16384 + 256))
        return -1;
    return len;
}

size_t tls_record_plain_max(const struct tls_record_key *k, size_t len)
{
    return len - TLS_RECORD_TAG - (k->explicit_nonce ? TLS_RECORD_EXPLICIT_NONCE : 0);
}

/* Copy n bytes from skip bytes into iov. */
static size_t gather(const struct iovec *iov, int niov, size_t skip, uint8_t *out, size_t n)
{
    size_t got = 0;

    for (int i = 0; i < niov && got < n; i++) {
        size_t have = iov[i].iov_len, take;

        if (skip >= have) {
            skip -= have;
            continue;
        }
        take = have - skip < n - got ? have - skip : n - got;
        memcpy(out + got, (const uint8_t *)iov[i].iov_base + skip, take);
        got += take;
        skip = 0;
    }
    return got;
}

int tls_record_open(struct tls_record_key *k, const uint8_t header[TLS_RECORD_HEADER],
                    const struct iovec *iov, int niov, size_t skip, size_t len, uint8_t *out,
                    size_t *plain_len, uint8_t *type)
{
    size_t explicit_len = k->explicit_nonce ? TLS_RECORD_EXPLICIT_NONCE : 0;
    size_t body = len - TLS_RECORD_TAG - explicit_len, done = 0, tag_got = 0, end;
    uint8_t iv[12], tag[TLS_RECORD_TAG], aad[13];
    int n;

    nonce(k, iv);
    if (explicit_len && gather(iov, niov, skip, iv + 4, explicit_len) != explicit_len)
        return -1;
    skip += explicit_len;
    if (k->tls12)
        aad12(k, header[0], body, aad);
    if (EVP_DecryptInit_ex(k->ctx, NULL, NULL, NULL, iv) != 1 ||
        EVP_DecryptUpdate(k->ctx, NULL, &n, k->tls12 ? aad : header, k->tls12 ? 13 : TLS_RECORD_HEADER) != 1)
        return -1;
    for (int i = 0; i < niov && tag_got < TLS_RECORD_TAG; i++) {
        const uint8_t *p = iov[i].iov_base;
        size_t have = iov[i].iov_len;

        if (skip >= have) {
            skip -= have;
            continue;
        }
        p += skip;
        have -= skip;
        skip = 0;
        if (done < body) {
            size_t take = have < body - done ? have : body - done;

            if (EVP_DecryptUpdate(k->ctx, out + done, &n, p, (int)take) != 1 || (size_t)n != take)
                return -1;
            done += take;
            p += take;
            have -= take;
        }
        if (done == body && have) {
            size_t take = have < TLS_RECORD_TAG - tag_got ? have : TLS_RECORD_TAG - tag_got;

            memcpy(tag + tag_got, p, take);
            tag_got += take;
        }
    }
    if (done != body || tag_got != TLS_RECORD_TAG ||
        EVP_CIPHER_CTX_ctrl(k->ctx, EVP_CTRL_AEAD_SET_TAG, TLS_RECORD_TAG, tag) != 1 ||
        EVP_DecryptFinal_ex(k->ctx, out + done, &n) != 1)
        return -1;
    k->seq++;
    if (k->tls12) {
        *type = header[0];
        *plain_len = body;
        return 0;
    }
    for (end = body; end && !out[end - 1];) /* the padding (RFC 8446 5.4) */
        end--;
    if (!end)
        return -1;
    *type = out[end - 1];
    *plain_len = end - 1;
    return 0;
}
