/*
 * tls_record.h — TLS application records, sealed and opened by us once OpenSSL has finished the
 * handshake, the way kTLS takes over from a TLS library: TLS 1.3's (RFC 8446 5.2) and TLS 1.2's
 * AEAD records (RFC 5246 6.2.3.3, RFC 5288 for AES-GCM, RFC 7905 for ChaCha20-Poly1305).
 *
 * Why: OpenSSL's record layer copies each record into its own buffer and back out (twice the
 * copies the data path allows) and allocates those buffers again and again once they are released
 * between bursts. With the keys OpenSSL agreed (TLS 1.3's traffic secrets from its key log, TLS
 * 1.2's key block from the session's master secret) we open a record straight
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

#define TLS_RECORD_HEADER 5
#define TLS_RECORD_TAG    16
#define TLS_RECORD_MAX_CIPHER                                                                                \
    (16384 + 2048)                  /* a record's length field at most (TLS 1.2; 1.3's is 16384 + 256) */
#define TLS_RECORD_EXPLICIT_NONCE 8 /* TLS 1.2 AES-GCM's, after the header */
#define TLS_RECORD_MAX_SECRET     48

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
    bool tls12;          /* TLS 1.2: the header's type is the content's, and the nonce and AAD differ */
    bool explicit_nonce; /* TLS 1.2 AES-GCM: iv[0..4) is the salt, the record carries the rest */
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
/* TLS 1.2: both directions' keys from the key block (RFC 5246 6.3) of the session's master
 * secret, for the suite whose cipher is cipher_nid and whose PRF hash is prf; our records and the
 * client's both start at seq. */
int tls_record_keys_tls12(int cipher_nid, const EVP_MD *prf, const uint8_t *master, size_t master_len,
                          const uint8_t client_random[32], const uint8_t server_random[32], uint64_t seq,
                          struct tls_record_key *client_to_us, struct tls_record_key *us_to_client);
bool tls_record_tls12_supported(int cipher_nid);
/* KeyUpdate (RFC 8446 4.6.3, 7.2): the next generation of the secret, seq back to 0. */
int tls_record_key_update(struct tls_record_key *k);

/* Seal len bytes of content type into one record (len <= 16384) through sink. */
int tls_record_seal(struct tls_record_key *k, enum tls_content type, const uint8_t *in, size_t len,
                    const struct tls_sink *sink);

/* The record's length from its header, or -1 when the header is not a protected record of k's
 * version. */
int tls_record_length(const struct tls_record_key *k, const uint8_t header[TLS_RECORD_HEADER]);
/* The most plaintext (with TLS 1.3's content type and padding) a record of this length opens to. */
size_t tls_record_plain_max(const struct tls_record_key *k, size_t len);
/* Open the record whose header is header and whose len bytes of ciphertext (tag included) start
 * skip bytes into iov, into out (room for tls_record_plain_max); the content's type and length are
 * returned. -1: it does not authenticate, or carries no content type. */
int tls_record_open(struct tls_record_key *k, const uint8_t header[TLS_RECORD_HEADER],
                    const struct iovec *iov, int niov, size_t skip, size_t len, uint8_t *out,
                    size_t *plain_len, uint8_t *type);

#endif
