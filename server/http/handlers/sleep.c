/*
 * sleep.c — GET /sleep/:ms: waits ms milliseconds (at most SLEEP_MAX_MS), then answers "slept N ms".
 *
 * A handler that blocks its thread, on purpose: the stand-in for a cold disk read or a slow call to
 * another service. Routed to the offload pool (server/sluice.routes), it occupies a pool thread; run
 * on a worker (the pool disabled) it stalls every connection of that worker, which is what the
 * isolation test and bench measure against.
 */
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "sluice/http.h"

#define SLEEP_MAX_MS 60000

int handler_sleep(struct http_request *req)
{
    uint64_t ms;
    char text[48];
    int n;

    if (!http_str_u64(http_param(req, "ms"), SLEEP_MAX_MS, &ms)) {
        http_respond_error(req, 400);
        return HANDLER_DONE;
    }
    struct timespec left = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000};
    while (nanosleep(&left, &left))
        ;
    n = snprintf(text, sizeof(text), "slept %llu ms\n", (unsigned long long)ms);
    http_respond_copy(req, 200, "text/plain; charset=utf-8", text, (size_t)n);
    return HANDLER_DONE;
}
