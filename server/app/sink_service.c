/*
 * sink_service.c — the sink service: hashes every byte it receives with SHA-256 where the bytes lie in
 * their frames, and answers the client's FIN with the 32-byte digest.
 */
#include <openssl/evp.h>

#include "app/app.h"

static void sink_open(struct app_conn *ac)
{
    if (!ac->md)
        ac->md = EVP_MD_CTX_new(); /* once per slot; reused by every later connection in it */
    if (ac->md)
        EVP_DigestInit_ex(ac->md, EVP_sha256(), NULL);
}

static void sink_readable(struct app_conn *ac)
{
    struct iovec iov[16];
    int n;

    if (!ac->md) {
        app_abort(ac);
        return;
    }
    while ((n = app_peek(ac, iov, 16)) > 0) {
        size_t total = 0;

        for (int i = 0; i < n; i++) {
            EVP_DigestUpdate(ac->md, iov[i].iov_base, iov[i].iov_len);
            total += iov[i].iov_len;
        }
        ac->done += total;
        app_consume(ac, total);
    }
    if (app_eof(ac) && !ac->shut) {
        unsigned char digest[EVP_MAX_MD_SIZE];
        unsigned int len = 0;

        EVP_DigestFinal_ex(ac->md, digest, &len);
        app_write(ac, digest, len);
        app_shutdown(ac);
    }
}

const struct app_ops app_sink_ops = {
    .name = "sink",
    .open = sink_open,
    .readable = sink_readable,
};
