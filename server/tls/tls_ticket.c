/*
 * tls_ticket.c — the session ticket keys (tls_ticket.h): the key file, its rotation, and the OpenSSL
 * callback that seals and opens tickets with them.
 *
 * The callback runs on every worker, once per handshake that issues or presents a ticket: it takes a
 * read lock, looks a key up among a handful, and sets the cipher and MAC contexts OpenSSL hands it;
 * it allocates nothing of its own and touches no file. Everything else (reading, rotating, rewriting the
 * file) runs on the main thread, which builds the new key array aside and swaps it in under the write lock.
 */
#include "tls/tls_ticket.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#define TICKET_NAME_LEN 16
#define TICKET_HMAC_LEN 32
#define TICKET_AES_LEN  32
#define TICKET_KEY_LEN  (TICKET_NAME_LEN + TICKET_HMAC_LEN + TICKET_AES_LEN) /* nginx's 80-byte key file */
#define TICKET_HEX_LEN  (2 * TICKET_KEY_LEN)
#define TICKET_IV_LEN   16 /* AES-256-CBC */

/* A year of hours: rotating more rarely would keep one key able to open a year of recorded sessions. */
#define TICKET_ROTATE_HOURS_MAX (24u * 366u)

struct ticket_key {
    int64_t created; /* unix seconds */
    unsigned char name[TICKET_NAME_LEN];
    unsigned char hmac[TICKET_HMAC_LEN];
    unsigned char aes[TICKET_AES_LEN];
    size_t line; /* the key file's line it came from, for error messages; 0 for a new key */
};

/* A growable array of keys, as read from the file or being built for the next swap. */
struct key_list {
    struct ticket_key *v;
    size_t n, cap;
};

struct tls_ticket_keys {
    char *path, *tmp_path, *lock_path; /* all NULL: keys in memory only */
    int64_t rotate_s;                  /* rotate_hours in seconds */
    /* Guards live/nlive between the main thread (writer, once per refresh) and the workers' ticket
     * callbacks (readers, once per handshake). A read lock costs one atomic on a shared line, noise
     * beside a handshake's public-key operations; writers are preferred so that a busy server still
     * rotates. */
    pthread_rwlock_t lock;
    EVP_CIPHER *aes; /* AES-256-CBC fetched once: an implicit fetch per ticket would take a global lock */
    struct ticket_key *live; /* newest first: live[0] seals, all open; never empty after open */
    size_t nlive;
};

static void key_list_free(struct key_list *l)
{
    if (l->v) {
        OPENSSL_cleanse(l->v, l->cap * sizeof(*l->v));
        free(l->v);
    }
    *l = (struct key_list){0};
}

static int key_list_push(struct key_list *l, const struct ticket_key *key, struct err *e)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 4;
        struct ticket_key *v = calloc(cap, sizeof(*v));

        if (!v)
            return ERR(e, EXIT_STATUS_FAILURE, ENOMEM, "TLS ticket keys: out of memory");
        /* copy rather than realloc, so no stale copy of a key is left in freed memory */
        if (l->v) {
            memcpy(v, l->v, l->n * sizeof(*v));
            OPENSSL_cleanse(l->v, l->cap * sizeof(*l->v));
            free(l->v);
        }
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = *key;
    return 0;
}

static int by_newest(const void *a, const void *b)
{
    const struct ticket_key *x = a, *y = b;

    return x->created < y->created ? 1 : x->created > y->created ? -1 : 0;
}

static const char *ssl_reason(void)
{
    unsigned long code = ERR_peek_last_error();
    const char *r = code ? ERR_reason_error_string(code) : NULL;

    return r ? r : "no OpenSSL error queued";
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* One line of the key file into *key, or 0 with key->line 0 for a blank or comment line. */
static int parse_line(const char *path, size_t lineno, char *s, struct ticket_key *key, struct err *e)
{
    unsigned char raw[TICKET_KEY_LEN];
    size_t len = strlen(s), hexlen = 0;
    int64_t created = 0;
    char *p = s;

    while (len && (s[len - 1] == '\n' || s[len - 1] == '\r' || s[len - 1] == ' ' || s[len - 1] == '\t'))
        s[--len] = '\0';
    while (*p == ' ' || *p == '\t')
        p++;
    key->line = 0;
    if (*p == '\0' || *p == '#')
        return 0;
    /* the line is not echoed: it may hold a key */
    if (*p < '0' || *p > '9')
        return ERR(e, EXIT_STATUS_USAGE, 0, "%s:%zu: expected '<created-unix-seconds> <%d hex digits>'", path,
                   lineno, TICKET_HEX_LEN);
    for (; *p >= '0' && *p <= '9'; p++) {
        if (created > (INT64_MAX - (*p - '0')) / 10)
            return ERR(e, EXIT_STATUS_USAGE, 0, "%s:%zu: the creation time is too large", path, lineno);
        created = created * 10 + (*p - '0');
    }
    if (*p == '\0')
        return ERR(e, EXIT_STATUS_USAGE, 0, "%s:%zu: no key after the creation time", path, lineno);
    if (*p != ' ' && *p != '\t')
        return ERR(e, EXIT_STATUS_USAGE, 0, "%s:%zu: expected a space between the creation time and the key",
                   path, lineno);
    while (*p == ' ' || *p == '\t')
        p++;
    while (p[hexlen] && p[hexlen] != ' ' && p[hexlen] != '\t')
        hexlen++;
    if (p[hexlen])
        return ERR(e, EXIT_STATUS_USAGE, 0, "%s:%zu: unexpected text after the key", path, lineno);
    if (hexlen != TICKET_HEX_LEN)
        return ERR(e, EXIT_STATUS_USAGE, 0,
                   "%s:%zu: the key is %zu hex digits, expected %d (16-byte name, 32-byte HMAC key, 32-byte "
                   "AES key)",
                   path, lineno, hexlen, TICKET_HEX_LEN);
    for (size_t i = 0; i < TICKET_KEY_LEN; i++) {
        int hi = hex_value(p[2 * i]), lo = hex_value(p[2 * i + 1]);

        if (hi < 0 || lo < 0) {
            OPENSSL_cleanse(raw, sizeof(raw));
            return ERR(e, EXIT_STATUS_USAGE, 0, "%s:%zu: '%c' in the key is not a hex digit", path, lineno,
                       hi < 0 ? p[2 * i] : p[2 * i + 1]);
        }
        raw[i] = (unsigned char)(hi << 4 | lo);
    }
    key->created = created;
    memcpy(key->name, raw, TICKET_NAME_LEN);
    memcpy(key->hmac, raw + TICKET_NAME_LEN, TICKET_HMAC_LEN);
    memcpy(key->aes, raw + TICKET_NAME_LEN + TICKET_HMAC_LEN, TICKET_AES_LEN);
    key->line = lineno;
    OPENSSL_cleanse(raw, sizeof(raw));
    return 0;
}

/* Every key of the file into *l (empty when the file does not exist). Fails, naming the line, on
 * the first line that is not a key, a comment or blank. */
static int keys_read(const char *path, struct key_list *l, struct err *e)
{
    FILE *f = fopen(path, "re");
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    struct ticket_key key;
    int ret = -1;

    if (!f) {
        if (errno == ENOENT)
            return 0;
        return ERR(e, EXIT_STATUS_USAGE, errno, "cannot open TLS ticket key file %s", path);
    }
    while (getline(&line, &cap, f) >= 0) {
        lineno++;
        if (parse_line(path, lineno, line, &key, e))
            goto out;
        if (!key.line)
            continue;
        /* a name picks the key that opens a ticket: two keys under one name would be ambiguous */
        for (size_t i = 0; i < l->n; i++)
            if (!memcmp(l->v[i].name, key.name, TICKET_NAME_LEN)) {
                ERR(e, EXIT_STATUS_USAGE, 0,
                    "%s:%zu: the key's name (its first 32 hex digits) repeats line %zu's", path, lineno,
                    l->v[i].line);
                goto out;
            }
        if (key_list_push(l, &key, e))
            goto out;
    }
    if (ferror(f)) {
        ERR(e, EXIT_STATUS_FAILURE, errno, "cannot read TLS ticket key file %s", path);
        goto out;
    }
    ret = 0;
out:
    OPENSSL_cleanse(&key, sizeof(key));
    if (line) {
        OPENSSL_cleanse(line, cap);
        free(line);
    }
    fclose(f);
    return ret;
}

/*
 * The rotation, on the keys as read: drop the expired (2 * rotate_hours old), then add a new key
 * when none is left or the newest is rotate_hours old. *added says whether the set changed so that
 * the file must be written; otherwise the file stays as it is, comments and all.
 */
static int keys_rotate(struct key_list *l, int64_t rotate_s, time_t now, bool *added, struct err *e)
{
    struct ticket_key key = {.created = now};
    unsigned char raw[TICKET_KEY_LEN];
    size_t n = 0;

    *added = false;
    if (l->n) {
        qsort(l->v, l->n, sizeof(*l->v), by_newest);
        for (size_t i = 0; i < l->n; i++)
            if ((int64_t)now - l->v[i].created < 2 * rotate_s)
                l->v[n++] = l->v[i];
        OPENSSL_cleanse(l->v + n, (l->n - n) * sizeof(*l->v));
        l->n = n;
    }
    if (n && (int64_t)now - l->v[0].created < rotate_s)
        return 0;
    if (RAND_bytes(raw, sizeof(raw)) != 1)
        return ERR(e, EXIT_STATUS_FAILURE, 0, "cannot make a TLS ticket key: RAND_bytes: %s", ssl_reason());
    memcpy(key.name, raw, TICKET_NAME_LEN);
    memcpy(key.hmac, raw + TICKET_NAME_LEN, TICKET_HMAC_LEN);
    memcpy(key.aes, raw + TICKET_NAME_LEN + TICKET_HMAC_LEN, TICKET_AES_LEN);
    OPENSSL_cleanse(raw, sizeof(raw));
    if (key_list_push(l, &key, e)) {
        OPENSSL_cleanse(&key, sizeof(key));
        return -1;
    }
    OPENSSL_cleanse(&key, sizeof(key));
    /* the new key is the newest: move it to the front */
    qsort(l->v, l->n, sizeof(*l->v), by_newest);
    *added = true;
    return 0;
}

static int write_all(int fd, const char *buf, size_t len)
{
    while (len) {
        ssize_t n = write(fd, buf, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* The directory holding path, made durable after the rename (a crash must not lose the new key
 * that tickets were already sealed with). */
static int fsync_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char dir[4096];
    int fd, ret;

    if (!slash)
        snprintf(dir, sizeof(dir), ".");
    else if (slash == path)
        snprintf(dir, sizeof(dir), "/");
    else if ((size_t)(slash - path) < sizeof(dir))
        snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
    else
        return 0;
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ret = fsync(fd);
    close(fd);
    return ret;
}

/* l into the key file: PATH.tmp, fsync, rename over PATH, fsync the directory. Called under the
 * lock, so PATH.tmp is ours. 0 done; -1 failed, PATH as it was; 1 renamed into place, but the
 * directory's fsync failed (e says so). */
static int keys_write(const struct tls_ticket_keys *k, const struct key_list *l, struct err *e)
{
    static const char header[] =
        "# sluice TLS session ticket keys (server/tls/tls_ticket.h); keep secret: they open every ticket.\n"
        "# <created-unix-seconds> <160 hex: 16-byte name, 32-byte HMAC-SHA256 key, 32-byte AES-256 key>\n";
    /* one line: up to 20 digits, a space, the key, a newline */
    char line[24 + TICKET_HEX_LEN + 2];
    int fd, ret = -1;

    fd = open(k->tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return ERR(e, EXIT_STATUS_FAILURE, errno, "cannot create %s", k->tmp_path);
    /* 0600 whatever the umask or an old PATH.tmp said: the keys open every client's session */
    if (fchmod(fd, 0600)) {
        ERR(e, EXIT_STATUS_FAILURE, errno, "cannot chmod 0600 %s", k->tmp_path);
        goto out;
    }
    if (write_all(fd, header, sizeof(header) - 1)) {
        ERR(e, EXIT_STATUS_FAILURE, errno, "cannot write %s", k->tmp_path);
        goto out;
    }
    for (size_t i = 0; i < l->n; i++) {
        const struct ticket_key *key = &l->v[i];
        int n = snprintf(line, sizeof(line), "%lld ", (long long)key->created);

        for (size_t j = 0; j < TICKET_NAME_LEN; j++, n += 2)
            snprintf(line + n, 3, "%02x", key->name[j]);
        for (size_t j = 0; j < TICKET_HMAC_LEN; j++, n += 2)
            snprintf(line + n, 3, "%02x", key->hmac[j]);
        for (size_t j = 0; j < TICKET_AES_LEN; j++, n += 2)
            snprintf(line + n, 3, "%02x", key->aes[j]);
        line[n++] = '\n';
        if (write_all(fd, line, (size_t)n)) {
            ERR(e, EXIT_STATUS_FAILURE, errno, "cannot write %s", k->tmp_path);
            goto out;
        }
    }
    if (fsync(fd)) {
        ERR(e, EXIT_STATUS_FAILURE, errno, "cannot fsync %s", k->tmp_path);
        goto out;
    }
    if (close(fd)) {
        fd = -1;
        ERR(e, EXIT_STATUS_FAILURE, errno, "cannot write %s", k->tmp_path);
        goto out;
    }
    fd = -1;
    if (rename(k->tmp_path, k->path)) {
        ERR(e, EXIT_STATUS_FAILURE, errno, "cannot rename %s to %s", k->tmp_path, k->path);
        goto out;
    }
    /* the file is in place whatever happens now; only its durability can be in doubt */
    ret = 0;
    if (fsync_dir(k->path)) {
        ERR(e, EXIT_STATUS_FAILURE, errno, "cannot fsync the directory of %s", k->path);
        ret = 1;
    }
out:
    OPENSSL_cleanse(line, sizeof(line));
    if (fd >= 0)
        close(fd);
    if (ret < 0)
        unlink(k->tmp_path);
    return ret;
}

/* l becomes the set the callbacks use; l is left empty. The old set is wiped once no callback holds
 * it (after the write lock). */
static void keys_publish(struct tls_ticket_keys *k, struct key_list *l)
{
    struct ticket_key *old;
    size_t nold;

    pthread_rwlock_wrlock(&k->lock);
    old = k->live;
    nold = k->nlive;
    k->live = l->v;
    k->nlive = l->n;
    pthread_rwlock_unlock(&k->lock);
    /* the array may be larger than its keys: wipe what it held, the spare slots are zero */
    if (old) {
        OPENSSL_cleanse(old, nold * sizeof(*old));
        free(old);
    }
    *l = (struct key_list){0};
}

int tls_ticket_keys_refresh(struct tls_ticket_keys *k, time_t now, struct err *e)
{
    struct key_list l = {0};
    bool added = false;
    int lock_fd = -1, written = 0, ret = -1;

    if (!k->path) {
        /* in memory: the live set is the one source of keys */
        pthread_rwlock_rdlock(&k->lock);
        for (size_t i = 0; i < k->nlive; i++)
            if (key_list_push(&l, &k->live[i], e)) {
                pthread_rwlock_unlock(&k->lock);
                goto out;
            }
        pthread_rwlock_unlock(&k->lock);
        if (keys_rotate(&l, k->rotate_s, now, &added, e))
            goto out;
        keys_publish(k, &l);
        return 0;
    }
    /*
     * Re-read, decide and write under one exclusive lock, so that of two processes rotating at once
     * the second reads the first's new key and adds none. The lock is on PATH.lock, never replaced:
     * a lock on PATH itself would be on the inode the rename retires, and a third process would lock
     * the new one meanwhile.
     */
    lock_fd = open(k->lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (lock_fd < 0) {
        ERR(e, EXIT_STATUS_FAILURE, errno, "cannot open the lock file %s", k->lock_path);
        goto out;
    }
    while (flock(lock_fd, LOCK_EX)) {
        if (errno != EINTR) {
            ERR(e, EXIT_STATUS_FAILURE, errno, "cannot lock %s", k->lock_path);
            goto out;
        }
    }
    /* a file that does not parse is left as it is, and the keys in memory go on serving */
    if (keys_read(k->path, &l, e))
        goto out;
    if (keys_rotate(&l, k->rotate_s, now, &added, e))
        goto out;
    if (added && (written = keys_write(k, &l, e)) < 0)
        goto out;
    /* once the file holds the new key the other processes seal with it: this one must open it too,
     * even when the write's durability failed */
    keys_publish(k, &l);
    ret = written ? -1 : 0;
out:
    if (lock_fd >= 0)
        close(lock_fd); /* releases the flock */
    key_list_free(&l);
    return ret;
}

struct tls_ticket_keys *tls_ticket_keys_open(const char *path, uint32_t rotate_hours, time_t now,
                                             struct err *e)
{
    struct tls_ticket_keys *k;
    pthread_rwlockattr_t attr;

    if (rotate_hours == 0 || rotate_hours > TICKET_ROTATE_HOURS_MAX) {
        ERR(e, EXIT_STATUS_USAGE, 0, "TLS ticket key rotation every %u hours: expected 1 to %u", rotate_hours,
            TICKET_ROTATE_HOURS_MAX);
        return NULL;
    }
    k = calloc(1, sizeof(*k));
    if (!k) {
        ERR(e, EXIT_STATUS_FAILURE, ENOMEM, "TLS ticket keys: out of memory");
        return NULL;
    }
    k->rotate_s = (int64_t)rotate_hours * 3600;
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&k->lock, &attr);
    pthread_rwlockattr_destroy(&attr);
    k->aes = EVP_CIPHER_fetch(NULL, "AES-256-CBC", NULL);
    if (!k->aes) {
        ERR(e, EXIT_STATUS_FAILURE, 0, "TLS ticket keys: no AES-256-CBC: %s", ssl_reason());
        goto fail;
    }
    if (path && (asprintf(&k->path, "%s", path) < 0 || asprintf(&k->tmp_path, "%s.tmp", path) < 0 ||
                 asprintf(&k->lock_path, "%s.lock", path) < 0)) {
        ERR(e, EXIT_STATUS_FAILURE, ENOMEM, "TLS ticket keys: out of memory");
        goto fail;
    }
    /* opening is a first refresh: a missing file, or one whose keys are all too old, gets a new key */
    if (tls_ticket_keys_refresh(k, now, e))
        goto fail;
    return k;
fail:
    tls_ticket_keys_free(k);
    return NULL;
}

void tls_ticket_keys_free(struct tls_ticket_keys *k)
{
    if (!k)
        return;
    if (k->live) {
        OPENSSL_cleanse(k->live, k->nlive * sizeof(*k->live));
        free(k->live);
    }
    pthread_rwlock_destroy(&k->lock);
    EVP_CIPHER_free(k->aes);
    free(k->path);
    free(k->tmp_path);
    free(k->lock_path);
    free(k);
}

/* ---- the OpenSSL side ------------------------------------------------------------------------------- */

static pthread_once_t ex_once = PTHREAD_ONCE_INIT;
static int ex_index = -1;

static void ex_index_init(void)
{
    ex_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

/*
 * OpenSSL's ticket callback (SSL_CTX_set_tlsext_ticket_key_evp_cb(3)). enc: choose the newest key,
 * write its name and a fresh IV, set up AES-256-CBC and HMAC-SHA256 with it; 1. Not enc: find the
 * key by name; 0 when none (the ticket is ignored and a full handshake follows), 2 when it is an
 * older key (the ticket is accepted and a fresh one, under the newest key, is issued), 1 for the
 * newest. -1 on an internal failure, which fails the handshake.
 *
 * OpenSSL calls the callback of the context the connection started on, but the key set is taken
 * from the one it is on now (SSL_get_SSL_CTX): after an SNI switch (SSL_set_SSL_CTX) the two
 * differ, and both were installed with the same keys.
 */
static int ticket_key_cb(SSL *ssl, unsigned char *name, unsigned char *iv, EVP_CIPHER_CTX *cctx,
                         EVP_MAC_CTX *hctx, int enc)
{
    struct tls_ticket_keys *k = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ex_index);
    const struct ticket_key *key = NULL;
    OSSL_PARAM params[3];
    int ret = -1;

    if (!k)
        return 0; /* a context nobody installed: no ticket issued, none accepted */
    pthread_rwlock_rdlock(&k->lock);
    if (enc) {
        if (!k->nlive) {
            ret = 0;
            goto out;
        }
        key = &k->live[0];
        memcpy(name, key->name, TICKET_NAME_LEN);
        if (RAND_bytes(iv, TICKET_IV_LEN) != 1 || EVP_EncryptInit_ex(cctx, k->aes, NULL, key->aes, iv) != 1)
            goto out;
        ret = 1;
    } else {
        for (size_t i = 0; i < k->nlive && !key; i++)
            if (!memcmp(name, k->live[i].name, TICKET_NAME_LEN)) {
                key = &k->live[i];
                ret = i == 0 ? 1 : 2;
            }
        if (!key) {
            ret = 0;
            goto out;
        }
        if (EVP_DecryptInit_ex(cctx, k->aes, NULL, key->aes, iv) != 1) {
            ret = -1;
            goto out;
        }
    }
    /* the MAC copies the key: nothing points into live[] once the lock is released */
    params[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, (void *)key->hmac, TICKET_HMAC_LEN);
    params[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
    params[2] = OSSL_PARAM_construct_end();
    if (EVP_MAC_CTX_set_params(hctx, params) != 1)
        ret = -1;
out:
    pthread_rwlock_unlock(&k->lock);
    return ret;
}

int tls_ticket_keys_install(struct tls_ticket_keys *k, SSL_CTX *ctx, struct err *e)
{
    long previous;

    pthread_once(&ex_once, ex_index_init);
    if (ex_index < 0)
        return ERR(e, EXIT_STATUS_FAILURE, 0, "TLS ticket keys: no SSL_CTX ex data index: %s", ssl_reason());
    if (SSL_CTX_set_ex_data(ctx, ex_index, k) != 1)
        return ERR(e, EXIT_STATUS_FAILURE, 0, "TLS ticket keys: cannot attach them to a context: %s",
                   ssl_reason());
    if (SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_key_cb) != 1)
        return ERR(e, EXIT_STATUS_FAILURE, 0, "TLS ticket keys: cannot set the ticket callback: %s",
                   ssl_reason());
    /* a session (and its ticket) lives as long as the keys that can open it: two rotations */
    previous = SSL_CTX_set_timeout(ctx, (long)(2 * k->rotate_s));
    (void)previous;
    return 0;
}
