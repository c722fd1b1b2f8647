/*
 * app.c — a worker's service dispatcher: slots, the engine callbacks, and the shared close logic.
 */
#include "app.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>

#define SLOT_NONE UINT32_MAX

int app_table_init(struct app_table *t, uint32_t nslots, const struct app_service *services, int nservices)
{
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
    memcpy(t->services, services, sizeof(*services) * (size_t)nservices);
    t->nservices = nservices;
    return 0;
}

void app_table_destroy(struct app_table *t)
{
    for (uint32_t i = 0; i < t->nslots; i++)
        EVP_MD_CTX_free(t->slots[i].md);
    free(t->slots);
    memset(t, 0, sizeof(*t));
}

static const struct app_ops *ops_for(const struct app_table *t, uint16_t port)
{
    for (int i = 0; i < t->nservices; i++) {
        if (t->services[i].port != port)
            continue;
        switch (t->services[i].kind) {
        case APP_ECHO:
            return &app_echo_ops;
        case APP_SINK:
            return &app_sink_ops;
        case APP_SOURCE:
            return &app_source_ops;
        }
    }
    return NULL;
}

void app_shutdown(struct app_conn *ac)
{
    if (ac->shut)
        return;
    ac->shut = true;
    tcp_shutdown(ac->tcp);
}

static void *on_accept(void *ctx, struct tcp_conn *c)
{
    struct app_table *t = ctx;
    const struct app_ops *ops = ops_for(t, tcp_conn_tuple(c)->lport);
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
    ac->tcp = c;
    ac->ops = ops;
    t->open++;
    t->stats.accepted++;
    if (ops->open)
        ops->open(ac);
    return ac;
}

static void on_readable(void *ctx, struct tcp_conn *c)
{
    struct app_conn *ac = tcp_conn_user(c);

    (void)ctx;
    ac->ops->readable(ac);
}

static void on_writable(void *ctx, struct tcp_conn *c)
{
    struct app_conn *ac = tcp_conn_user(c);

    (void)ctx;
    if (ac->ops->writable)
        ac->ops->writable(ac);
}

static void on_closed(void *ctx, struct tcp_conn *c, int error)
{
    struct app_table *t = ctx;
    struct app_conn *ac = tcp_conn_user(c);

    if (error)
        t->stats.closed_error++;
    else
        t->stats.closed_ok++;
    ac->tcp = NULL;
    ac->next_free = t->free_head;
    t->free_head = (uint32_t)(ac - t->slots);
    t->open--;
}

const struct tcp_callbacks app_callbacks = {on_accept, on_readable, on_writable, on_closed};
