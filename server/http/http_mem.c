/*
 * http_mem.c — size-class pooling for nghttp2 (see http_mem.h). One worker, no locks.
 *
 * In a sanitizer build a free block is poisoned past its free-list link, so that ASan reports a
 * use after free that the pool would otherwise hide.
 */
#include "http/http_mem.h"

#include <sanitizer/asan_interface.h>
#include <stdlib.h>
#include <string.h>

#define MIN_SHIFT 5  /* 32-byte blocks */
#define MAX_SHIFT 17 /* 128 KiB blocks; larger ones go straight to malloc */
#define NCLASSES  (MAX_SHIFT - MIN_SHIFT + 1)
#define BIG       0xff

/* Each block starts with this, keeping the user pointer 16-byte aligned. */
struct block_head {
    uint8_t cls;
    uint8_t _pad[7];
    size_t size; /* usable bytes */
};

struct http_mem {
    struct block_head *free[NCLASSES];
    uint64_t system_allocs;
    uint64_t in_use;
};

struct http_mem *http_mem_new(void)
{
    return calloc(1, sizeof(struct http_mem));
}

void http_mem_destroy(struct http_mem *m)
{
    if (!m)
        return;
    for (int c = 0; c < NCLASSES; c++) {
        while (m->free[c]) {
            struct block_head *b = m->free[c];

            memcpy(&m->free[c], b + 1, sizeof(void *));
            free(b);
        }
    }
    free(m);
}

uint64_t http_mem_system_allocs(const struct http_mem *m)
{
    return m->system_allocs;
}

uint64_t http_mem_in_use(const struct http_mem *m)
{
    return m->in_use;
}

static int class_of(size_t size)
{
    int shift = MIN_SHIFT;

    while (shift <= MAX_SHIFT && ((size_t)1 << shift) < size)
        shift++;
    return shift > MAX_SHIFT ? -1 : shift - MIN_SHIFT;
}

static void *pool_malloc(size_t size, void *user)
{
    struct http_mem *m = user;
    int cls = class_of(size);
    struct block_head *b;

    if (cls >= 0 && m->free[cls]) {
        b = m->free[cls];
        memcpy(&m->free[cls], b + 1, sizeof(void *));
        ASAN_UNPOISON_MEMORY_REGION(b + 1, b->size);
        m->in_use++;
        return b + 1;
    }
    b = malloc(sizeof(*b) + (cls >= 0 ? (size_t)1 << (cls + MIN_SHIFT) : size));
    if (!b)
        return NULL;
    m->system_allocs++;
    m->in_use++;
    b->cls = cls >= 0 ? (uint8_t)cls : BIG;
    b->size = cls >= 0 ? (size_t)1 << (cls + MIN_SHIFT) : size;
    return b + 1;
}

static void pool_free(void *ptr, void *user)
{
    struct http_mem *m = user;
    struct block_head *b;

    if (!ptr)
        return;
    b = (struct block_head *)ptr - 1;
    m->in_use--;
    if (b->cls == BIG) {
        free(b);
        return;
    }
    memcpy(ptr, &m->free[b->cls], sizeof(void *));
    m->free[b->cls] = b;
    ASAN_POISON_MEMORY_REGION((uint8_t *)ptr + sizeof(void *), b->size - sizeof(void *));
}

static void *pool_calloc(size_t n, size_t size, void *user)
{
    void *p;

    if (size && n > SIZE_MAX / size)
        return NULL;
    p = pool_malloc(n * size, user);
    if (p)
        memset(p, 0, n * size);
    return p;
}

static void *pool_realloc(void *ptr, size_t size, void *user)
{
    struct block_head *b;
    void *np;

    if (!ptr)
        return pool_malloc(size, user);
    b = (struct block_head *)ptr - 1;
    if (size <= b->size)
        return ptr;
    np = pool_malloc(size, user);
    if (!np)
        return NULL;
    memcpy(np, ptr, b->size);
    pool_free(ptr, user);
    return np;
}

void *http_mem_alloc(struct http_mem *m, size_t size)
{
    return pool_malloc(size, m);
}

void http_mem_free(struct http_mem *m, void *p)
{
    pool_free(p, m);
}

nghttp2_mem http_mem_nghttp2(struct http_mem *m)
{
    return (nghttp2_mem){m, pool_malloc, pool_free, pool_calloc, pool_realloc};
}
