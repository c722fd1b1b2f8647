/*
 * static_file.c — GET|HEAD /static/{path}: files from the configured directory.
 *
 * The path is percent-decoded and opened with openat2(RESOLVE_BENEATH) under the directory's fd,
 * so no "..", absolute path or symlink can reach outside it; anything that tries is 404. The file
 * is mapped and its pages go from the mapping into the transmit buffers (the one copy on the way
 * out). An ETag from size and modification time answers If-None-Match with 304.
 *
 * Opening, mapping and unmapping a file cost several system calls and page faults, many times what
 * the rest of a request costs, so each worker keeps its recent files mapped (a small table per
 * thread: handlers run on their worker's thread), checked again against the file system once
 * STATIC_CACHE_VALID_NS has passed (a changed file is served new within that time, as nginx's
 * open_file_cache_valid does). Responses in flight hold a reference; an entry is replaced only when
 * none does, else the request is served from a mapping of its own, as without the cache.
 */
#include "http/handlers/static_file.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "sluice/http.h"

#define PATH_MAX_DECODED      1024
#define STATIC_CACHE_ENTRIES  64
#define STATIC_CACHE_PATH     256 /* longer paths are served uncached */
#define STATIC_CACHE_VALID_NS 1000000000ull

struct cached_file {
    char path[STATIC_CACHE_PATH]; /* "" when the slot is free */
    void *map;                    /* NULL for an empty file */
    size_t size;
    struct timespec mtime;
    char etag[48];
    int etag_len;
    uint32_t refs;       /* responses in flight from map */
    uint64_t checked_ns; /* when the file system last confirmed it */
};

/* each thread's table of STATIC_CACHE_ENTRIES, made at its first request, unmapped at its exit */
static pthread_key_t static_cache_key;

static int static_dir_fd = -1; /* set before the workers start, read-only afterwards */

static void cache_drop(struct cached_file *f);

static void cache_destroy(void *table)
{
    struct cached_file *cache = table;

    for (int i = 0; i < STATIC_CACHE_ENTRIES; i++)
        cache_drop(&cache[i]);
    free(cache);
}

int static_file_open_dir(const char *dir, struct err *e)
{
    int fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);

    if (fd < 0)
        return ERR(e, EXIT_STATUS_USAGE, errno, "cannot open the static directory %s", dir);
    if (static_dir_fd < 0 && pthread_key_create(&static_cache_key, cache_destroy)) {
        close(fd);
        return ERR(e, EXIT_STATUS_FAILURE, errno, "cannot make the static file cache");
    }
    if (static_dir_fd >= 0)
        close(static_dir_fd);
    static_dir_fd = fd;
    return 0;
}

static const char *content_type(const char *path)
{
    static const struct {
        const char *ext;
        const char *type;
    } types[] = {
        {".html", "text/html; charset=utf-8"},
        {".htm", "text/html; charset=utf-8"},
        {".css", "text/css"},
        {".js", "text/javascript"},
        {".json", "application/json"},
        {".txt", "text/plain; charset=utf-8"},
        {".png", "image/png"},
        {".jpg", "image/jpeg"},
        {".jpeg", "image/jpeg"},
        {".gif", "image/gif"},
        {".svg", "image/svg+xml"},
        {".ico", "image/x-icon"},
        {".wasm", "application/wasm"},
        {".pdf", "application/pdf"},
        {".xml", "application/xml"},
        {".woff2", "font/woff2"},
    };
    const char *dot = strrchr(path, '.');

    for (size_t i = 0; dot && i < sizeof(types) / sizeof(types[0]); i++)
        if (!strcmp(dot, types[i].ext))
            return types[i].type;
    return "application/octet-stream";
}

static int hex(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* Percent-decode into out; false for bad escapes, NUL bytes, or a path too long. */
static bool decode(struct http_str in, char *out, size_t cap)
{
    size_t n = 0;

    for (size_t i = 0; i < in.len; i++) {
        char c = in.ptr[i];

        if (c == '%') {
            if (i + 2 >= in.len || hex(in.ptr[i + 1]) < 0 || hex(in.ptr[i + 2]) < 0)
                return false;
            c = (char)(hex(in.ptr[i + 1]) << 4 | hex(in.ptr[i + 2]));
            i += 2;
        }
        if (c == '\0' || n + 1 >= cap)
            return false;
        out[n++] = c;
    }
    out[n] = '\0';
    return n > 0;
}

static void unmap(const void *body, size_t len)
{
    munmap((void *)body, len);
}

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint32_t path_hash(const char *path)
{
    uint32_t h = 2166136261u;

    for (; *path; path++)
        h = (h ^ (uint8_t)*path) * 16777619u;
    return h;
}

/* The ETag of a file's version: its size and modification time. Returns its length. */
static int etag_of(const struct stat *st, char *etag, size_t cap)
{
    return snprintf(etag, cap, "\"%llx-%llx\"", (unsigned long long)st->st_size,
                    (unsigned long long)st->st_mtim.tv_sec * 1000000000ull +
                        (unsigned long long)st->st_mtim.tv_nsec);
}

/* A response from a cached mapping is over: the entry may be replaced again. */
static void cache_release(const void *body, size_t len)
{
    struct cached_file *cache = pthread_getspecific(static_cache_key);

    (void)len;
    for (int i = 0; cache && i < STATIC_CACHE_ENTRIES; i++)
        if (cache[i].map == body && cache[i].refs) {
            cache[i].refs--;
            return;
        }
}

static void cache_drop(struct cached_file *f)
{
    if (f->map)
        munmap(f->map, f->size);
    memset(f, 0, sizeof(*f));
}

/* What the file system says of path: 0 with *st filled and the file's fd, or an HTTP status. */
static int open_file(const char *path, struct stat *st, int *fd)
{
    struct open_how how = {.flags = O_RDONLY | O_CLOEXEC, .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS};

    *fd = (int)syscall(SYS_openat2, static_dir_fd, path, &how, sizeof(how));
    if (*fd < 0)
        return errno == EACCES ? 403 : 404; /* EXDEV: it tried to leave the directory */
    if (fstat(*fd, st) || !S_ISREG(st->st_mode)) {
        close(*fd);
        return 404;
    }
    return 0;
}

/*
 * The cache entry for path, mapped and confirmed within STATIC_CACHE_VALID_NS; NULL when the file
 * cannot be served from the cache (*status is then 0 to serve it uncached, or an HTTP status).
 */
static struct cached_file *cache_get(const char *path, int *status)
{
    struct cached_file *f, *cache = pthread_getspecific(static_cache_key);
    uint64_t now = now_ns();
    struct stat st;
    int fd;

    *status = 0;
    if (strlen(path) >= STATIC_CACHE_PATH)
        return NULL;
    if (!cache) {
        if (!(cache = calloc(STATIC_CACHE_ENTRIES, sizeof(*cache))) ||
            pthread_setspecific(static_cache_key, cache)) {
            free(cache);
            return NULL;
        }
    }
    f = &cache[path_hash(path) % STATIC_CACHE_ENTRIES];
    if (f->path[0] && !strcmp(f->path, path) && now - f->checked_ns < STATIC_CACHE_VALID_NS)
        return f;
    if (f->refs && strcmp(f->path, path))
        return NULL; /* another file's mapping is being sent: this request maps its own */
    if ((*status = open_file(path, &st, &fd)))
        return NULL;
    if (!strcmp(f->path, path) && st.st_size == (off_t)f->size && st.st_mtim.tv_sec == f->mtime.tv_sec &&
        st.st_mtim.tv_nsec == f->mtime.tv_nsec) {
        close(fd);
        f->checked_ns = now;
        return f;
    }
    if (f->refs) { /* changed while its old contents are being sent */
        close(fd);
        return NULL;
    }
    cache_drop(f);
    if (st.st_size) {
        f->map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (f->map == MAP_FAILED) {
            f->map = NULL;
            close(fd);
            *status = 500;
            return NULL;
        }
    }
    close(fd);
    strcpy(f->path, path);
    f->size = (size_t)st.st_size;
    f->mtime = st.st_mtim;
    f->etag_len = etag_of(&st, f->etag, sizeof(f->etag));
    f->checked_ns = now;
    return f;
}

/* The answer from a confirmed file: 304 when the client has it, else its bytes. True when release
 * was handed the mapping (it is called once the response is done with it). */
static bool respond_file(struct http_request *req, const char *path, const char *etag, int etag_len,
                         void *map, size_t size, void (*release)(const void *, size_t))
{
    struct http_str match = http_header(req, "if-none-match");

    http_add_header(req, "etag", etag, (size_t)etag_len);
    if (match.ptr && match.len == (size_t)etag_len && !memcmp(match.ptr, etag, (size_t)etag_len)) {
        http_respond(req, 304, NULL, NULL, 0);
        return false;
    }
    if (!size) {
        http_respond(req, 200, content_type(path), NULL, 0);
        return false;
    }
    http_respond_owned(req, 200, content_type(path), map, size, release);
    return true;
}

int handler_static_file(struct http_request *req)
{
    char path[PATH_MAX_DECODED], etag[64];
    struct cached_file *f;
    struct stat st;
    void *map = NULL;
    int fd, status, etag_len;

    if (static_dir_fd < 0 || !decode(http_param(req, "path"), path, sizeof(path))) {
        http_respond_error(req, 404);
        return HANDLER_DONE;
    }
    if ((f = cache_get(path, &status))) {
        f->refs++; /* before: a response may be done with the mapping before respond_file returns */
        if (!respond_file(req, path, f->etag, f->etag_len, f->map, f->size, cache_release))
            f->refs--;
        return HANDLER_DONE;
    }
    if (status || (status = open_file(path, &st, &fd))) {
        http_respond_error(req, status);
        return HANDLER_DONE;
    }
    etag_len = etag_of(&st, etag, sizeof(etag));
    if (st.st_size && (map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0)) == MAP_FAILED) {
        close(fd);
        http_respond_error(req, 500);
        return HANDLER_DONE;
    }
    close(fd);
    if (!respond_file(req, path, etag, etag_len, map, (size_t)st.st_size, unmap) && map)
        munmap(map, (size_t)st.st_size);
    return HANDLER_DONE;
}
