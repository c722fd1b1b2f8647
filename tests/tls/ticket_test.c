/*
 * ticket_test.c — TLS session ticket keys (server/tls/tls_ticket.h): the key file, rotation, and
 * resumption between real OpenSSL peers in memory.
 *
 * The key file: a missing one is created 0600 with one key; every kind of bad line is an error
 * naming FILE:LINE that leaves the file as it was (also when it breaks under a running key set,
 * which goes on serving); a file whose keys are dead gets a new one. Resumption: an OpenSSL client
 * and server over a BIO pair, TLS 1.3 (and 1.2) with a self-signed P-256 certificate made here; a
 * ticket from one server context resumes on another context with the same key set (another worker)
 * and on one with a key set opened from the same file (a restart), survives one rotation (and is
 * then replaced by one under the new key), dies with the second, and never opens under a key set
 * from another file. Rotation races: two key sets, and two processes released together, refreshing
 * the same file past rotation time add one key between them. Handshakes on several threads while
 * the main thread rotates, for the sanitizers.
 *
 * Time is a fake clock passed to open and refresh; OpenSSL's own session clock is real, and ticket
 * lifetimes (2 * rotate hours) are far longer than the test.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "tests/lib/check.h"
#include "common/err.h"
#include "tls/tls_ticket.h"

#define HOURS 12
#define ROT   ((time_t)HOURS * 3600)
#define T0    ((time_t)1700000000)

#define MAX_FILE_KEYS 16

static char dir[] = "/tmp/sluice-ticket-test.XXXXXX";
static EVP_PKEY *pkey;
static X509 *cert;
static SSL_CTX *client13, *client12;

/* ---- helpers -------------------------------------------------------------------------------------- */

static const char *path_of(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "%s/%s", dir, name);
    return buf;
}

/* 160 hex digits of a key whose bytes follow from seed; its name is the first 32 digits. */
static void hex_key(char out[161], unsigned seed)
{
    for (int i = 0; i < 80; i++)
        snprintf(out + 2 * i, 3, "%02x", (unsigned)(0xa0 + seed * 7 + i * 13) & 0xff);
}

/* A key file from a template: T becomes T0, K the key good, B the key bad; the rest is copied. */
static void expand(char *out, size_t n, const char *tmpl, const char *good, const char *bad)
{
    size_t len = 0;

    for (const char *p = tmpl; *p && len + 1 < n; p++) {
        int w = *p == 'T'   ? snprintf(out + len, n - len, "%lld", (long long)T0)
                : *p == 'K' ? snprintf(out + len, n - len, "%s", good)
                : *p == 'B' ? snprintf(out + len, n - len, "%s", bad)
                            : snprintf(out + len, n - len, "%c", *p);

        len = w < 0 || (size_t)w >= n - len ? n - 1 : len + (size_t)w;
    }
    out[len] = '\0';
}

static int write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    size_t len = strlen(text);

    if (fd < 0)
        return -1;
    if (write(fd, text, len) != (ssize_t)len) {
        close(fd);
        return -1;
    }
    return close(fd);
}

/* The file's bytes, malloc'd and NUL-terminated; NULL when it cannot be read. */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    char *buf = NULL;
    size_t len = 0;
    long size;

    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (buf = malloc((size_t)size + 1)))
        len = fread(buf, 1, (size_t)size, f);
    if (buf)
        buf[len] = '\0';
    fclose(f);
    return buf;
}

/* The keys of a key file as the test reads it: created times and names (32 hex digits). */
struct file_keys {
    size_t n, newest;
    long long created[MAX_FILE_KEYS];
    char name[MAX_FILE_KEYS][33];
};

static int read_keys(const char *path, struct file_keys *fk)
{
    FILE *f = fopen(path, "r");
    char line[512], hex[200];
    long long created;

    memset(fk, 0, sizeof(*fk));
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f)) {
        if (line[0] == '#' || line[0] == '\n')
            continue;
        if (sscanf(line, "%lld %199s", &created, hex) != 2 || strlen(hex) != 160 || fk->n == MAX_FILE_KEYS) {
            fclose(f);
            return -1;
        }
        fk->created[fk->n] = created;
        snprintf(fk->name[fk->n], sizeof(fk->name[0]), "%.32s", hex);
        if (created > fk->created[fk->newest])
            fk->newest = fk->n;
        fk->n++;
    }
    fclose(f);
    return 0;
}

static SSL_CTX *server_ctx(struct tls_ticket_keys *k, int max_version)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    struct err e;

    if (!ctx)
        return NULL;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_max_proto_version(ctx, max_version);
    /* no session cache: a resumption can only come from the ticket */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    if (SSL_CTX_use_certificate(ctx, cert) != 1 || SSL_CTX_use_PrivateKey(ctx, pkey) != 1 ||
        tls_ticket_keys_install(k, ctx, &e)) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

static SSL_CTX *client_ctx(int version)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

    if (!ctx)
        return NULL;
    SSL_CTX_set_min_proto_version(ctx, version);
    SSL_CTX_set_max_proto_version(ctx, version);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    return ctx;
}

/* What one handshake gave: the client's session after it read the tickets, and the key they name. */
struct hs {
    bool ok, reused;
    SSL_SESSION *session;
    char ticket_name[33]; /* the first 16 bytes of the ticket, in hex: the name of the key that sealed it */
};

static bool want_io(SSL *ssl, int r)
{
    int err = SSL_get_error(ssl, r);

    return err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE;
}

/* A client (client, resuming `resume` when not NULL) and a server of sctx over a BIO pair. */
static void handshake(SSL_CTX *client, SSL_CTX *sctx, SSL_SESSION *resume, struct hs *out)
{
    SSL *c = SSL_new(client), *s = SSL_new(sctx);
    BIO *cb = NULL, *sb = NULL;
    bool cdone = false, sdone = false;
    const unsigned char *tick;
    size_t ticklen = 0;
    char buf[1];
    int r;

    memset(out, 0, sizeof(*out));
    if (!c || !s || BIO_new_bio_pair(&cb, 0, &sb, 0) != 1)
        goto out;
    SSL_set_bio(c, cb, cb);
    SSL_set_bio(s, sb, sb);
    SSL_set_connect_state(c);
    SSL_set_accept_state(s);
    if (resume && SSL_set_session(c, resume) != 1)
        goto out;
    for (int i = 0; i < 64 && !(cdone && sdone); i++) {
        if (!cdone) {
            r = SSL_do_handshake(c);
            if (r == 1)
                cdone = true;
            else if (!want_io(c, r))
                goto out;
        }
        if (!sdone) {
            r = SSL_do_handshake(s);
            if (r == 1)
                sdone = true;
            else if (!want_io(s, r))
                goto out;
        }
    }
    if (!cdone || !sdone)
        goto out;
    /* TLS 1.3 tickets come after the handshake: a read takes them in, then wants more */
    r = SSL_read(c, buf, sizeof(buf));
    if (r > 0 || !want_io(c, r))
        goto out;
    out->reused = SSL_session_reused(s) == 1;
    if (out->reused != (SSL_session_reused(c) == 1))
        goto out;
    out->session = SSL_get1_session(c);
    if (!out->session)
        goto out;
    SSL_SESSION_get0_ticket(out->session, &tick, &ticklen);
    if (ticklen >= 16)
        for (int i = 0; i < 16; i++)
            snprintf(out->ticket_name + 2 * i, 3, "%02x", tick[i]);
    out->ok = true;
    /* closed cleanly: OpenSSL marks the session of a connection freed without close_notify as not
     * resumable */
    SSL_shutdown(c);
    SSL_shutdown(s);
out:
    ERR_clear_error();
    SSL_free(c);
    SSL_free(s);
}

static void hs_free(struct hs *h)
{
    SSL_SESSION_free(h->session);
    h->session = NULL;
}

/* ---- the key file ----------------------------------------------------------------------------------- */

static void test_missing_file_created(void)
{
    char path[256], tmp[300];
    struct tls_ticket_keys *k;
    struct file_keys fk;
    struct stat st;
    struct err e;
    char *before, *after;
    bool same;

    path_of(path, sizeof(path), "created");
    k = tls_ticket_keys_open(path, HOURS, T0, &e);
    CHECKF(k, "%s", e.msg);
    tls_ticket_keys_free(k);
    CHECK(stat(path, &st) == 0);
    CHECKF((st.st_mode & 07777) == 0600, "mode %o", (unsigned)(st.st_mode & 07777));
    CHECK(read_keys(path, &fk) == 0);
    CHECKF(fk.n == 1, "%zu keys", fk.n);
    CHECKF(fk.created[0] == T0, "created %lld", fk.created[0]);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    CHECK(access(tmp, F_OK) != 0);
    /* opened again before rotation time: the same key, the file untouched */
    before = slurp(path);
    k = tls_ticket_keys_open(path, HOURS, T0 + ROT - 1, &e);
    after = slurp(path);
    tls_ticket_keys_free(k);
    same = before && after && !strcmp(before, after);
    free(before);
    free(after);
    CHECKF(k, "%s", e.msg);
    CHECK(same);
}

static void test_bad_rotate_hours(void)
{
    struct err e;

    CHECK(!tls_ticket_keys_open(NULL, 0, T0, &e));
    CHECKF(e.status == EXIT_STATUS_USAGE, "status %d", e.status);
    CHECK(!tls_ticket_keys_open(NULL, 24 * 367, T0, &e));
}

static void test_parse_errors(void)
{
    char good[161], bad_digit[161], text[1024], path[256], prefix[300];
    struct {
        const char *text; /* T: T0, K: a good key, B: one with a non-hex digit */
        int line;
        const char *says;
    } cases[] = {
        {"# keys\n\nnot-a-key\n", 3, "expected"},
        {"T K\nT abcdef\n", 2, "6 hex digits, expected 160"},
        {"T B\n", 1, "not a hex digit"},
        {"  \n# x\n-5 K\n", 3, "expected"},
        {"T\n", 1, "no key"},
        {"T:K\n", 1, "expected a space"},
        {"T K\nT K\n", 2, "repeats line 1"},
        {"T K trailing\n", 1, "after the key"},
        {"99999999999999999999999 K\n", 1, "too large"},
    };

    hex_key(good, 1);
    memcpy(bad_digit, good, sizeof(good));
    bad_digit[77] = 'g';
    path_of(path, sizeof(path), "bad");
    for (size_t i = 0; i < CHECK_COUNT(cases); i++) {
        struct tls_ticket_keys *k;
        struct err e = {0};
        char *after;
        bool same;

        expand(text, sizeof(text), cases[i].text, good, bad_digit);
        CHECK(write_file(path, text) == 0);
        k = tls_ticket_keys_open(path, HOURS, T0, &e);
        tls_ticket_keys_free(k);
        CHECKF(!k, "case %zu opened", i);
        CHECKF(e.status == EXIT_STATUS_USAGE, "case %zu: status %d", i, e.status);
        snprintf(prefix, sizeof(prefix), "%s:%d: ", path, cases[i].line);
        CHECKF(!strncmp(e.msg, prefix, strlen(prefix)), "case %zu: '%s' does not start '%s'", i, e.msg,
               prefix);
        CHECKF(strstr(e.msg, cases[i].says), "case %zu: '%s' does not say '%s'", i, e.msg, cases[i].says);
        after = slurp(path);
        same = after && !strcmp(after, text);
        free(after);
        CHECKF(same, "case %zu: the file changed", i);
    }
}

/* A file broken under a running key set: refresh fails, leaves it, and the old keys go on serving. */
static void test_refresh_keeps_broken_file(void)
{
    char good[161], text[512], path[256];
    static const char broken[] = "# half an edit\n1700000000 00\n";
    struct tls_ticket_keys *k;
    struct hs first = {0}, again = {0};
    SSL_CTX *ctx;
    struct err e;
    char *after;
    bool same;
    int rc = 0;

    hex_key(good, 2);
    path_of(path, sizeof(path), "broken-later");
    snprintf(text, sizeof(text), "%lld %s\n", (long long)T0, good);
    CHECK(write_file(path, text) == 0);
    k = tls_ticket_keys_open(path, HOURS, T0, &e);
    CHECKF(k, "%s", e.msg);
    ctx = server_ctx(k, TLS1_3_VERSION);
    if (ctx) {
        handshake(client13, ctx, NULL, &first);
        if (write_file(path, broken) == 0)
            rc = tls_ticket_keys_refresh(k, T0 + ROT, &e);
        handshake(client13, ctx, first.session, &again);
    }
    after = slurp(path);
    same = after && !strcmp(after, broken);
    free(after);
    hs_free(&first);
    hs_free(&again);
    SSL_CTX_free(ctx);
    tls_ticket_keys_free(k);
    CHECK(ctx);
    CHECK(first.ok);
    CHECKF(!strncmp(first.ticket_name, good, 32), "ticket under %s", first.ticket_name);
    CHECK(rc == -1);
    CHECKF(e.status == EXIT_STATUS_USAGE && strstr(e.msg, ":2: "), "%s", e.msg);
    CHECK(same);
    CHECK(again.ok && again.reused);
}

static void test_dead_keys_replaced(void)
{
    char good[161], text[512], path[256];
    struct tls_ticket_keys *k;
    struct file_keys fk;
    struct err e;

    hex_key(good, 3);
    path_of(path, sizeof(path), "dead");
    snprintf(text, sizeof(text), "# old\n%lld %s\n", (long long)(T0 - 2 * ROT), good);
    CHECK(write_file(path, text) == 0);
    k = tls_ticket_keys_open(path, HOURS, T0, &e);
    tls_ticket_keys_free(k);
    CHECKF(k, "%s", e.msg);
    CHECK(read_keys(path, &fk) == 0);
    CHECKF(fk.n == 1, "%zu keys", fk.n);
    CHECK(fk.created[0] == T0 && strncmp(fk.name[0], good, 32));
    /* alive but due: rotated on open, the old key kept for decryption */
    snprintf(text, sizeof(text), "%lld %s\n", (long long)(T0 - ROT), good);
    CHECK(write_file(path, text) == 0);
    k = tls_ticket_keys_open(path, HOURS, T0, &e);
    tls_ticket_keys_free(k);
    CHECKF(k, "%s", e.msg);
    CHECK(read_keys(path, &fk) == 0);
    CHECKF(fk.n == 2 && fk.created[fk.newest] == T0, "%zu keys", fk.n);
}

/* ---- resumption ---------------------------------------------------------------------------------- */

/* A ticket from one context resumes on another with the same keys (a worker) and on one with keys
 * opened again from the file (a restart). */
static void test_resume_across_contexts(void)
{
    struct tls_ticket_keys *ka = NULL, *kb = NULL;
    SSL_CTX *c1 = NULL, *c2 = NULL, *c3 = NULL;
    struct hs first = {0}, worker = {0}, restart = {0};
    struct file_keys fk;
    char path[256];
    struct err e;
    long timeout = 0;

    path_of(path, sizeof(path), "shared");
    ka = tls_ticket_keys_open(path, HOURS, T0, &e);
    kb = tls_ticket_keys_open(path, HOURS, T0 + 60, &e);
    if (ka && kb) {
        c1 = server_ctx(ka, TLS1_3_VERSION);
        c2 = server_ctx(ka, TLS1_3_VERSION);
        c3 = server_ctx(kb, TLS1_3_VERSION);
    }
    if (c1 && c2 && c3) {
        timeout = SSL_CTX_get_timeout(c1);
        handshake(client13, c1, NULL, &first);
        handshake(client13, c2, first.session, &worker);
        handshake(client13, c3, first.session, &restart);
    }
    hs_free(&first);
    hs_free(&worker);
    hs_free(&restart);
    SSL_CTX_free(c1);
    SSL_CTX_free(c2);
    SSL_CTX_free(c3);
    tls_ticket_keys_free(ka);
    tls_ticket_keys_free(kb);
    CHECKF(ka && kb, "%s", e.msg);
    CHECK(c1 && c2 && c3);
    CHECKF(timeout == 2 * ROT, "session timeout %ld", timeout);
    CHECK(read_keys(path, &fk) == 0 && fk.n == 1);
    CHECK(first.ok && !first.reused);
    CHECKF(!strcmp(first.ticket_name, fk.name[0]), "ticket under %s, file key %s", first.ticket_name,
           fk.name[0]);
    CHECK(worker.ok && worker.reused);
    CHECK(restart.ok && restart.reused);
}

/* A ticket from a context of `from` presented to a context of `to` (TLS 1.3); the sessions are freed. */
static void cross(struct tls_ticket_keys *from, struct tls_ticket_keys *to, struct hs *first,
                  struct hs *second)
{
    SSL_CTX *a = server_ctx(from, TLS1_3_VERSION), *b = server_ctx(to, TLS1_3_VERSION);

    memset(first, 0, sizeof(*first));
    memset(second, 0, sizeof(*second));
    if (a && b) {
        handshake(client13, a, NULL, first);
        handshake(client13, b, first->session, second);
    }
    hs_free(first);
    hs_free(second);
    SSL_CTX_free(a);
    SSL_CTX_free(b);
}

/* Keys from another file open none of these tickets: a full handshake, no failure. */
static void test_other_file_does_not_resume(void)
{
    struct tls_ticket_keys *ka, *kb;
    struct hs first = {0}, other = {0};
    char pa[256], pb[256];
    struct err e;

    ka = tls_ticket_keys_open(path_of(pa, sizeof(pa), "one"), HOURS, T0, &e);
    kb = tls_ticket_keys_open(path_of(pb, sizeof(pb), "two"), HOURS, T0, &e);
    if (ka && kb)
        cross(ka, kb, &first, &other);
    tls_ticket_keys_free(ka);
    tls_ticket_keys_free(kb);
    CHECKF(ka && kb, "%s", e.msg);
    CHECK(first.ok && !first.reused);
    CHECK(other.ok && !other.reused);
    CHECK(strcmp(first.ticket_name, other.ticket_name));
}

/*
 * Rotation, with the keys in path (or in memory when path is NULL): a ticket sealed before the first
 * rotation resumes after it and comes back under the new key; after the second it is refused.
 */
static void rotation(const char *path, SSL_CTX *client, int version)
{
    struct tls_ticket_keys *k, *restarted = NULL;
    SSL_CTX *ctx = NULL, *ctx2 = NULL;
    struct hs old = {0}, resumed = {0}, fresh = {0}, after_restart = {0}, dead = {0}, mid = {0};
    struct file_keys fk1 = {0}, fk2 = {0}, fk3 = {0};
    char *before = NULL, *unchanged = NULL;
    int rc_early = -1, rc1 = -1, rc2 = -1;
    bool untouched;
    struct err e;

    k = tls_ticket_keys_open(path, HOURS, T0, &e);
    CHECKF(k, "%s", e.msg);
    ctx = server_ctx(k, version);
    if (ctx) {
        handshake(client, ctx, NULL, &old);
        if (path) {
            read_keys(path, &fk1);
            before = slurp(path);
        }
        rc_early = tls_ticket_keys_refresh(k, T0 + ROT - 1, &e);
        if (path)
            unchanged = slurp(path);
        rc1 = tls_ticket_keys_refresh(k, T0 + ROT, &e);
        if (path)
            read_keys(path, &fk2);
        handshake(client, ctx, old.session, &resumed);
        handshake(client, ctx, NULL, &fresh);
        if (path && (restarted = tls_ticket_keys_open(path, HOURS, T0 + ROT + 1, &e)) &&
            (ctx2 = server_ctx(restarted, version)))
            handshake(client, ctx2, old.session, &after_restart);
        rc2 = tls_ticket_keys_refresh(k, T0 + 2 * ROT, &e);
        if (path)
            read_keys(path, &fk3);
        handshake(client, ctx, old.session, &dead);
        handshake(client, ctx, fresh.session, &mid);
    }
    untouched = before && unchanged && !strcmp(before, unchanged);
    free(before);
    free(unchanged);
    hs_free(&old);
    hs_free(&resumed);
    hs_free(&fresh);
    hs_free(&after_restart);
    hs_free(&dead);
    hs_free(&mid);
    SSL_CTX_free(ctx);
    SSL_CTX_free(ctx2);
    tls_ticket_keys_free(k);
    tls_ticket_keys_free(restarted);
    CHECK(ctx);
    CHECK(old.ok && !old.reused && old.ticket_name[0]);
    CHECKF(rc_early == 0 && rc1 == 0 && rc2 == 0, "%s", e.msg);
    /* sealed by the old key, opened after the rotation; the ticket that comes back is under the new key */
    CHECK(resumed.ok && resumed.reused);
    CHECK(fresh.ok && !fresh.reused);
    CHECKF(strcmp(fresh.ticket_name, old.ticket_name), "still under %s", old.ticket_name);
    CHECKF(!strcmp(resumed.ticket_name, fresh.ticket_name), "resumed under %s, new key %s",
           resumed.ticket_name, fresh.ticket_name);
    /* two rotations later the first key is gone; the second still opens its tickets */
    CHECK(dead.ok && !dead.reused);
    CHECK(mid.ok && mid.reused);
    if (path) {
        CHECK(untouched); /* refreshed before rotation time */
        CHECK(fk1.n == 1 && !strcmp(fk1.name[0], old.ticket_name));
        CHECKF(fk2.n == 2, "%zu keys after the first rotation", fk2.n);
        CHECK(fk2.created[fk2.newest] == T0 + ROT && !strcmp(fk2.name[fk2.newest], fresh.ticket_name));
        CHECK(after_restart.ok && after_restart.reused);
        CHECKF(fk3.n == 2, "%zu keys after the second rotation", fk3.n);
        CHECK(fk3.created[fk3.newest] == T0 + 2 * ROT);
        for (size_t i = 0; i < fk3.n; i++)
            CHECKF(strcmp(fk3.name[i], old.ticket_name), "the first key is still in the file, line %zu", i);
    }
}

static void test_rotation_file(void)
{
    char path[256];

    rotation(path_of(path, sizeof(path), "rotate13"), client13, TLS1_3_VERSION);
}

static void test_rotation_memory(void)
{
    rotation(NULL, client13, TLS1_3_VERSION);
}

/* TLS 1.2 tickets go through the same callback; an old key's ticket is renewed in the handshake. */
static void test_rotation_tls12(void)
{
    char path[256];

    rotation(path_of(path, sizeof(path), "rotate12"), client12, TLS1_2_VERSION);
}

/* Two key sets in memory are two sets: no ticket crosses. */
static void test_memory_sets_apart(void)
{
    struct tls_ticket_keys *ka, *kb;
    struct hs first = {0}, same = {0}, first2 = {0}, other = {0};
    struct err e;

    ka = tls_ticket_keys_open(NULL, HOURS, T0, &e);
    kb = tls_ticket_keys_open(NULL, HOURS, T0, &e);
    if (ka && kb) {
        cross(ka, ka, &first, &same);
        cross(ka, kb, &first2, &other);
    }
    tls_ticket_keys_free(ka);
    tls_ticket_keys_free(kb);
    CHECKF(ka && kb, "%s", e.msg);
    CHECK(first.ok && same.ok && first2.ok && other.ok);
    CHECK(same.reused && !other.reused);
}

/* ---- rotation races ---------------------------------------------------------------------------------- */

/* Two key sets on one file, refreshing in turn past rotation time: the second finds the first's key. */
static void test_two_sets_one_rotation(void)
{
    struct tls_ticket_keys *k1, *k2;
    struct hs h1 = {0}, h12 = {0}, h2 = {0}, h21 = {0};
    struct file_keys fk;
    char path[256];
    struct err e;
    int rc1 = -1, rc2 = -1;

    path_of(path, sizeof(path), "two-sets");
    k1 = tls_ticket_keys_open(path, HOURS, T0, &e);
    k2 = tls_ticket_keys_open(path, HOURS, T0, &e);
    if (k1 && k2) {
        rc1 = tls_ticket_keys_refresh(k1, T0 + ROT, &e);
        rc2 = tls_ticket_keys_refresh(k2, T0 + ROT + 5, &e);
        cross(k1, k2, &h1, &h12);
        cross(k2, k1, &h2, &h21);
    }
    tls_ticket_keys_free(k1);
    tls_ticket_keys_free(k2);
    CHECKF(k1 && k2 && rc1 == 0 && rc2 == 0, "%s", e.msg);
    CHECK(read_keys(path, &fk) == 0);
    CHECKF(fk.n == 2, "%zu keys", fk.n);
    CHECK(h1.ok && h2.ok && h12.ok && h21.ok);
    /* both seal with the one new key, and open each other's tickets */
    CHECKF(!strcmp(h1.ticket_name, fk.name[fk.newest]) && !strcmp(h2.ticket_name, fk.name[fk.newest]),
           "%s and %s, newest %s", h1.ticket_name, h2.ticket_name, fk.name[fk.newest]);
    CHECK(h12.reused && h21.reused);
}

/*
 * Two processes, released together, refresh the same file past rotation time: one key is added, and
 * both seal their tickets with it (without the lock each could add its own, and the file would keep
 * only the last: the other process's tickets would resume nowhere else).
 */
static void test_two_processes_one_rotation(void)
{
    for (int round = 0; round < 10; round++) {
        char path[256], name[32], sealed[2][33] = {{0}};
        int ready[2], go[2], results[2], status;
        struct tls_ticket_keys *k;
        struct file_keys fk;
        pid_t pid[2];
        struct err e;
        char byte[2];

        snprintf(name, sizeof(name), "race-%d", round);
        path_of(path, sizeof(path), name);
        k = tls_ticket_keys_open(path, HOURS, T0, &e);
        tls_ticket_keys_free(k);
        CHECKF(k, "%s", e.msg);
        CHECK(pipe(ready) == 0 && pipe(go) == 0 && pipe(results) == 0);
        for (int c = 0; c < 2; c++) {
            pid[c] = fork();
            CHECK(pid[c] >= 0);
            if (pid[c] == 0) {
                char report[33];
                SSL_CTX *ctx = NULL;
                struct hs h = {0};
                int rc = 1;

                close(go[1]);
                close(ready[0]);
                close(results[0]);
                k = tls_ticket_keys_open(path, HOURS, T0, &e);
                if (write(ready[1], "r", 1) == 1 && read(go[0], byte, 1) == 0 && k &&
                    !tls_ticket_keys_refresh(k, T0 + ROT + c, &e) && (ctx = server_ctx(k, TLS1_3_VERSION))) {
                    handshake(client13, ctx, NULL, &h);
                    report[0] = (char)('0' + c);
                    memcpy(report + 1, h.ticket_name, 32);
                    rc = h.ok && write(results[1], report, sizeof(report)) == sizeof(report) ? 0 : 1;
                }
                hs_free(&h);
                SSL_CTX_free(ctx);
                tls_ticket_keys_free(k);
                _exit(rc);
            }
        }
        close(ready[1]);
        close(go[0]);
        close(results[1]);
        /* both children have their keys open: release them at once */
        CHECK(read(ready[0], byte, 1) == 1 && read(ready[0], byte + 1, 1) == 1);
        close(go[1]);
        close(ready[0]);
        for (int c = 0; c < 2; c++) {
            CHECK(waitpid(pid[c], &status, 0) == pid[c]);
            CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0, "round %d: child %d status %d", round, c,
                   status);
        }
        for (int c = 0; c < 2; c++) {
            char report[33];

            CHECK(read(results[0], report, sizeof(report)) == sizeof(report) &&
                  (report[0] == '0' || report[0] == '1'));
            memcpy(sealed[report[0] - '0'], report + 1, 32);
        }
        close(results[0]);
        CHECK(read_keys(path, &fk) == 0);
        CHECKF(fk.n == 2, "round %d: %zu keys", round, fk.n);
        CHECKF(!strcmp(sealed[0], fk.name[fk.newest]) && !strcmp(sealed[1], fk.name[fk.newest]),
               "round %d: the processes seal with %s and %s, the file's newest key is %s", round, sealed[0],
               sealed[1], fk.name[fk.newest]);
    }
}

/* Handshakes on four threads while the main thread rotates the file under them, half a rotation
 * period a step, until they are done: the callbacks read the set while it is swapped. */
static int workers_done;

struct worker_arg {
    SSL_CTX *ctx;
    int ok, reused;
};

static void *worker(void *p)
{
    struct worker_arg *w = p;
    struct hs first, again;

    for (int i = 0; i < 20; i++) {
        handshake(client13, w->ctx, NULL, &first);
        handshake(client13, w->ctx, first.session, &again);
        w->ok += first.ok + again.ok;
        w->reused += again.reused;
        hs_free(&first);
        hs_free(&again);
    }
    __atomic_add_fetch(&workers_done, 1, __ATOMIC_RELEASE);
    return NULL;
}

static void test_threads_while_rotating(void)
{
    struct worker_arg args[4] = {0};
    pthread_t threads[4];
    struct tls_ticket_keys *k;
    char path[256];
    struct err e;
    int started = 0, failed = 0, refreshes = 0;

    k = tls_ticket_keys_open(path_of(path, sizeof(path), "threads"), HOURS, T0, &e);
    CHECKF(k, "%s", e.msg);
    workers_done = 0;
    for (int i = 0; i < 4; i++) {
        args[i].ctx = server_ctx(k, TLS1_3_VERSION);
        if (args[i].ctx && !pthread_create(&threads[i], NULL, worker, &args[i]))
            started++;
        else
            break;
    }
    while (started == 4 && __atomic_load_n(&workers_done, __ATOMIC_ACQUIRE) < 4) {
        refreshes++;
        failed += tls_ticket_keys_refresh(k, T0 + refreshes * ROT / 2, &e) != 0;
    }
    for (int i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    for (int i = 0; i < 4; i++)
        SSL_CTX_free(args[i].ctx);
    tls_ticket_keys_free(k);
    CHECK(started == 4);
    CHECKF(!failed, "%d of %d refreshes failed: %s", failed, refreshes, e.msg);
    CHECKF(refreshes > 1, "%d refreshes", refreshes);
    for (int i = 0; i < 4; i++)
        CHECKF(args[i].ok == 40, "thread %d: %d of 40 handshakes", i, args[i].ok);
}

/* ---- setup ---------------------------------------------------------------------------------------- */

/* A self-signed P-256 certificate for localhost, valid for a day around now. */
static int make_cert(void)
{
    X509_NAME *name;

    pkey = EVP_EC_gen("P-256");
    cert = X509_new();
    if (!pkey || !cert)
        return -1;
    name = X509_get_subject_name(cert);
    if (X509_set_version(cert, 2) != 1 || ASN1_INTEGER_set(X509_get_serialNumber(cert), 1) != 1 ||
        !X509_gmtime_adj(X509_getm_notBefore(cert), -3600) ||
        !X509_gmtime_adj(X509_getm_notAfter(cert), 86400) ||
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1, -1, 0) !=
            1 ||
        X509_set_issuer_name(cert, name) != 1 || X509_set_pubkey(cert, pkey) != 1 ||
        X509_sign(cert, pkey, EVP_sha256()) <= 0)
        return -1;
    return 0;
}

static int setup(void)
{
    if (!mkdtemp(dir)) {
        printf("not ok - setup: mkdtemp %s: %s\n", dir, strerror(errno));
        return -1;
    }
    if (make_cert()) {
        printf("not ok - setup: cannot make a certificate: %s\n",
               ERR_reason_error_string(ERR_peek_last_error()));
        return -1;
    }
    client13 = client_ctx(TLS1_3_VERSION);
    client12 = client_ctx(TLS1_2_VERSION);
    if (!client13 || !client12) {
        printf("not ok - setup: cannot make the client contexts\n");
        return -1;
    }
    return 0;
}

static void teardown(void)
{
    DIR *d;
    struct dirent *de;
    char path[512];

    SSL_CTX_free(client13);
    SSL_CTX_free(client12);
    X509_free(cert);
    EVP_PKEY_free(pkey);
    if (strstr(dir, "XXXXXX") || !(d = opendir(dir))) /* setup did not run */
        return;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            unlink(path_of(path, sizeof(path), de->d_name));
    closedir(d);
    rmdir(dir);
}

int main(int argc, char **argv)
{
    static const struct check_case tests[] = {
        CHECK_CASE(test_missing_file_created),
        CHECK_CASE(test_bad_rotate_hours),
        CHECK_CASE(test_parse_errors),
        CHECK_CASE(test_refresh_keeps_broken_file),
        CHECK_CASE(test_dead_keys_replaced),
        CHECK_CASE(test_resume_across_contexts),
        CHECK_CASE(test_other_file_does_not_resume),
        CHECK_CASE(test_rotation_file),
        CHECK_CASE(test_rotation_memory),
        CHECK_CASE(test_rotation_tls12),
        CHECK_CASE(test_memory_sets_apart),
        CHECK_CASE(test_two_sets_one_rotation),
        CHECK_CASE(test_two_processes_one_rotation),
        CHECK_CASE(test_threads_while_rotating),
    };
    int status = check_main(argc, argv, tests, CHECK_COUNT(tests), setup);

    teardown();
    return status;
}
