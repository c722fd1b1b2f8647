/*
 * service_cost.c — the per-byte work sluice's bulk services do on top of the datapath, so that
 * tools/bench/datapath.sh can set it aside when it compares sluice with the copy-mode floor: the source
 * service generating the deterministic stream (common/stream.h) into its frames, and the sink hashing
 * what it receives with SHA-256 (OpenSSL's EVP, as sink_service.c does), each over CHUNK-byte pieces of
 * a 1 MiB buffer that stays in cache. Thread CPU time; prints "stream NS_PER_BYTE sha256 NS_PER_BYTE".
 *
 *   service_cost [MIB [CHUNK]]      (default 512 MiB in 1448-byte pieces: a segment at MTU 1500)
 */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "common/stream.h"

static uint64_t cpu_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    static uint8_t buf[1 << 20];
    uint64_t mib = argc > 1 ? strtoull(argv[1], NULL, 10) : 512, total, t0;
    size_t chunk = argc > 2 ? strtoull(argv[2], NULL, 10) : 1448;
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    double stream_ns, sha_ns;

    if (argc > 3 || !mib || !chunk || chunk >= sizeof(buf) || !md) {
        fprintf(stderr, "usage: service_cost [MIB > 0 [CHUNK 1..1048575]]\n");
        return 2;
    }
    total = mib << 20;
    t0 = cpu_ns();
    for (uint64_t pos = 0; pos < total; pos += chunk)
        stream_fill(3, pos, buf + pos % (sizeof(buf) - chunk), chunk);
    stream_ns = (double)(cpu_ns() - t0) / (double)total;
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    t0 = cpu_ns();
    for (uint64_t pos = 0; pos < total; pos += chunk)
        EVP_DigestUpdate(md, buf + pos % (sizeof(buf) - chunk), chunk);
    EVP_DigestFinal_ex(md, digest, &len);
    sha_ns = (double)(cpu_ns() - t0) / (double)total;
    EVP_MD_CTX_free(md);
    printf("stream %.4f sha256 %.4f\n", stream_ns, sha_ns);
    return 0;
}
