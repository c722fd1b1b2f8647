/*
 * inbox.h — a worker's inbox: how other threads hand it messages (AF_XDP's steering passes
 * connections and their frames through it, server/afxdp/xdp_steer.c; an offload pool can return
 * results through it on any datapath).
 *
 * Many producers, one consumer: a fixed ring of slots under a spinlock, allocated at start-up; a
 * message is a fixed-size struct the owner of the inbox defines, opaque here. It is used per moved
 * connection or per finished job, never per request, so a lock is cheaper than cleverness. The
 * consumer polls an eventfd beside its socket; producers signal it when the ring goes from empty to
 * not empty.
 */
#ifndef SLUICE_SCHED_INBOX_H
#define SLUICE_SCHED_INBOX_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define INBOX_SLOTS 1024 /* messages an inbox holds; a push to a full one fails */

struct inbox {
    pthread_spinlock_t lock;
    uint32_t head; /* next to take */
    uint32_t tail; /* next to fill; tail - head messages are queued */
    size_t msg_size;
    unsigned char *slots; /* INBOX_SLOTS of msg_size bytes, each aligned as the message (malloc's) */
    int wake_fd;          /* eventfd */
};

/* msg_size: sizeof the message struct (a multiple of its alignment, so every slot is aligned). */
int inbox_init(struct inbox *in, size_t msg_size, struct err *e);
void inbox_destroy(struct inbox *in);

/* A slot to fill, the inbox locked until inbox_commit or inbox_cancel; NULL when full. */
void *inbox_reserve(struct inbox *in);
void inbox_commit(struct inbox *in);
void inbox_cancel(struct inbox *in);

/* The consumer: the oldest message into out (msg_size bytes); false when the inbox is empty. */
bool inbox_take(struct inbox *in, void *out);
bool inbox_pending(struct inbox *in);
/* Clear the eventfd after poll reported it. */
void inbox_clear_wake(struct inbox *in);

#endif
