/*
 * http_mem.h — memory from per-worker size classes: nghttp2's (nghttp2_session_server_new3 takes
 * the allocator) and the native HTTP/2 session's HPACK tables. Blocks return to their class's free list and
 * are reused, so a warm worker serves requests without calling malloc; the system allocations it did make are
 * counted.
 */
#ifndef SLUICE_HTTP_MEM_H
#define SLUICE_HTTP_MEM_H

#include <nghttp2/nghttp2.h>
#include <stdint.h>

struct http_mem;

struct http_mem *http_mem_new(void);
void http_mem_destroy(struct http_mem *m);
/* A block of at least size bytes from m, NULL when the system has none; and its return. */
void *http_mem_alloc(struct http_mem *m, size_t size);
void http_mem_free(struct http_mem *m, void *p);
/* An nghttp2_mem whose functions allocate from m. */
nghttp2_mem http_mem_nghttp2(struct http_mem *m);
/* malloc calls made so far (size-class growth and blocks above the largest class). */
uint64_t http_mem_system_allocs(const struct http_mem *m);
/* Blocks handed to nghttp2 and not freed yet (zero once every session is gone). */
uint64_t http_mem_in_use(const struct http_mem *m);

#endif
