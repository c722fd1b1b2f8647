/*
 * tls_record.h — TLS 1.3 application records (RFC 8446 5.2), sealed and opened by us once OpenSSL
 * has finished the handshake, the way kTLS takes over from a TLS library.
 *
 * Why: OpenSSL's record layer copies each record into its own buffer and back out (twice the
 * copies the data path allows) and allocates those buffers again and again once they are released
 * between bursts. With the traffic secrets OpenSSL derived (its key log) we open a record straight
 * from where the transport holds it into the service's plaintext buffer, and seal the service's
 * plaintext straight into the transport's transmit buffers: the cipher is then the only thing that
 * writes the bytes. Pure: no I/O, no state but the keys; tls_conn.c drives it.
 */
#ifndef SLUICE_TLS_RECORD_H
#define SLUICE_TLS_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>
#include <openssl/evp.h>

#define TLS_RECORD_HEADER     5
#define TLS_RECORD_TAG        16
#define TLS_RECORD_MAX_CIPHER (16384 + 256) /* a record's length field at most (RFC 8446 5.2) */
#define TLS_RECORD_MAX_SECRET 48

enum tls_content { TLS_CT_ALERT = 21, TLS_CT_HANDSHAKE = 22, TLS_CT_APPLICATION_DATA = 23 };

/* One direction's traffic key. */
struct tls_record_key {
    EVP_CIPHER_CTX *ctx;
    const EVP_MD *md; /* the suite's hash: KeyUpdate derives the next secret with it */
    const EVP_CIPHER *cipher;
    uint8_t secret[TLS_RECORD_MAX_SECRET];
    uint8_t secret_len;
    uint8_t iv[12];
    uint64_t seq;
};

/* Where sealed bytes go, in spans (a transport's reserve/commit, or an overflow buffer). */
struct tls_sink {
    uint8_t *(*span)(void *ctx, size_t *room); /* NULL: nowhere left, the seal fails */
    void (*commit)(void *ctx, size_t n);
    void *ctx;
};

/* Whether we seal and open this suite (TLS 1.3's AES-128-GCM, AES-256-GCM, ChaCha20-Poly1305). */
bool tls_record_suite_supported(uint16_t suite);
/* The key of a suite from its traffic secret, starting at record seq; encrypt for our records. */
int tls_record_key_init(struct tls_record_key *k, uint16_t suite, const uint8_t *secret, size_t secret_len,
                        uint64_t seq, bool encrypt);
void tls_record_key_free(struct tls_record_key *k);
/* KeyUpdate (RFC 8446 4.6.3, 7.2): the next generation of the secret, seq back to 0. */
int tls_record_key_update(struct tls_record_key *k);

/* Seal len bytes of content type into one record (len <= 16384) through sink. */
int tls_record_seal(struct tls_record_key *k, enum tls_content type, const uint8_t *in, size_t len,
                    const struct tls_sink *sink);

/* The record's length from its header, or -1 when the header is not a TLS 1.3 protected record. */
int tls_record_length(const uint8_t header[TLS_RECORD_HEADER]);
/* Open the record whose header is header and whose len bytes of ciphertext (tag included) start
 * skip bytes into iov, into out (room for len - 16); the inner content's type and length are
 * returned. -1: it does not authenticate, or carries no content type. */
int tls_record_open(struct tls_record_key *k, const uint8_t header[TLS_RECORD_HEADER],
                    const struct iovec *iov, int niov, size_t skip, size_t len, uint8_t *out,
                    size_t *plain_len, uint8_t *type);

#endif
