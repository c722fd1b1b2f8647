/*
 * hello.c — the handlers and the middleware that examples/hello/hello.routes names: a static
 * answer, one built from a route param, and a middleware that adds a header before the handler.
 */
#include <stdio.h>

#include <sluice/http.h>

int middleware_served_by(struct http_request *req);
int handler_hello(struct http_request *req);
int handler_greet(struct http_request *req);

int middleware_served_by(struct http_request *req)
{
    static const char name[] = "hello (libsluice)";

    if (!http_add_header(req, "x-served-by", name, sizeof(name) - 1)) {
        http_respond_error(req, 500);
        return HANDLER_DONE;
    }
    return HANDLER_NEXT;
}

int handler_hello(struct http_request *req)
{
    static const char body[] = "hello, world\n";

    http_respond(req, 200, "text/plain", body, sizeof(body) - 1);
    return HANDLER_DONE;
}

/* /hello/:name: the name is a slice of the path, so the answer is built here and copied out. */
int handler_greet(struct http_request *req)
{
    struct http_str name = http_param(req, "name");
    char body[128];
    int n;

    if (name.len > 64) {
        http_respond_error(req, 414);
        return HANDLER_DONE;
    }
    n = snprintf(body, sizeof(body), "hello, %.*s\n", (int)name.len, name.ptr);
    http_respond_copy(req, 200, "text/plain", body, (size_t)n);
    return HANDLER_DONE;
}
