/*
 * static_file.c — GET|HEAD /static/{path}: files from the configured directory.
 *
 * The path is percent-decoded and opened with openat2(RESOLVE_BENEATH) under the directory's fd,
 * so no "..", absolute path or symlink can reach outside it; anything that tries is 404. The file
 * is mapped and its pages go from the mapping into the transmit buffers (the one copy on the way
 * out); the mapping is released with the response. An ETag from size and modification time
 * answers If-None-Match with 304.
 */
#include "static_file.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "http.h"

#define PATH_MAX_DECODED 1024

static int static_dir_fd = -1; /* set before the workers start, read-only afterwards */

int static_file_open_dir(const char *dir, struct err *e)
{
    int fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);

    if (fd < 0)
        return ERR(e, EXIT_STATUS_USAGE, errno, "cannot open the static directory %s", dir);
    static_dir_fd = fd;
    return 0;
}

static const char *content_type(const char *path)
{
    static const struct {
        const char *ext;
        const char *type;
    } types[] = {
        {".html", "text/html; charset=utf-8"}, {".htm", "text/html; charset=utf-8"},
        {".css", "text/css"},                  {".js", "text/javascript"},
        {".json", "application/json"},         {".txt", "text/plain; charset=utf-8"},
        {".png", "image/png"},                 {".jpg", "image/jpeg"},
        {".jpeg", "image/jpeg"},               {".gif", "image/gif"},
        {".svg", "image/svg+xml"},             {".ico", "image/x-icon"},
        {".wasm", "application/wasm"},         {".pdf", "application/pdf"},
        {".xml", "application/xml"},           {".woff2", "font/woff2"},
    };
    const char *dot = strrchr(path, '.');

    for (size_t i = 0; dot && i < sizeof(types) / sizeof(types[0]); i++)
        if (!strcmp(dot, types[i].ext))
            return types[i].type;
    return "application/octet-stream";
}

static int hex(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
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

int handler_static_file(struct http_request *req)
{
    struct open_how how = {.flags = O_RDONLY | O_CLOEXEC, .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS};
    char path[PATH_MAX_DECODED], etag[64];
    struct http_str match;
    struct stat st;
    void *map;
    int fd, etag_len;

    if (static_dir_fd < 0 || !decode(http_param(req, "path"), path, sizeof(path))) {
        http_respond_error(req, 404);
        return HANDLER_DONE;
    }
    fd = (int)syscall(SYS_openat2, static_dir_fd, path, &how, sizeof(how));
    if (fd < 0) {
        http_respond_error(req, errno == EACCES ? 403 : 404); /* EXDEV: it tried to leave the directory */
        return HANDLER_DONE;
    }
    if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
        close(fd);
        http_respond_error(req, 404);
        return HANDLER_DONE;
    }
    etag_len = snprintf(etag, sizeof(etag), "\"%llx-%llx\"", (unsigned long long)st.st_size,
                        (unsigned long long)st.st_mtim.tv_sec * 1000000000ull + (unsigned long long)st.st_mtim.tv_nsec);
    http_add_header(req, "etag", etag, (size_t)etag_len);
    match = http_header(req, "if-none-match");
    if (match.ptr && match.len == (size_t)etag_len && !memcmp(match.ptr, etag, (size_t)etag_len)) {
        close(fd);
        http_respond(req, 304, NULL, NULL, 0);
        return HANDLER_DONE;
    }
    if (st.st_size == 0) {
        close(fd);
        http_respond(req, 200, content_type(path), NULL, 0);
        return HANDLER_DONE;
    }
    map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) {
        http_respond_error(req, 500);
        return HANDLER_DONE;
    }
    http_respond_owned(req, 200, content_type(path), map, (size_t)st.st_size, unmap);
    return HANDLER_DONE;
}
