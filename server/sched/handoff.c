/*
 * handoff.c — the inbox between workers (see handoff.h).
 */
#include "sched/handoff.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

int handoff_inbox_init(struct handoff_inbox *in, struct err *e)
{
    in->head = in->tail = 0;
    in->wake_fd = -1;
    in->slots = calloc(HANDOFF_INBOX_SLOTS, sizeof(*in->slots));
    if (!in->slots)
        return ERR(e, EXIT_STATUS_FAILURE, ENOMEM, "cannot allocate a hand-off inbox of %d slots",
                   HANDOFF_INBOX_SLOTS);
    in->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (in->wake_fd < 0) {
        int err = errno;

        free(in->slots);
        in->slots = NULL;
        return ERR(e, EXIT_STATUS_FAILURE, err, "cannot create a hand-off inbox's eventfd");
    }
    pthread_spin_init(&in->lock, PTHREAD_PROCESS_PRIVATE);
    return 0;
}

void handoff_inbox_destroy(struct handoff_inbox *in)
{
    if (!in->slots)
        return;
    pthread_spin_destroy(&in->lock);
    close(in->wake_fd);
    free(in->slots);
    in->slots = NULL;
}

struct handoff_msg *handoff_reserve(struct handoff_inbox *in)
{
    pthread_spin_lock(&in->lock);
    if (in->tail - in->head == HANDOFF_INBOX_SLOTS) {
        pthread_spin_unlock(&in->lock);
        return NULL;
    }
    return &in->slots[in->tail % HANDOFF_INBOX_SLOTS];
}

void handoff_commit(struct handoff_inbox *in)
{
    bool was_empty = in->tail == in->head;
    uint64_t one = 1;

    in->tail++;
    pthread_spin_unlock(&in->lock);
    /* a consumer that found the ring empty before sleeping is woken; one that did not will look again */
    if (was_empty && write(in->wake_fd, &one, sizeof(one)) < 0)
        return; /* EAGAIN: the counter is already far from zero, so the consumer is awake */
}

void handoff_cancel(struct handoff_inbox *in)
{
    pthread_spin_unlock(&in->lock);
}

bool handoff_take(struct handoff_inbox *in, struct handoff_msg *out)
{
    bool got = false;

    pthread_spin_lock(&in->lock);
    if (in->head != in->tail) {
        *out = in->slots[in->head % HANDOFF_INBOX_SLOTS];
        in->head++;
        got = true;
    }
    pthread_spin_unlock(&in->lock);
    return got;
}

bool handoff_pending(struct handoff_inbox *in)
{
    bool pending;

    pthread_spin_lock(&in->lock);
    pending = in->head != in->tail;
    pthread_spin_unlock(&in->lock);
    return pending;
}

void handoff_clear_wake(struct handoff_inbox *in)
{
    uint64_t n;

    if (read(in->wake_fd, &n, sizeof(n)) < 0)
        return; /* EAGAIN: nothing to clear */
}
