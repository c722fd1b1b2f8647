/*
 * stream_cat.c — write N bytes of the deterministic stream (common/stream.h) for a seed to stdout,
 * so shell tests can hash what GET /bytes/N?seed=S must return without the server's help.
 *
 *   stream_cat N [SEED]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/stream.h"

int main(int argc, char **argv)
{
    static uint8_t buf[1 << 16];
    unsigned long long n, seed = 0, pos = 0;
    char *end;

    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: stream_cat N [SEED]\n");
        return 2;
    }
    errno = 0;
    n = strtoull(argv[1], &end, 10);
    if (*end || errno || (argc == 3 && (seed = strtoull(argv[2], &end, 10), *end || errno))) {
        fprintf(stderr, "stream_cat: N and SEED are decimal numbers\n");
        return 2;
    }
    while (pos < n) {
        size_t chunk = n - pos < sizeof(buf) ? (size_t)(n - pos) : sizeof(buf);

        stream_fill(seed, pos, buf, chunk);
        if (fwrite(buf, 1, chunk, stdout) != chunk) {
            fprintf(stderr, "stream_cat: write: %s\n", strerror(errno));
            return 1;
        }
        pos += chunk;
    }
    return 0;
}
