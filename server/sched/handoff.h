/*
 * handoff.h — the inbox through which workers pass each other connections and frames.
 *
 * When the steering program routes a connection to another worker (data path step 3), its owner
 * exports the TCB (tcp_conn_export) into the new worker's inbox, then forwards there the packets
 * that still reach it until the flow entry points at the new worker. One inbox per worker, many
 * producers, one consumer: a fixed ring of slots under a spinlock, allocated at start-up. It is
 * used once per moved connection and for a few packets after, never per request, so a lock is
 * cheaper than cleverness. The consumer polls an eventfd beside its socket; producers signal it
 * when the ring goes from empty to not empty.
 */
#ifndef SLUICE_SCHED_HANDOFF_H
#define SLUICE_SCHED_HANDOFF_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"
#include "net/tcp.h"

#define HANDOFF_INBOX_SLOTS 1024 /* messages a worker's inbox holds; a push to a full one fails */

enum handoff_kind {
    HANDOFF_CONN,  /* a connection: conn holds its TCB */
    HANDOFF_FRAME, /* a received frame of a connection that moved: frame, off, len */
};

struct handoff_msg {
    uint32_t kind; /* enum handoff_kind */
    uint32_t frame;
    uint32_t off;
    uint32_t len;
    uint64_t sent_ns; /* when the producer exported the connection, for the hand-off latency */
    struct tcp_handoff conn;
};

struct handoff_inbox {
    pthread_spinlock_t lock;
    uint32_t head; /* next to take */
    uint32_t tail; /* next to fill; tail - head messages are queued */
    struct handoff_msg *slots;
    int wake_fd; /* eventfd */
};

int handoff_inbox_init(struct handoff_inbox *in, struct err *e);
void handoff_inbox_destroy(struct handoff_inbox *in);

/* A slot to fill, the inbox locked until handoff_commit or handoff_cancel; NULL when full. */
struct handoff_msg *handoff_reserve(struct handoff_inbox *in);
void handoff_commit(struct handoff_inbox *in);
void handoff_cancel(struct handoff_inbox *in);

/* The consumer: the oldest message into out; false when the inbox is empty. */
bool handoff_take(struct handoff_inbox *in, struct handoff_msg *out);
bool handoff_pending(struct handoff_inbox *in);
/* Clear the eventfd after poll reported it. */
void handoff_clear_wake(struct handoff_inbox *in);

#endif
