/*
 * tls_ticket.h — TLS session ticket keys shared by every worker and by the next server process.
 *
 * Tickets (RFC 8446 4.6.1, RFC 5077) are sealed with a key of this set: the newest encrypts, every
 * key still alive decrypts, so a ticket issued by any worker, or by the process before a restart,
 * resumes anywhere. With a key file ([tls] ticket_key_file) the keys live in that file, which
 * every process serving the same clients reads and the one that rotates rewrites (under flock, by
 * rename); without one they live in this process's memory. A key is rotated out of encryption after
 * rotate_hours and out of decryption after twice that.
 *
 * The key file, text, one key a line; lines starting with '#' and blank lines are ignored:
 *
 *     <created-unix-seconds> <160 hex digits>
 *
 * The 80 bytes are nginx's ssl_session_ticket_key layout: a 16-byte key name (sent in the clear at
 * the start of each ticket), a 32-byte HMAC-SHA256 key and a 32-byte AES-256-CBC key. The key with
 * the largest created time encrypts; a key is alive while now - created < 2 * rotate_hours. The
 * file is rewritten only to add a key (dropping the dead ones, and any comments, on the way): as
 * PATH.tmp (mode 0600), fsync, rename over PATH, while holding flock(LOCK_EX) on PATH.lock, under
 * which it was re-read, so two processes rotating at once add one key between them. A key by hand:
 * echo "$(date +%s) $(head -c 80 /dev/urandom | xxd -p -c 80)".
 *
 * Threads: the ticket callback runs on any worker while the main thread refreshes; it takes a read
 * lock on the set and allocates nothing. open, refresh and free are the main thread's; refresh may
 * block on another process's lock and on fsync.
 */
#ifndef SLUICE_TLS_TICKET_H
#define SLUICE_TLS_TICKET_H

#include <stdint.h>
#include <time.h>
#include <openssl/ssl.h>

#include "common/err.h"

struct tls_ticket_keys;

/* Open the key set; rotate_hours is 1 to a year's hours. path NULL: keys in memory. Opening is a
 * first refresh: a missing file is created (mode 0600) with a new key, a file whose newest key is
 * rotate_hours old (or that has none alive) gets one. A file that does not parse is an error
 * ("FILE:LINE: problem", EXIT_STATUS_USAGE), never overwritten. */
struct tls_ticket_keys *tls_ticket_keys_open(const char *path, uint32_t rotate_hours, time_t now,
                                             struct err *e);
/* Wipes the keys. Free every SSL_CTX k was installed in first (or end all their handshakes). */
void tls_ticket_keys_free(struct tls_ticket_keys *k);
/* Make ctx seal and open its tickets with k (SSL_CTX_set_tlsext_ticket_key_evp_cb) and keep its
 * sessions 2 * rotate_hours. Install k in every context a connection may be switched to (SNI's
 * SSL_set_SSL_CTX): the callback finds k through the context the connection is on. */
int tls_ticket_keys_install(struct tls_ticket_keys *k, SSL_CTX *ctx, struct err *e);
/* Read the file again (another process may have rotated) and rotate when the newest key is
 * rotate_hours old; called by the main thread now and then. Workers go on meanwhile. A file that
 * no longer parses is an error, left untouched, and the keys held so far go on serving. */
int tls_ticket_keys_refresh(struct tls_ticket_keys *k, time_t now, struct err *e);

#endif
