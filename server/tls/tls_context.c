/*
 * tls_context.c — the process's TLS (tls.h): one OpenSSL context per certificate, the SNI choice
 * between them, ALPN, versions, ciphers and groups, 0-RTT with its replay window, and the session
 * ticket keys (tls_ticket.c) every context shares.
 *
 * A generation is the set of contexts built from the certificate files at one time. Workers create
 * their connections from the current one under a read lock; a reload (SIGHUP) builds a whole new
 * generation first and swaps it in only if every file loaded, so a bad file changes nothing.
 * Connections keep the context they started with (OpenSSL counts its references).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "tls/tls.h"
#include "tls/tls_internal.h"
#include "tls/tls_ticket.h"

#define DEFAULT_CIPHERS                                                                                      \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"               \
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
#define DEFAULT_GROUPS "X25519:P-256:P-384"

/* 0-RTT replay window: a ClientHello's random seen once may not bring early data again while it is
 * here. OpenSSL refuses early data whose ticket age is off by more than 10 s, so a replay older
 * than the window is refused by OpenSSL; within it, by this table. A full bucket refuses. */
#define REPLAY_WINDOW_NS (10ull * 1000000000)
#define REPLAY_BUCKETS   (1u << 14)
#define REPLAY_WAYS      8

struct replay_entry {
    uint64_t key;
    uint64_t seen_ns;
};

struct tls_generation {
    SSL_CTX *def; /* the default pair's, or the first SNI's when there is no default */
    bool has_default;
    uint32_t nsni;
    char names[TLS_MAX_SNI][256];
    SSL_CTX *sni[TLS_MAX_SNI];
};

struct tls_server {
    struct tls_config cfg;
    pthread_rwlock_t lock; /* gen: workers read, a reload writes */
    struct tls_generation *gen;
    struct tls_ticket_keys *keys;
    pthread_mutex_t replay_lock;
    struct replay_entry *replay;
};

void tls_config_default(struct tls_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->min_version = TLS_MIN_TLS12;
    cfg->ticket_rotate_hours = TLS_TICKET_ROTATE_HOURS_DEFAULT;
    cfg->handshake_timeout_ms = TLS_HANDSHAKE_TIMEOUT_MS_DEFAULT;
    cfg->small_record_bytes = TLS_SMALL_RECORD_BYTES_DEFAULT;
}

/* OpenSSL's reason for the last failure, for an error line. */
static const char *ssl_reason(void)
{
    unsigned long code = ERR_peek_last_error();
    const char *r = code ? ERR_reason_error_string(code) : NULL;

    return r ? r : "unknown OpenSSL error";
}

/* "*.example.com" matches one more label; anything else matches itself, ignoring case. */
static bool name_matches(const char *pattern, const char *name)
{
    if (pattern[0] == '*' && pattern[1] == '.') {
        const char *dot = strchr(name, '.');

        return dot && dot != name && !strcasecmp(dot + 1, pattern + 2);
    }
    return !strcasecmp(pattern, name);
}

static int on_servername(SSL *ssl, int *alert, void *arg)
{
    struct tls_server *s = arg;
    const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    struct tls_generation *g;
    SSL_CTX *pick = NULL;
    bool known = false;

    if (!name)
        return SSL_TLSEXT_ERR_OK; /* the context it started with: the default */
    pthread_rwlock_rdlock(&s->lock);
    g = s->gen;
    for (uint32_t i = 0; i < g->nsni && !pick; i++)
        if (name_matches(g->names[i], name))
            pick = g->sni[i];
    if (pick) {
        SSL_set_SSL_CTX(ssl, pick);
        known = true;
    } else {
        known = g->has_default;
    }
    pthread_rwlock_unlock(&s->lock);
    if (known)
        return SSL_TLSEXT_ERR_OK;
    tls_conn_failed_sni(ssl);
    *alert = SSL_AD_UNRECOGNIZED_NAME;
    return SSL_TLSEXT_ERR_ALERT_FATAL;
}

/* h2 first, then http/1.1 (the server's preference, as nginx and h2o choose). A client that offers
 * neither gets no_application_protocol (RFC 7301 3.2). */
static int on_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                   unsigned int inlen, void *arg)
{
    static const unsigned char ours[] = "\x02h2\x08http/1.1";

    (void)arg;
    if (SSL_select_next_proto((unsigned char **)out, outlen, ours, sizeof(ours) - 1, in, inlen) ==
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_OK;
    tls_conn_failed_alpn(ssl);
    return SSL_TLSEXT_ERR_ALERT_FATAL;
}

static int on_early_data(SSL *ssl, void *arg)
{
    struct tls_server *s = arg;
    unsigned char random[SSL3_RANDOM_SIZE];
    uint64_t key, now = tls_now_ns();
    struct replay_entry *bucket, *slot = NULL;

    SSL_get_client_random(ssl, random, sizeof(random));
    memcpy(&key, random, sizeof(key));
    key ^= (uint64_t)random[8] << 56 | (uint64_t)random[9] << 48 | (uint64_t)random[10] << 40;
    bucket = &s->replay[(key & (REPLAY_BUCKETS - 1)) * REPLAY_WAYS];
    pthread_mutex_lock(&s->replay_lock);
    for (int i = 0; i < REPLAY_WAYS; i++) {
        bool live = bucket[i].seen_ns && now - bucket[i].seen_ns < REPLAY_WINDOW_NS;

        if (live && bucket[i].key == key) {
            slot = NULL;
            break;
        }
        if (!live && !slot)
            slot = &bucket[i];
    }
    if (slot)
        *slot = (struct replay_entry){key, now};
    pthread_mutex_unlock(&s->replay_lock);
    if (!slot)
        tls_conn_early_replayed(ssl);
    return slot != NULL;
}

static SSL_CTX *context_new(struct tls_server *s, const char *cert, const char *key, struct err *e)
{
    const struct tls_config *cfg = &s->cfg;
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

    if (!ctx) {
        ERR(e, EXIT_STATUS_FAILURE, 0, "TLS: cannot create a context: %s", ssl_reason());
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, cfg->min_version == TLS_MIN_TLS13 ? TLS1_3_VERSION : TLS1_2_VERSION);
    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                 SSL_OP_NO_COMPRESSION | SSL_OP_IGNORE_UNEXPECTED_EOF);
    /* idle connections keep no record buffers: a client holding many connections costs little */
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    /* record by record while handshaking: the records after the client's Finished are ours to
     * open (tls_record.c), and OpenSSL must not have read them ahead */
    SSL_CTX_set_read_ahead(ctx, 0);
    SSL_CTX_set_keylog_callback(ctx, tls_conn_keylog);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF); /* tickets are stateless */
    SSL_CTX_set_num_tickets(ctx, 2);
    if (SSL_CTX_set_cipher_list(ctx, cfg->ciphers ? cfg->ciphers : DEFAULT_CIPHERS) != 1) {
        ERR(e, EXIT_STATUS_USAGE, 0, "TLS: [tls] ciphers '%s': %s",
            cfg->ciphers ? cfg->ciphers : DEFAULT_CIPHERS, ssl_reason());
        goto fail;
    }
    if (cfg->ciphersuites && SSL_CTX_set_ciphersuites(ctx, cfg->ciphersuites) != 1) {
        ERR(e, EXIT_STATUS_USAGE, 0, "TLS: [tls] ciphersuites '%s': %s", cfg->ciphersuites, ssl_reason());
        goto fail;
    }
    if (SSL_CTX_set1_groups_list(ctx, cfg->groups ? cfg->groups : DEFAULT_GROUPS) != 1) {
        ERR(e, EXIT_STATUS_USAGE, 0, "TLS: [tls] groups '%s': %s", cfg->groups ? cfg->groups : DEFAULT_GROUPS,
            ssl_reason());
        goto fail;
    }
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
        ERR(e, EXIT_STATUS_USAGE, 0, "TLS: certificate %s: %s", cert, ssl_reason());
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
        ERR(e, EXIT_STATUS_USAGE, 0, "TLS: private key %s: %s", key, ssl_reason());
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        ERR(e, EXIT_STATUS_USAGE, 0, "TLS: private key %s does not match certificate %s", key, cert);
        goto fail;
    }
    SSL_CTX_set_tlsext_servername_callback(ctx, on_servername);
    SSL_CTX_set_tlsext_servername_arg(ctx, s);
    SSL_CTX_set_alpn_select_cb(ctx, on_alpn, s);
    SSL_CTX_set_max_early_data(ctx, cfg->max_early_data);
    SSL_CTX_set_recv_max_early_data(ctx, cfg->max_early_data);
    if (cfg->max_early_data) {
        /* OpenSSL's own anti-replay would turn tickets stateful (a session cache per process, so no
         * resumption on another process); the replay window above does that job instead */
        SSL_CTX_set_options(ctx, SSL_OP_NO_ANTI_REPLAY);
        SSL_CTX_set_allow_early_data_cb(ctx, on_early_data, s);
    }
    SSL_CTX_set_info_callback(ctx, tls_conn_info);
    if (tls_ticket_keys_install(s->keys, ctx, e))
        goto fail;
    ERR_clear_error();
    return ctx;
fail:
    ERR_clear_error();
    SSL_CTX_free(ctx);
    return NULL;
}

static void generation_free(struct tls_generation *g)
{
    if (!g)
        return;
    SSL_CTX_free(g->has_default ? g->def : NULL);
    for (uint32_t i = 0; i < g->nsni; i++)
        SSL_CTX_free(g->sni[i]);
    free(g);
}

static struct tls_generation *generation_new(struct tls_server *s, struct err *e)
{
    const struct tls_config *cfg = &s->cfg;
    struct tls_generation *g = calloc(1, sizeof(*g));

    if (!g) {
        ERR(e, EXIT_STATUS_FAILURE, ENOMEM, "TLS: cannot allocate contexts");
        return NULL;
    }
    if (cfg->cert) {
        g->def = context_new(s, cfg->cert, cfg->key, e);
        if (!g->def)
            goto fail;
        g->has_default = true;
    }
    for (uint32_t i = 0; i < cfg->nsni; i++) {
        g->sni[i] = context_new(s, cfg->sni[i].cert, cfg->sni[i].key, e);
        if (!g->sni[i])
            goto fail;
        snprintf(g->names[i], sizeof(g->names[i]), "%s", cfg->sni[i].name);
        g->nsni = i + 1;
    }
    if (!g->has_default)
        g->def = g->sni[0];
    return g;
fail:
    generation_free(g);
    return NULL;
}

struct tls_server *tls_server_new(const struct tls_config *cfg, struct err *e)
{
    struct tls_server *s = calloc(1, sizeof(*s));

    if (!s) {
        ERR(e, EXIT_STATUS_FAILURE, ENOMEM, "TLS: cannot allocate its state");
        return NULL;
    }
    s->cfg = *cfg;
    pthread_rwlock_init(&s->lock, NULL);
    pthread_mutex_init(&s->replay_lock, NULL);
    if (!cfg->cert && !cfg->nsni) {
        ERR(e, EXIT_STATUS_USAGE, 0, "TLS: --https needs a certificate: --cert FILE --key FILE or [tls] sni");
        goto fail;
    }
    if (cfg->cert && !cfg->key) {
        ERR(e, EXIT_STATUS_USAGE, 0, "TLS: --cert %s needs its --key FILE", cfg->cert);
        goto fail;
    }
    s->replay = calloc((size_t)REPLAY_BUCKETS * REPLAY_WAYS, sizeof(*s->replay));
    if (!s->replay) {
        ERR(e, EXIT_STATUS_FAILURE, ENOMEM, "TLS: cannot allocate the 0-RTT replay window");
        goto fail;
    }
    s->keys = tls_ticket_keys_open(cfg->ticket_key_file, cfg->ticket_rotate_hours, time(NULL), e);
    if (!s->keys)
        goto fail;
    s->gen = generation_new(s, e);
    if (!s->gen)
        goto fail;
    return s;
fail:
    tls_server_free(s);
    return NULL;
}

void tls_server_free(struct tls_server *s)
{
    if (!s)
        return;
    generation_free(s->gen);
    if (s->keys)
        tls_ticket_keys_free(s->keys);
    free(s->replay);
    pthread_rwlock_destroy(&s->lock);
    pthread_mutex_destroy(&s->replay_lock);
    free(s);
}

int tls_server_reload(struct tls_server *s, struct err *e)
{
    struct tls_generation *g = generation_new(s, e), *old;

    if (!g)
        return -1;
    pthread_rwlock_wrlock(&s->lock);
    old = s->gen;
    s->gen = g;
    pthread_rwlock_unlock(&s->lock);
    generation_free(old);
    return 0;
}

int tls_server_tick(struct tls_server *s, struct err *e)
{
    return tls_ticket_keys_refresh(s->keys, time(NULL), e);
}

const struct tls_config *tls_server_config(const struct tls_server *s)
{
    return &s->cfg;
}

SSL *tls_server_ssl_new(struct tls_server *s)
{
    SSL *ssl;

    pthread_rwlock_rdlock(&s->lock);
    ssl = SSL_new(s->gen->def);
    pthread_rwlock_unlock(&s->lock);
    return ssl;
}
