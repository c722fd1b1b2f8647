/*
 * frame.c — the frame pool and per-worker caches (see frame.h).
 */
#include "net/frame.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static bool geometry_ok(uint32_t frame_size, uint32_t nframes)
{
    if (!nframes || frame_size < 2048 || (frame_size & (frame_size - 1))) {
        errno = EINVAL;
        return false;
    }
    return true;
}

static void all_free(struct frame_pool *pool)
{
    for (uint32_t i = 0; i < pool->nframes; i++)
        pool->free[i] = pool->nframes - 1 - i; /* low indices first */
    pool->sh->nfree = pool->nframes;
}

int frame_pool_init(struct frame_pool *pool, void *area, uint32_t frame_size, uint32_t nframes)
{
    memset(pool, 0, sizeof(*pool));
    if (!geometry_ok(frame_size, nframes))
        return -1;
    pool->frame_size = frame_size;
    pool->nframes = nframes;
    if (area) {
        pool->area = area;
    } else {
        pool->area = mmap(NULL, (size_t)frame_size * nframes, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (pool->area == MAP_FAILED)
            return -1;
        pool->owns_area = true;
    }
    pool->owns_lists = true;
    pool->sh = &pool->own;
    pool->meta = calloc(nframes, sizeof(*pool->meta));
    pool->free = calloc(nframes, sizeof(*pool->free));
    if (!pool->meta || !pool->free) {
        frame_pool_destroy(pool);
        errno = ENOMEM;
        return -1;
    }
    all_free(pool);
    pthread_mutex_init(&pool->own.lock, NULL);
    return 0;
}

size_t frame_pool_lists_size(uint32_t nframes)
{
    return (size_t)nframes * (sizeof(struct frame_meta) + sizeof(uint32_t));
}

int frame_pool_attach(struct frame_pool *pool, void *area, uint32_t frame_size, uint32_t nframes,
                      struct frame_pool_shared *sh, void *lists, bool fresh)
{
    pthread_mutexattr_t attr;

    memset(pool, 0, sizeof(*pool));
    if (!geometry_ok(frame_size, nframes))
        return -1;
    pool->area = area;
    pool->frame_size = frame_size;
    pool->nframes = nframes;
    pool->sh = sh;
    pool->meta = lists; /* struct frame_meta is 8-byte aligned, its array first */
    pool->free = (uint32_t *)((struct frame_meta *)lists + nframes);
    if (!fresh)
        return 0;
    memset(lists, 0, frame_pool_lists_size(nframes));
    all_free(pool);
    sh->lock_recovered = 0;
    if ((errno = pthread_mutexattr_init(&attr)))
        return -1;
    pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
    errno = pthread_mutex_init(&sh->lock, &attr);
    pthread_mutexattr_destroy(&attr);
    return errno ? -1 : 0;
}

void frame_lock(pthread_mutex_t *m, _Atomic uint64_t *recovered)
{
    if (pthread_mutex_lock(m) == EOWNERDEAD) {
        pthread_mutex_consistent(m);
        atomic_fetch_add_explicit(recovered, 1, memory_order_relaxed);
    }
}

void frame_pool_destroy(struct frame_pool *pool)
{
    if (pool->owns_area && pool->area)
        munmap(pool->area, (size_t)pool->frame_size * pool->nframes);
    if (pool->owns_lists) {
        free(pool->meta);
        free(pool->free);
        if (pool->meta && pool->free)
            pthread_mutex_destroy(&pool->own.lock);
    }
    memset(pool, 0, sizeof(*pool));
}

uint32_t frame_pool_free_count(struct frame_pool *pool)
{
    uint32_t n;

    frame_lock(&pool->sh->lock, &pool->sh->lock_recovered);
    n = pool->sh->nfree;
    pthread_mutex_unlock(&pool->sh->lock);
    return n;
}

void frame_cache_init(struct frame_cache *cache, struct frame_pool *pool)
{
    memset(cache, 0, sizeof(*cache));
    cache->pool = pool;
}

static void cache_spill(struct frame_cache *cache, uint32_t count)
{
    struct frame_pool *pool = cache->pool;

    frame_lock(&pool->sh->lock, &pool->sh->lock_recovered);
    while (count-- && cache->nfree)
        pool->free[pool->sh->nfree++] = cache->free[--cache->nfree];
    pthread_mutex_unlock(&pool->sh->lock);
}

void frame_cache_drain(struct frame_cache *cache)
{
    cache_spill(cache, cache->nfree);
}

uint32_t frame_alloc(struct frame_cache *cache)
{
    struct frame_pool *pool = cache->pool;
    struct frame_meta *m;
    uint32_t frame;

    if (!cache->nfree) {
        frame_lock(&pool->sh->lock, &pool->sh->lock_recovered);
        while (cache->nfree < FRAME_CACHE_BATCH && pool->sh->nfree)
            cache->free[cache->nfree++] = pool->free[--pool->sh->nfree];
        pthread_mutex_unlock(&pool->sh->lock);
        if (!cache->nfree) {
            cache->alloc_failed++;
            return FRAME_NONE;
        }
    }
    frame = cache->free[--cache->nfree];
    m = &pool->meta[frame];
    m->next = FRAME_NONE;
    m->seq = 0;
    m->off = 0;
    m->len = 0;
    m->sent_us = 0;
    m->csum = 0;
    m->flags = 0;
    atomic_store_explicit(&m->owner, FRAME_OWN_HELD, memory_order_relaxed);
    return frame;
}

void frame_put(struct frame_cache *cache, uint32_t frame, uint8_t owner)
{
    struct frame_meta *m = &cache->pool->meta[frame];
    uint8_t before = atomic_fetch_and_explicit(&m->owner, (uint8_t)~owner, memory_order_acq_rel);

    if ((before & ~owner) != 0 || !(before & owner))
        return; /* another owner remains, or this owner had already let go */
    if (cache->nfree == FRAME_CACHE_SIZE)
        cache_spill(cache, FRAME_CACHE_BATCH);
    cache->free[cache->nfree++] = frame;
}
