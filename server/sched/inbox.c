/*
 * inbox.c — the inbox between workers (see inbox.h).
 */
#include "sched/inbox.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

int inbox_init(struct inbox *in, size_t msg_size, struct err *e)
{
    in->head = in->tail = 0;
    in->wake_fd = -1;
    in->msg_size = msg_size;
    in->slots = calloc(INBOX_SLOTS, msg_size);
    if (!in->slots)
        return ERR(e, EXIT_STATUS_FAILURE, ENOMEM, "cannot allocate an inbox of %d slots", INBOX_SLOTS);
    in->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (in->wake_fd < 0) {
        int err = errno;

        free(in->slots);
        in->slots = NULL;
        return ERR(e, EXIT_STATUS_FAILURE, err, "cannot create an inbox's eventfd");
    }
    pthread_spin_init(&in->lock, PTHREAD_PROCESS_PRIVATE);
    return 0;
}

void inbox_destroy(struct inbox *in)
{
    if (!in->slots)
        return;
    pthread_spin_destroy(&in->lock);
    close(in->wake_fd);
    free(in->slots);
    in->slots = NULL;
}

void *inbox_reserve(struct inbox *in)
{
    pthread_spin_lock(&in->lock);
    if (in->tail - in->head == INBOX_SLOTS) {
        pthread_spin_unlock(&in->lock);
        return NULL;
    }
    return in->slots + (size_t)(in->tail % INBOX_SLOTS) * in->msg_size;
}

void inbox_commit(struct inbox *in)
{
    bool was_empty = in->tail == in->head;
    uint64_t one = 1;

    in->tail++;
    pthread_spin_unlock(&in->lock);
    /* a consumer that found the ring empty before sleeping is woken; one that did not will look again */
    if (was_empty && write(in->wake_fd, &one, sizeof(one)) < 0)
        return; /* EAGAIN: the counter is already far from zero, so the consumer is awake */
}

void inbox_cancel(struct inbox *in)
{
    pthread_spin_unlock(&in->lock);
}

bool inbox_take(struct inbox *in, void *out)
{
    bool got = false;

    pthread_spin_lock(&in->lock);
    if (in->head != in->tail) {
        memcpy(out, in->slots + (size_t)(in->head % INBOX_SLOTS) * in->msg_size, in->msg_size);
        in->head++;
        got = true;
    }
    pthread_spin_unlock(&in->lock);
    return got;
}

bool inbox_pending(struct inbox *in)
{
    bool pending;

    pthread_spin_lock(&in->lock);
    pending = in->head != in->tail;
    pthread_spin_unlock(&in->lock);
    return pending;
}

void inbox_clear_wake(struct inbox *in)
{
    uint64_t n;

    if (read(in->wake_fd, &n, sizeof(n)) < 0)
        return; /* EAGAIN: nothing to clear */
}
