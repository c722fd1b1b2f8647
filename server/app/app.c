/*
 * app.c — a worker's services: connection slots and dispatch, independent of the datapath, and
 * the lingering close every service gets when it shuts a connection (app.h).
 */
#include "app/app.h"

#include <errno.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/evp.h>

#include "common/probes.h"

#define SLOT_NONE UINT32_MAX
/* a layer's readable_again calls the service at most this often per readable: a busy connection
 * yields to the others after this many buffers */
#define APP_READABLE_ROUNDS 16

int app_table_init(struct app_table *t, uint32_t nslots, const struct app_service *services, int nservices)
{
    struct timespec now;

    memset(t, 0, sizeof(*t));
    if (nservices > APP_MAX_SERVICES) {
        errno = EINVAL;
        return -1;
    }
    t->slots = calloc(nslots, sizeof(*t->slots));
    if (!t->slots) {
        errno = ENOMEM;
        return -1;
    }
    t->nslots = nslots;
    for (uint32_t i = 0; i < nslots; i++)
        t->slots[i].next_free = i + 1 < nslots ? i + 1 : SLOT_NONE;
    t->free_head = 0;
    t->lingering = (struct app_deadlines){SLOT_NONE, SLOT_NONE, (uint64_t)APP_LINGER_MS_DEFAULT * 1000000};
    t->stalled =
        (struct app_deadlines){SLOT_NONE, SLOT_NONE, (uint64_t)APP_SEND_TIMEOUT_MS_DEFAULT * 1000000};
    t->linger_max_bytes = APP_LINGER_MAX_BYTES_DEFAULT;
    t->handshaking = (struct app_deadlines){SLOT_NONE, SLOT_NONE, 0};
    /* deadlines set before the worker's first app_table_expire count from now, not from boot */
    clock_gettime(CLOCK_MONOTONIC, &now);
    t->now_ns = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
    memcpy(t->services, services, sizeof(*services) * (size_t)nservices);
    t->nservices = nservices;
    for (int i = 0; i < nservices; i++) {
        if (!services[i].layer)
            continue;
        t->layer_state[i] = services[i].layer->worker_new(services[i].layer_config, nslots);
        if (!t->layer_state[i]) {
            int saved = errno;

            app_table_destroy(t);
            errno = saved;
            return -1;
        }
    }
    return 0;
}

void app_table_destroy(struct app_table *t)
{
    for (uint32_t i = 0; i < t->nslots; i++)
        EVP_MD_CTX_free(t->slots[i].md);
    for (int i = 0; i < t->nservices; i++)
        if (t->layer_state[i])
            t->services[i].layer->worker_free(t->layer_state[i]);
    free(t->slots);
    memset(t, 0, sizeof(*t));
}

void app_table_flush(struct app_table *t)
{
    for (int i = 0; i < t->nservices; i++)
        if (t->layer_state[i])
            t->services[i].layer->flush(t->layer_state[i]);
}

static int service_of(const struct app_table *t, uint16_t port)
{
    for (int i = 0; i < t->nservices; i++)
        if (t->services[i].port == port)
            return i;
    return -1;
}

struct app_conn *app_open(struct app_table *t, uint16_t port, const struct app_io *io, void *transport)
{
    int service = service_of(t, port);
    const struct app_ops *ops = service < 0 ? NULL : t->services[service].ops;
    struct app_conn *ac;
    void *md;

    if (!ops || t->free_head == SLOT_NONE) {
        t->stats.refused++;
        return NULL;
    }
    ac = &t->slots[t->free_head];
    t->free_head = ac->next_free;
    md = ac->md;
    memset(ac, 0, sizeof(*ac));
    ac->md = md;
    ac->io = io;
    ac->transport = transport;
    ac->ops = ops;
    ac->table = t;
    ac->deadline_prev = ac->deadline_next = SLOT_NONE;
    if (t->services[service].layer) {
        ac->layer = t->services[service].layer;
        if (ac->layer->open(t->layer_state[service], ac)) {
            ac->next_free = t->free_head;
            t->free_head = (uint32_t)(ac - t->slots);
            t->stats.refused++;
            return NULL;
        }
    }
    t->open++;
    t->stats.accepted++;
    if (ops->open)
        ops->open(ac);
    return ac;
}

/* A connection is on at most one deadline list: stalled while open, lingering once shut. */
static void deadline_unlink(struct app_table *t, struct app_deadlines *l, struct app_conn *ac)
{
    if (ac->deadline_prev == SLOT_NONE)
        l->head = ac->deadline_next;
    else
        t->slots[ac->deadline_prev].deadline_next = ac->deadline_next;
    if (ac->deadline_next == SLOT_NONE)
        l->tail = ac->deadline_prev;
    else
        t->slots[ac->deadline_next].deadline_prev = ac->deadline_prev;
}

static void deadline_append(struct app_table *t, struct app_deadlines *l, struct app_conn *ac)
{
    uint32_t slot = (uint32_t)(ac - t->slots);

    ac->deadline_ns = t->now_ns + l->ns;
    ac->deadline_prev = l->tail;
    ac->deadline_next = SLOT_NONE;
    if (l->tail == SLOT_NONE)
        l->head = slot;
    else
        t->slots[l->tail].deadline_next = slot;
    l->tail = slot;
}

void app_output_waits(struct app_conn *ac, bool waits, bool progressed)
{
    struct app_table *t = ac->table;

    if (ac->shut || ac->handshaking || !t->stalled.ns)
        return;
    if (ac->stalled && (!waits || progressed)) {
        deadline_unlink(t, &t->stalled, ac);
        ac->stalled = false;
    }
    if (waits && !ac->stalled) {
        deadline_append(t, &t->stalled, ac);
        ac->stalled = true;
    }
}

void app_handshake_started(struct app_conn *ac, uint32_t timeout_ms)
{
    struct app_table *t = ac->table;

    if (!timeout_ms || ac->handshaking || ac->shut)
        return;
    t->handshaking.ns = (uint64_t)timeout_ms * 1000000;
    deadline_append(t, &t->handshaking, ac);
    ac->handshaking = true;
}

static void handshake_unlink(struct app_conn *ac)
{
    if (!ac->handshaking)
        return;
    deadline_unlink(ac->table, &ac->table->handshaking, ac);
    ac->handshaking = false;
}

void app_handshake_done(struct app_conn *ac)
{
    handshake_unlink(ac);
    if (ac->ops->ready && !ac->shut)
        ac->ops->ready(ac);
}

/* After the shutdown the service is done with the input: throw it away, so a client still writing
 * (a request larger than the limit that was refused) reads our answer and closes, instead of
 * waiting forever on a window that never opens while we wait for its FIN. */
static void linger_discard(struct app_conn *ac)
{
    struct app_table *t = ac->table;
    struct iovec iov[8];
    int n;

    while ((n = app_peek(ac, iov, 8)) > 0) {
        size_t len = 0;

        for (int i = 0; i < n; i++)
            len += iov[i].iov_len;
        if (!ac->lingered)
            t->stats.lingered++;
        ac->lingered += len;
        t->stats.linger_bytes += len;
        if (ac->lingered > t->linger_max_bytes) {
            t->stats.linger_limit++;
            app_abort(ac);
            return;
        }
        app_consume(ac, len);
    }
}

/* A service may shut the connection from inside its readable or writable with input still unread
 * (and none coming that would call readable again): the discarding starts once it has returned. */
void app_readable(struct app_conn *ac)
{
    if (ac->layer && (!ac->layer->readable(ac) || !ac->transport))
        return;
    for (int round = 0; round < APP_READABLE_ROUNDS && !ac->shut; round++) {
        ac->ops->readable(ac);
        if (!ac->transport || !ac->layer || !ac->layer->readable_again(ac))
            break;
    }
    if (ac->transport && ac->shut)
        linger_discard(ac);
}

void app_set_peer(struct app_conn *ac, int family, const void *addr)
{
    static const uint8_t v4_mapped[12] = {[10] = 0xff, [11] = 0xff};

    if (family == AF_INET) {
        memcpy(ac->peer, v4_mapped, sizeof(v4_mapped));
        memcpy(ac->peer + 12, addr, 4);
    } else {
        memcpy(ac->peer, addr, 16);
    }
}

void app_table_expire(struct app_table *t, uint64_t now)
{
    t->now_ns = now;
    while (t->lingering.head != SLOT_NONE && t->slots[t->lingering.head].deadline_ns <= now) {
        t->stats.linger_timeout++;
        app_abort(&t->slots[t->lingering.head]);
    }
    while (t->stalled.head != SLOT_NONE && t->slots[t->stalled.head].deadline_ns <= now) {
        t->stats.send_timeout++;
        app_abort(&t->slots[t->stalled.head]);
    }
    while (t->handshaking.head != SLOT_NONE && t->slots[t->handshaking.head].deadline_ns <= now) {
        t->stats.handshake_timeout++;
        app_abort(&t->slots[t->handshaking.head]);
    }
}

void app_writable(struct app_conn *ac)
{
    if (ac->layer && (!ac->layer->writable(ac) || !ac->transport))
        return;
    if (ac->ops->writable)
        ac->ops->writable(ac);
    if (ac->transport && ac->shut)
        linger_discard(ac);
}

void app_closed(struct app_table *t, struct app_conn *ac, int error)
{
    SLUICE_PROBE_CONN_CLOSE(t->worker, app_conn_id(ac), error);
    if (ac->ops->closed)
        ac->ops->closed(ac, error);
    if (ac->layer)
        ac->layer->closed(ac);
    if (ac->shut)
        deadline_unlink(t, &t->lingering, ac);
    else if (ac->stalled)
        deadline_unlink(t, &t->stalled, ac);
    else if (ac->handshaking)
        deadline_unlink(t, &t->handshaking, ac);
    ac->stalled = ac->handshaking = false;
    switch (error) {
    case 0:
        t->stats.closed_ok++;
        break;
    case ECONNRESET:
        t->stats.closed_reset++;
        break;
    case ETIMEDOUT:
        t->stats.closed_timeout++;
        break;
    case ECONNABORTED:
        t->stats.closed_aborted++;
        break;
    default:
        t->stats.closed_other_error++;
        break;
    }
    ac->transport = NULL;
    ac->next_free = t->free_head;
    t->free_head = (uint32_t)(ac - t->slots);
    t->open--;
}

void app_abort(struct app_conn *ac)
{
    ac->io->abort(ac->transport);
    app_closed(ac->table, ac, ECONNABORTED);
}

void app_shutdown(struct app_conn *ac)
{
    if (ac->shut)
        return;
    if (ac->stalled) /* from here the lingering bounds it */
        deadline_unlink(ac->table, &ac->table->stalled, ac);
    handshake_unlink(ac);
    ac->stalled = false;
    ac->shut = true;
    deadline_append(ac->table, &ac->table->lingering, ac);
    ac->io->shutdown(ac->transport);
}

size_t app_write(struct app_conn *ac, const void *data, size_t len)
{
    const uint8_t *src = data;
    size_t done = 0;

    while (done < len) {
        size_t room;
        uint8_t *dst = app_reserve(ac, &room);

        if (!dst)
            break;
        if (room > len - done)
            room = len - done;
        memcpy(dst, src + done, room);
        app_commit(ac, room);
        done += room;
    }
    return done;
}
