/*
 * frame.c — the frame pool and per-worker caches (see frame.h).
 */
#include "net/frame.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

int frame_pool_init(struct frame_pool *pool, void *area, uint32_t frame_size, uint32_t nframes)
{
    memset(pool, 0, sizeof(*pool));
    if (!nframes || frame_size < 2048 || (frame_size & (frame_size - 1))) {
        errno = EINVAL;
        return -1;
    }
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
    pool->meta = calloc(nframes, sizeof(*pool->meta));
    pool->free = calloc(nframes, sizeof(*pool->free));
    if (!pool->meta || !pool->free) {
        frame_pool_destroy(pool);
        errno = ENOMEM;
        return -1;
    }
    for (uint32_t i = 0; i < nframes; i++)
        pool->free[i] = nframes - 1 - i; /* low indices first */
    pool->nfree = nframes;
    pthread_mutex_init(&pool->lock, NULL);
    return 0;
}

void frame_pool_destroy(struct frame_pool *pool)
{
    if (pool->owns_area && pool->area)
        munmap(pool->area, (size_t)pool->frame_size * pool->nframes);
    free(pool->meta);
    free(pool->free);
    if (pool->meta && pool->free)
        pthread_mutex_destroy(&pool->lock);
    memset(pool, 0, sizeof(*pool));
}

uint32_t frame_pool_free_count(struct frame_pool *pool)
{
    uint32_t n;

    pthread_mutex_lock(&pool->lock);
    n = pool->nfree;
    pthread_mutex_unlock(&pool->lock);
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

    pthread_mutex_lock(&pool->lock);
    while (count-- && cache->nfree)
        pool->free[pool->nfree++] = cache->free[--cache->nfree];
    pthread_mutex_unlock(&pool->lock);
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
        pthread_mutex_lock(&pool->lock);
        while (cache->nfree < FRAME_CACHE_BATCH && pool->nfree)
            cache->free[cache->nfree++] = pool->free[--pool->nfree];
        pthread_mutex_unlock(&pool->lock);
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
