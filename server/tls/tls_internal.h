/*
 * tls_internal.h — what the two halves of server/tls/ tell each other: the process's contexts
 * (tls_context.c) hand out connections' SSL objects, and their callbacks, which run inside a
 * connection's handshake on its worker, note what they decided on that connection (tls_conn.c).
 */
#ifndef SLUICE_TLS_INTERNAL_H
#define SLUICE_TLS_INTERNAL_H

#include <stdint.h>
#include <openssl/ssl.h>

#include "tls/tls.h"

const struct tls_config *tls_server_config(const struct tls_server *s);
/* A new server-side SSL on the current generation's default context. */
SSL *tls_server_ssl_new(struct tls_server *s);

void tls_conn_failed_sni(SSL *ssl);
void tls_conn_failed_alpn(SSL *ssl);
void tls_conn_early_replayed(SSL *ssl);
void tls_conn_info(const SSL *ssl, int where, int ret); /* SSL_CTX_set_info_callback */
void tls_conn_keylog(const SSL *ssl, const char *line); /* SSL_CTX_set_keylog_callback: the traffic secrets */

uint64_t tls_now_ns(void);

#endif
