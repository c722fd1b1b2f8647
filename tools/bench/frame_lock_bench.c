/*
 * frame_lock_bench.c — what sharing the frame pool with a successor generation (afxdp/umem.h) costs a
 * server alone, in memory, one core: a lock and unlock of the robust process-shared mutex the shared
 * pool and the UMEM's rings take (frame_lock), against a private default mutex; and a frame's way
 * through a worker's cache (frame_alloc, then frame_put: the cache refills from and spills to the
 * pool in batches, under that lock) over a private pool (frame_pool_init) and over one in shared
 * memory (frame_pool_attach, as the UMEM's).
 *
 * Each figure is the median over ROUNDS of the loop's time / N, in ns.
 *
 *   frame_lock_bench [OPERATIONS_PER_ROUND]      (default 20000000)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "net/frame.h"

#define ROUNDS  9
#define NFRAMES 4096
#define FSIZE   2048
#define HOLD    (FRAME_CACHE_SIZE + FRAME_CACHE_BATCH) /* frames held at once: the cache must spill */

#define BARRIER() __asm__ volatile("" ::: "memory")

static double now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static double median(double *v)
{
    qsort(v, ROUNDS, sizeof(*v), cmp);
    return v[ROUNDS / 2];
}

static double lock_round(pthread_mutex_t *m, _Atomic uint64_t *recovered, long n)
{
    double t0 = now_ns();

    for (long i = 0; i < n; i++) {
        if (recovered)
            frame_lock(m, recovered);
        else
            pthread_mutex_lock(m);
        BARRIER();
        pthread_mutex_unlock(m);
    }
    return (now_ns() - t0) / (double)n;
}

/* n frames allocated and put back, HOLD at a time, so that the cache refills and spills. */
static double cache_round(struct frame_pool *pool, long n)
{
    static uint32_t held[HOLD];
    struct frame_cache cache;
    double t0;

    frame_cache_init(&cache, pool);
    t0 = now_ns();
    for (long done = 0; done < n; done += HOLD) {
        for (int i = 0; i < HOLD; i++)
            held[i] = frame_alloc(&cache);
        for (int i = 0; i < HOLD; i++)
            frame_put(&cache, held[i], FRAME_OWN_HELD);
    }
    frame_cache_drain(&cache);
    return (now_ns() - t0) / (double)n;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 20000000;
    double priv_lock[ROUNDS], shared_lock[ROUNDS], priv_cache[ROUNDS], shared_cache[ROUNDS];
    size_t shsize = sizeof(struct frame_pool_shared) + frame_pool_lists_size(NFRAMES);
    struct frame_pool priv, shared;
    pthread_mutex_t plain = PTHREAD_MUTEX_INITIALIZER;
    struct frame_pool_shared *sh;
    void *area;

    if (n < HOLD) {
        fprintf(stderr, "usage: frame_lock_bench [OPERATIONS_PER_ROUND, at least %d]\n", HOLD);
        return 2;
    }
    area = mmap(NULL, (size_t)NFRAMES * FSIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    sh = mmap(NULL, shsize, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (area == MAP_FAILED || sh == MAP_FAILED || frame_pool_init(&priv, NULL, FSIZE, NFRAMES) ||
        frame_pool_attach(&shared, area, FSIZE, NFRAMES, sh, sh + 1, true)) {
        perror("frame_lock_bench: setting up the pools");
        return 1;
    }
    for (int r = 0; r < ROUNDS; r++) {
        priv_lock[r] = lock_round(&plain, NULL, n);
        shared_lock[r] = lock_round(&sh->lock, &sh->lock_recovered, n);
        priv_cache[r] = cache_round(&priv, n);
        shared_cache[r] = cache_round(&shared, n);
    }
    printf("lock + unlock: private mutex %.2f ns, robust process-shared (frame_lock) %.2f ns\n",
           median(priv_lock), median(shared_lock));
    printf("frame through a cache (alloc + put, batches of %d to and from the pool): private pool %.2f ns, "
           "shared pool %.2f ns\n",
           FRAME_CACHE_BATCH, median(priv_cache), median(shared_cache));
    printf("(medians of %d rounds of %ld operations)\n", ROUNDS, n);
    frame_pool_destroy(&priv);
    frame_pool_destroy(&shared);
    munmap(sh, shsize);
    munmap(area, (size_t)NFRAMES * FSIZE);
    return 0;
}
