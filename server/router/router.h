/*
 * router.h — the contract between sluice-routegen's generated code and the server.
 *
 * Routes are declared in a routes file (one route a line: methods, path pattern, handler,
 * middlewares) and compiled by tools/routegen into C at build time; there is no route table at
 * run time. The generated matcher walks the request path's bytes once (its cost grows with the
 * path, not with the number of routes), captures `:param` segments and a final `*rest` as slices
 * of the path (no allocation), and reports 404, or 405 with the methods that would match.
 * router_dispatch runs one route's middlewares and handler as straight-line direct calls.
 *
 * Precedence: at each segment a literal beats `:param` beats `*rest`, with backtracking; the first
 * pattern in that order with a route for the method wins. HEAD takes a pattern's GET route when
 * the pattern has no HEAD route. A trailing slash is significant. The routes file grammar is in
 * tools/routegen/routegen.c (and `sluice-routegen --help`).
 *
 * The generated file calls functions by name, declared here by convention:
 *     int handler_NAME(struct http_request *req);      returns HANDLER_DONE or an error
 *     int middleware_NAME(struct http_request *req);   returns HANDLER_NEXT to continue the chain
 * struct http_request is the server's (server/http/); the router never looks inside it.
 */
#ifndef SLUICE_ROUTER_H
#define SLUICE_ROUTER_H

#include <stddef.h>
#include <stdint.h>

#define ROUTER_MAX_PARAMS 8

/* Not "http_method": http_parser.h (the HTTP/1.1 parser) owns that name and HTTP_GET & co. */
enum method {
    METHOD_GET,
    METHOD_HEAD,
    METHOD_POST,
    METHOD_PUT,
    METHOD_DELETE,
    METHOD_PATCH,
    METHOD_OPTIONS,
    METHOD_COUNT,
    METHOD_OTHER = METHOD_COUNT, /* any other method: never routed, 405 or 404 */
};

enum handler_result {
    HANDLER_DONE = 0, /* the request is answered (or will be, for a handler that finishes later) */
    HANDLER_NEXT = 1, /* a middleware lets the chain go on */
};

enum router_result {
    ROUTER_FOUND,
    ROUTER_NOT_FOUND,          /* 404 */
    ROUTER_METHOD_NOT_ALLOWED, /* 405; allow says which methods would match */
};

struct router_param {
    const char *name;  /* as declared in the routes file, static storage */
    const char *value; /* points into the path given to router_match */
    size_t len;
};

struct router_match {
    enum router_result result;
    int route;      /* index of the route when FOUND */
    uint32_t allow; /* METHOD_NOT_ALLOWED: bit (1 << method) per method that would be FOUND for
                       this path, HEAD with GET; 0 otherwise (a lookup stops at its first route) */
    uint16_t nparams;
    struct router_param params[ROUTER_MAX_PARAMS];
};

struct http_request;

/* Generated: match method and path (no query string) to a route. */
void router_match(enum method method, const char *path, size_t len, struct router_match *out);

/* Generated: run route's middlewares in order, then its handler; returns what the last one did,
 * -1 for a route number out of range. */
int router_dispatch(int route, struct http_request *req);

/* Generated: the part of an offloaded route's chain after `offload` (its later middlewares, then its
 * handler), called from a pool thread with the pool's copy of the request; -1 for a route that is not
 * offloaded. */
int router_dispatch_offloaded(int route, struct http_request *req);

/* The server's (server/http/http_offload.c): where router_dispatch stops for a route marked `offload`; it
 * hands the request to the offload pool and returns HANDLER_DONE (or answers 503 when the pool is full). */
int router_offload(int route, struct http_request *req);

/* Generated: the number of routes and each route's "METHODS pattern" text, for logs and metrics. */
extern const int router_route_count;
extern const char *const router_route_names[];
/* Generated: 1 for each route marked `offload`, 0 for the others. */
extern const unsigned char router_route_offloaded[];

/* Method names as they appear in a request line or :method; METHOD_OTHER if unknown. */
enum method method_parse(const char *name, size_t len);
const char *method_name(enum method m);

#endif
