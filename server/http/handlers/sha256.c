/*
 * sha256.c — GET /sha256/:mib: the SHA-256, in hex, of mib MiB (at most SHA256_MAX_MIB) of the
 * deterministic stream for seed 0 (common/stream.h), generated and hashed on the spot.
 *
 * A handler that is all CPU, about a few milliseconds per MiB: the stand-in for compression or
 * image work. Routed to the offload pool (server/sluice.routes) so that the workers keep serving;
 * tests compare the digest with their own of the same stream.
 */
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>

#include "common/stream.h"
#include "sluice/http.h"

#define SHA256_MAX_MIB 1024
#define SHA256_CHUNK   (64u << 10)

int handler_sha256(struct http_request *req)
{
    uint8_t chunk[SHA256_CHUNK], digest[EVP_MAX_MD_SIZE];
    char hex[2 * 32 + 2];
    unsigned int len = 0;
    uint64_t mib;
    EVP_MD_CTX *md;

    if (!http_str_u64(http_param(req, "mib"), SHA256_MAX_MIB, &mib)) {
        http_respond_error(req, 400);
        return HANDLER_DONE;
    }
    md = EVP_MD_CTX_new();
    if (!md || !EVP_DigestInit_ex(md, EVP_sha256(), NULL)) {
        EVP_MD_CTX_free(md);
        http_respond_error(req, 500);
        return HANDLER_DONE;
    }
    for (uint64_t off = 0; off < mib << 20; off += SHA256_CHUNK) {
        stream_fill(0, off, chunk, SHA256_CHUNK);
        EVP_DigestUpdate(md, chunk, SHA256_CHUNK);
    }
    EVP_DigestFinal_ex(md, digest, &len);
    EVP_MD_CTX_free(md);
    for (unsigned int i = 0; i < len && i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", digest[i]);
    hex[2 * 32] = '\n';
    http_respond_copy(req, 200, "text/plain; charset=utf-8", hex, 2 * 32 + 1);
    return HANDLER_DONE;
}
