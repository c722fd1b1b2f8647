/*
 * healthz.c — GET /healthz: 200 "ok" while the worker runs. Load balancers and the tests poll it;
 * it touches nothing but the response.
 */
#include "sluice/http.h"

int handler_healthz(struct http_request *req)
{
    static const char ok[] = "ok\n";

    http_respond(req, 200, "text/plain; charset=utf-8", ok, sizeof(ok) - 1);
    return HANDLER_DONE;
}
