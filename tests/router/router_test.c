/*
 * router_test.c — the compiled router (include/sluice/router.h) as the server sees it.
 *
 * Linked with the C that sluice-routegen generates from tests/router/test.routes at build time
 * ($(BUILD)/gen/tests/router/test.routes.c), so these tests check the generator through its output.
 * The handlers and middlewares named in test.routes are stubs here that write their names into the
 * request, so dispatch order is visible. Every lookup copies the path into a heap block of exactly
 * its length, with no terminating NUL: under ASan, a matcher reading past `len` fails the test.
 */
#include <stdlib.h>
#include <string.h>

#include "tests/lib/check.h"
#include "sluice/router.h"

extern const struct router app_router; /* tests/router/test.routes, compiled */

#define ALLOW(m)  (1u << METHOD_##m)
#define ALLOW_ALL ((1u << METHOD_COUNT) - 1)

/* The router never looks inside; the stubs keep a trace of who ran. */
struct http_request {
    char trace[256];
    int handler_result;
};

static void trace(struct http_request *req, const char *name)
{
    size_t used = strlen(req->trace);

    snprintf(req->trace + used, sizeof(req->trace) - used, "%s%s", used ? "," : "", name);
}

#define HANDLER(name)                                                                                        \
    int handler_##name(struct http_request *req);                                                            \
    int handler_##name(struct http_request *req)                                                             \
    {                                                                                                        \
        trace(req, #name);                                                                                   \
        return req->handler_result;                                                                          \
    }
#define MIDDLEWARE(name, result)                                                                             \
    int middleware_##name(struct http_request *req);                                                         \
    int middleware_##name(struct http_request *req)                                                          \
    {                                                                                                        \
        trace(req, #name);                                                                                   \
        return result;                                                                                       \
    }

HANDLER(root)
HANDLER(health)
HANDLER(a_plain)
HANDLER(a_slash)
HANDLER(users)
HANDLER(users_new)
HANDLER(user_show)
HANDLER(user_update)
HANDLER(user_delete)
HANDLER(user_edit)
HANDLER(user_post)
HANDLER(w_param)
HANDLER(w_rest)
HANDLER(file_get)
HANDLER(file_head)
HANDLER(files_readme)
HANDLER(any)
HANDLER(options)
HANDLER(broken)
HANDLER(eight)
HANDLER(odd_quote)
HANDLER(odd_punct)
HANDLER(odd_star_slash)
HANDLER(long_literal)
MIDDLEWARE(auth, HANDLER_NEXT)
MIDDLEWARE(log, HANDLER_NEXT)
MIDDLEWARE(deny, HANDLER_DONE) /* answers the request itself: the chain stops */
MIDDLEWARE(fail, -5)           /* an error: the chain stops and dispatch returns it */

/* ---- lookups ----------------------------------------------------------------------------------- */

static char *path_copy; /* the exact-size copy of the last path looked up; captures point into it */
static struct router_match match;

static const struct router_match *lookup_bytes(enum method method, const char *path, size_t len)
{
    free(path_copy);
    path_copy = malloc(len ? len : 1);
    memcpy(path_copy, path, len);
    memset(&match, 0xa5, sizeof(match)); /* whatever the caller had there must not leak through */
    app_router.match(method, path_copy, len, &match);
    return &match;
}

static const struct router_match *lookup(enum method method, const char *path)
{
    return lookup_bytes(method, path, strlen(path));
}

/* The route's index, from its "METHODS pattern" name, so that tests read by route, not by number. */
static int route_named(const char *name)
{
    for (int i = 0; i < app_router.route_count; i++)
        if (strcmp(app_router.route_names[i], name) == 0)
            return i;
    return -2;
}

static const char *route_name(int route)
{
    return route >= 0 && route < app_router.route_count ? app_router.route_names[route] : "(none)";
}

static const char *result_name(enum router_result r)
{
    return r == ROUTER_FOUND                ? "FOUND"
           : r == ROUTER_NOT_FOUND          ? "NOT_FOUND"
           : r == ROUTER_METHOD_NOT_ALLOWED ? "405"
                                            : "?";
}

/* Captured value i as text, for messages and comparisons. */
static const char *param_text(const struct router_match *m, int i)
{
    static char text[4][2048];
    static int next;
    char *t = text[next++ % 4];

    snprintf(t, sizeof(text[0]), "%.*s", (int)m->params[i].len, m->params[i].value);
    return t;
}

#define CHECK_FOUND(method, path, name)                                                                      \
    do {                                                                                                     \
        const struct router_match *m_ = lookup(METHOD_##method, path);                                       \
        CHECKF(m_->result == ROUTER_FOUND && m_->route == route_named(name),                                 \
               #method " %s: %s route %d (%s)", path, result_name(m_->result), m_->route,                    \
               route_name(m_->route));                                                                       \
        CHECKF(m_->allow == 0, #method " %s: allow 0x%x on FOUND", path, m_->allow);                         \
    } while (0)

#define CHECK_PARAM(i, name_, value)                                                                         \
    CHECKF(match.nparams > (i) && strcmp(match.params[i].name, name_) == 0 &&                                \
               strcmp(param_text(&match, i), value) == 0,                                                    \
           "nparams %u, param %d is %s=\"%s\"", match.nparams, i,                                            \
           match.nparams > (i) ? match.params[i].name : "-",                                                 \
           match.nparams > (i) ? param_text(&match, i) : "")

#define CHECK_NOT_FOUND(method, path)                                                                        \
    do {                                                                                                     \
        const struct router_match *m_ = lookup(METHOD_##method, path);                                       \
        CHECKF(m_->result == ROUTER_NOT_FOUND && m_->allow == 0 && m_->nparams == 0,                         \
               #method " %s: %s route %d (%s) allow 0x%x", path, result_name(m_->result), m_->route,         \
               route_name(m_->route), m_->allow);                                                            \
    } while (0)

#define CHECK_NOT_ALLOWED(method, path, want_allow)                                                          \
    do {                                                                                                     \
        const struct router_match *m_ = lookup(METHOD_##method, path);                                       \
        CHECKF(m_->result == ROUTER_METHOD_NOT_ALLOWED && m_->allow == (want_allow) && m_->nparams == 0,     \
               #method " %s: %s allow 0x%x, expected 0x%x", path, result_name(m_->result), m_->allow,        \
               (unsigned)(want_allow));                                                                      \
    } while (0)

/* ---- tests ------------------------------------------------------------------------------------- */

static void test_method_names(void)
{
    static const char *const names[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"};

    for (int m = 0; m < METHOD_COUNT; m++) {
        CHECKF(method_parse(names[m], strlen(names[m])) == (enum method)m, "%s", names[m]);
        CHECKF(strcmp(method_name(m), names[m]) == 0, "%d is %s", m, method_name(m));
    }
    CHECK(method_parse("get", 3) == METHOD_OTHER); /* methods are case-sensitive */
    CHECK(method_parse("GETS", 4) == METHOD_OTHER);
    CHECK(method_parse("GET", 2) == METHOD_OTHER);
    CHECK(method_parse("CONNECT", 7) == METHOD_OTHER);
    CHECK(method_parse("", 0) == METHOD_OTHER);
    CHECK(strcmp(method_name(METHOD_OTHER), "OTHER") == 0);
    CHECK(strcmp(method_name((enum method) - 1), "OTHER") == 0);
}

static void test_route_table(void)
{
    CHECKF(app_router.route_count == 24, "%d routes", app_router.route_count);
    CHECK(strcmp(app_router.route_names[0], "GET /") == 0);
    CHECK(strcmp(app_router.route_names[4], "GET,POST /users") == 0);
    CHECK(strcmp(app_router.route_names[16], "* /any") == 0);
    CHECK(strcmp(app_router.route_names[20], "GET /odd/\"q\"/back\\slash/it's") == 0);
    CHECK(app_router.route_names[app_router.route_count] == NULL);
}

static void test_literals(void)
{
    CHECK_FOUND(GET, "/", "GET /");
    CHECK_FOUND(GET, "/health", "GET /health");
    CHECK_FOUND(GET, "/users", "GET,POST /users");
    CHECK_FOUND(POST, "/users", "GET,POST /users");
    CHECK_FOUND(GET, "/users/new", "GET /users/new");
    CHECK_FOUND(OPTIONS, "/options", "OPTIONS /options");
    CHECK(match.nparams == 0);
}

static void test_trailing_slash(void)
{
    CHECK_FOUND(GET, "/a", "GET /a");
    CHECK_FOUND(GET, "/a/", "GET /a/");
    CHECK_NOT_FOUND(GET, "/a//");
    CHECK_NOT_FOUND(GET, "/health/");
    CHECK_NOT_FOUND(GET, "/users/"); /* ":id" needs a non-empty segment */
    CHECK_NOT_FOUND(GET, "/users/new/");
    CHECK_NOT_FOUND(GET, "/files"); /* the wildcard route starts with "/files/" */
}

static void test_params(void)
{
    CHECK_FOUND(GET, "/users/42", "GET /users/:id");
    CHECKF(match.nparams == 1, "%u", match.nparams);
    CHECK_PARAM(0, "id", "42");
    CHECK(match.params[0].value == path_copy + 7); /* a slice of the path, not a copy */
    CHECK_FOUND(GET, "/users/42/posts/seven", "GET /users/:id/posts/:post");
    CHECKF(match.nparams == 2, "%u", match.nparams);
    CHECK_PARAM(0, "id", "42");
    CHECK_PARAM(1, "post", "seven");
    CHECK_FOUND(GET, "/users/new-ish", "GET /users/:id"); /* "new" is a prefix, not the segment */
    CHECK_PARAM(0, "id", "new-ish");
    CHECK_NOT_FOUND(GET, "/users//edit");
    CHECK_NOT_FOUND(GET, "/users/4/2");
}

static void test_wildcards(void)
{
    CHECK_FOUND(GET, "/files/", "GET /files/*path");
    CHECKF(match.nparams == 1 && match.params[0].len == 0, "nparams %u len %zu", match.nparams,
           match.params[0].len);
    CHECK(strcmp(match.params[0].name, "path") == 0);
    CHECK_FOUND(GET, "/files/a/b/c.txt", "GET /files/*path");
    CHECK_PARAM(0, "path", "a/b/c.txt");
    CHECK_FOUND(GET, "/files//x/", "GET /files/*path"); /* the rest as it is, empty segments too */
    CHECK_PARAM(0, "path", "/x/");
    CHECK_FOUND(GET, "/w/abc", "GET /w/*rest");
    CHECK_PARAM(0, "rest", "abc");
}

static void test_precedence(void)
{
    CHECK_FOUND(GET, "/users/new", "GET /users/new");       /* literal over :id */
    CHECK_FOUND(GET, "/files/readme", "GET /files/readme"); /* literal over *path */
    CHECK_FOUND(GET, "/files/readme2", "GET /files/*path"); /* a literal is a whole segment */
    CHECK_PARAM(0, "path", "readme2");
    CHECK_FOUND(GET, "/w/a/x", "GET /w/:name/x"); /* :param over *wildcard */
    CHECK_PARAM(0, "name", "a");
}

static void test_backtracking(void)
{
    CHECK_FOUND(GET, "/users/new/edit", "GET /users/:id/edit"); /* the literal "new" leads nowhere */
    CHECK_PARAM(0, "id", "new");
    CHECK_FOUND(GET, "/users/new/posts/1", "GET /users/:id/posts/:post");
    CHECK_PARAM(0, "id", "new");
    CHECK_PARAM(1, "post", "1");
    CHECK_FOUND(GET, "/w/a/y", "GET /w/*rest"); /* :name matched, "/x" did not: back to the wildcard */
    CHECKF(match.nparams == 1, "%u", match.nparams);
    CHECK_PARAM(0, "rest", "a/y");
    CHECK_FOUND(GET, "/w/a/x/z", "GET /w/*rest");
    CHECK_PARAM(0, "rest", "a/x/z");
    CHECK_FOUND(GET, "/files/readme/more", "GET /files/*path");
    CHECK_PARAM(0, "path", "readme/more");
}

/* The first pattern with a route for the method wins: methods take part in backtracking. */
static void test_backtracking_by_method(void)
{
    CHECK_FOUND(PUT, "/users/new", "PUT,PATCH /users/:id"); /* "/users/new" has only GET */
    CHECK_PARAM(0, "id", "new");
    CHECK_FOUND(DELETE, "/users/new", "DELETE /users/:id");
    CHECK_FOUND(HEAD, "/files/readme", "GET /files/readme"); /* the literal's GET, not *path's HEAD */
}

static void test_not_found(void)
{
    CHECK_NOT_FOUND(GET, "");
    CHECK_NOT_FOUND(GET, "users");
    CHECK_NOT_FOUND(GET, "*");
    CHECK_NOT_FOUND(GET, "/nope");
    CHECK_NOT_FOUND(GET, "/user");
    CHECK_NOT_FOUND(GET, "/usersx");
    CHECK_NOT_FOUND(GET, "/healt");
    CHECK_NOT_FOUND(GET, "/healthy");
    CHECK_NOT_FOUND(GET, "/health?x=1"); /* the caller strips the query */
    CHECK_NOT_FOUND(GET, "/users/1/edit/");
    CHECK_NOT_FOUND(POST, "/nope");
    CHECK_NOT_FOUND(OTHER, "/nope");
}

static void test_method_not_allowed(void)
{
    CHECK_NOT_ALLOWED(POST, "/health", ALLOW(GET) | ALLOW(HEAD));
    CHECK_NOT_ALLOWED(DELETE, "/users", ALLOW(GET) | ALLOW(HEAD) | ALLOW(POST));
    CHECK_NOT_ALLOWED(POST, "/users/7", ALLOW(GET) | ALLOW(HEAD) | ALLOW(PUT) | ALLOW(PATCH) | ALLOW(DELETE));
    /* every pattern that matches counts: the literal's GET and the :id route's methods */
    CHECK_NOT_ALLOWED(POST, "/users/new",
                      ALLOW(GET) | ALLOW(HEAD) | ALLOW(PUT) | ALLOW(PATCH) | ALLOW(DELETE));
    CHECK_NOT_ALLOWED(OPTIONS, "/files/x", ALLOW(GET) | ALLOW(HEAD));
    CHECK_NOT_ALLOWED(GET, "/options", ALLOW(OPTIONS)); /* no GET, hence no HEAD */
    CHECK_NOT_ALLOWED(HEAD, "/options", ALLOW(OPTIONS));
    CHECK_NOT_ALLOWED(OTHER, "/any", ALLOW_ALL); /* an unknown method is never routed */
    CHECK_NOT_ALLOWED(OTHER, "/health", ALLOW(GET) | ALLOW(HEAD));
}

static void test_head_via_get(void)
{
    CHECK_FOUND(HEAD, "/", "GET /");
    CHECK_FOUND(HEAD, "/health", "GET /health");
    CHECK_FOUND(HEAD, "/users/5", "GET /users/:id");
    CHECK_PARAM(0, "id", "5");
    CHECK_FOUND(HEAD, "/users", "GET,POST /users");
}

static void test_explicit_head(void)
{
    CHECK_FOUND(HEAD, "/files/a.txt", "HEAD /files/*path");
    CHECK_PARAM(0, "path", "a.txt");
    CHECK_FOUND(GET, "/files/a.txt", "GET /files/*path");
    CHECK_NOT_ALLOWED(POST, "/files/a.txt", ALLOW(GET) | ALLOW(HEAD));
}

static void test_every_method(void)
{
    for (int m = 0; m < METHOD_COUNT; m++) {
        const struct router_match *r = lookup(m, "/any");

        CHECKF(r->result == ROUTER_FOUND && r->route == route_named("* /any"), "%s: %s", method_name(m),
               result_name(r->result));
    }
}

static void test_param_limit(void)
{
    static const char *const names[] = {"a", "b", "c", "d", "e", "f", "g"};

    CHECK_FOUND(GET, "/p/1/2/3/4/5/6/7/rest/of/it", "GET /p/:a/:b/:c/:d/:e/:f/:g/*h");
    CHECKF(match.nparams == ROUTER_MAX_PARAMS, "%u", match.nparams);
    for (int i = 0; i < 7; i++) {
        char value[2] = {(char)('1' + i), '\0'};

        CHECK_PARAM(i, names[i], value);
    }
    CHECK_PARAM(7, "h", "rest/of/it");
    CHECK_NOT_FOUND(GET, "/p/1/2/3/4/5/6/7");
}

static void test_long_paths(void)
{
    enum { LONG = 4000 };
    char *path = malloc(LONG + 64);
    const struct router_match *m;

    /* a wildcard takes 4 KiB of segments */
    strcpy(path, "/files/");
    for (size_t i = 7; i < LONG; i++)
        path[i] = i % 10 == 0 ? '/' : 'a' + i % 26;
    m = lookup_bytes(METHOD_GET, path, LONG);
    CHECKF(m->result == ROUTER_FOUND && m->route == route_named("GET /files/*path") &&
               m->params[0].len == LONG - 7,
           "%s len %zu", result_name(m->result), m->params[0].len);
    /* a parameter takes one 4 KiB segment */
    memcpy(path, "/users/", 7);
    memset(path + 7, 'x', LONG - 7);
    m = lookup_bytes(METHOD_GET, path, LONG);
    CHECKF(m->result == ROUTER_FOUND && m->route == route_named("GET /users/:id") &&
               m->params[0].len == LONG - 7,
           "%s len %zu", result_name(m->result), m->params[0].len);
    /* and a slash at the very end makes it nothing */
    path[LONG - 1] = '/';
    m = lookup_bytes(METHOD_GET, path, LONG);
    CHECKF(m->result == ROUTER_NOT_FOUND, "%s", result_name(m->result));
    /* 4 KiB of slashes */
    memset(path, '/', LONG);
    m = lookup_bytes(METHOD_GET, path, LONG);
    CHECKF(m->result == ROUTER_NOT_FOUND, "%s", result_name(m->result));
    free(path);

    /* the long literal run: whole, one byte off at either end, cut short, one byte too many */
    {
        const char *lit =
            "/long/abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789/end";
        char copy[128];

        CHECK_FOUND(GET, lit,
                    "GET /long/abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789/end");
        strcpy(copy, lit);
        copy[strlen(copy) - 1] = 'e';
        CHECK_NOT_FOUND(GET, copy);
        strcpy(copy, lit);
        copy[6] = 'A';
        CHECK_NOT_FOUND(GET, copy);
        m = lookup_bytes(METHOD_GET, lit, strlen(lit) - 1);
        CHECKF(m->result == ROUTER_NOT_FOUND, "%s", result_name(m->result));
        strcpy(copy, lit);
        strcat(copy, "d");
        CHECK_NOT_FOUND(GET, copy);
    }
}

static void test_odd_bytes(void)
{
    static const char nul_in_id[] = "/users/a b\0\xff%2F";
    static const char nul_in_literal[] = "/heal\0h";
    const struct router_match *m;

    /* a parameter takes any byte but '/', NUL and non-ASCII included: decoding is the server's */
    m = lookup_bytes(METHOD_GET, nul_in_id, sizeof(nul_in_id) - 1);
    CHECKF(m->result == ROUTER_FOUND && m->route == route_named("GET /users/:id") &&
               m->params[0].len == sizeof(nul_in_id) - 1 - 7 &&
               memcmp(m->params[0].value, "a b\0\xff%2F", m->params[0].len) == 0,
           "%s len %zu", result_name(m->result), m->params[0].len);
    m = lookup_bytes(METHOD_GET, nul_in_literal, sizeof(nul_in_literal) - 1);
    CHECKF(m->result == ROUTER_NOT_FOUND, "%s", result_name(m->result));
    m = lookup_bytes(METHOD_GET, "/health\0", 8);
    CHECKF(m->result == ROUTER_NOT_FOUND, "%s", result_name(m->result));
    CHECK_NOT_FOUND(GET, "/\xff\xfe");
    CHECK_NOT_FOUND(GET, "/HEALTH"); /* paths are case-sensitive */
    /* literals a C string or character literal must escape, and ':' '*' inside a segment */
    CHECK_FOUND(GET, "/odd/\"q\"/back\\slash/it's", "GET /odd/\"q\"/back\\slash/it's");
    CHECK_NOT_FOUND(GET, "/odd/\"q\"/back/slash/it's");
    CHECK_FOUND(GET, "/odd/a:b/c*d/~!$&()+,;=@%20", "GET /odd/a:b/c*d/~!$&()+,;=@%20");
    CHECK(match.nparams == 0);
    CHECK_NOT_FOUND(GET, "/odd/a:b/c*d/~!$&()+,;=@ ");
    CHECK_FOUND(GET, "/odd/x*/y", "GET /odd/x*/y");
    CHECK_NOT_FOUND(GET, "/odd/xx/y");
}

/* Only the first len bytes are the path: what follows in memory must not count. */
static void test_length_is_the_path(void)
{
    const struct router_match *m = lookup_bytes(METHOD_GET, "/healthy", 7);

    CHECKF(m->result == ROUTER_FOUND && m->route == route_named("GET /health"), "%s", result_name(m->result));
    m = lookup_bytes(METHOD_GET, "/users/42/edit", 9);
    CHECKF(m->result == ROUTER_FOUND && m->route == route_named("GET /users/:id") && m->params[0].len == 2,
           "%s", result_name(m->result));
    m = lookup_bytes(METHOD_GET, "/a/", 2);
    CHECKF(m->result == ROUTER_FOUND && m->route == route_named("GET /a"), "%s", result_name(m->result));
}

/* Each route is found by a path made from its own pattern: nothing is shadowed or lost. */
static void test_every_route_reachable(void)
{
    for (int i = 0; i < app_router.route_count; i++) {
        const char *name = app_router.route_names[i];
        const char *pattern = strchr(name, ' ') + 1;
        enum method method = name[0] == '*' ? METHOD_GET : method_parse(name, strcspn(name, ", "));
        char path[256];
        size_t len = 0;
        const struct router_match *m;

        for (const char *p = pattern; *p;) {
            if (p[-1] == '/' && (*p == ':' || *p == '*')) {
                const char *value = *p == ':' ? "v" : "r/s";

                memcpy(path + len, value, strlen(value));
                len += strlen(value);
                p += strcspn(p, "/");
            } else {
                path[len++] = *p++;
            }
        }
        m = lookup_bytes(method, path, len);
        CHECKF(m->result == ROUTER_FOUND && m->route == i, "%s via %.*s: %s %s", name, (int)len, path,
               result_name(m->result), route_name(m->route));
    }
}

static int dispatch(const char *path, enum method method, struct http_request *req)
{
    const struct router_match *m = lookup(method, path);

    memset(req, 0, sizeof(*req));
    return m->result == ROUTER_FOUND ? app_router.dispatch(m->route, req) : -100;
}

static void test_dispatch_order(void)
{
    struct http_request req;
    int ret;

    ret = dispatch("/users/1", METHOD_GET, &req);
    CHECKF(ret == HANDLER_DONE && strcmp(req.trace, "auth,log,user_show") == 0, "%d %s", ret, req.trace);
    ret = dispatch("/users/1", METHOD_PATCH, &req);
    CHECKF(ret == HANDLER_DONE && strcmp(req.trace, "auth,log,user_update") == 0, "%d %s", ret, req.trace);
    ret = dispatch("/files/x", METHOD_GET, &req);
    CHECKF(ret == HANDLER_DONE && strcmp(req.trace, "log,file_get") == 0, "%d %s", ret, req.trace);
    ret = dispatch("/health", METHOD_GET, &req);
    CHECKF(ret == HANDLER_DONE && strcmp(req.trace, "health") == 0, "%d %s", ret, req.trace);
}

static void test_dispatch_stops_early(void)
{
    struct http_request req;
    int ret;

    ret = dispatch("/users/1", METHOD_DELETE, &req); /* auth, deny answers: neither log nor the handler */
    CHECKF(ret == HANDLER_DONE && strcmp(req.trace, "auth,deny") == 0, "%d %s", ret, req.trace);
    ret = dispatch("/broken", METHOD_GET, &req); /* a middleware's error is dispatch's result */
    CHECKF(ret == -5 && strcmp(req.trace, "fail") == 0, "%d %s", ret, req.trace);
}

static void test_dispatch_results(void)
{
    struct http_request req = {.handler_result = -22};

    CHECKF(app_router.dispatch(route_named("GET /health"), &req) == -22, "%s", req.trace); /* the handler's */
    memset(&req, 0, sizeof(req));
    CHECK(app_router.dispatch(-1, &req) == -1);
    CHECK(app_router.dispatch(app_router.route_count, &req) == -1);
    CHECKF(req.trace[0] == '\0', "%s", req.trace);
}

int main(int argc, char **argv)
{
    static const struct check_case tests[] = {
#define T(fn) CHECK_CASE(fn)
        T(test_method_names),
        T(test_route_table),
        T(test_literals),
        T(test_trailing_slash),
        T(test_params),
        T(test_wildcards),
        T(test_precedence),
        T(test_backtracking),
        T(test_backtracking_by_method),
        T(test_not_found),
        T(test_method_not_allowed),
        T(test_head_via_get),
        T(test_explicit_head),
        T(test_every_method),
        T(test_param_limit),
        T(test_long_paths),
        T(test_odd_bytes),
        T(test_length_is_the_path),
        T(test_every_route_reachable),
        T(test_dispatch_order),
        T(test_dispatch_stops_early),
        T(test_dispatch_results),
#undef T
    };
    int status = check_main(argc, argv, tests, CHECK_COUNT(tests), NULL);

    free(path_copy);
    return status;
}
