/*
 * http_offload.c — requests whose handler runs on the offload pool (offload/offload.h), never on a
 * worker: routes marked `offload` in the routes file (router_offload) and handlers that decide
 * mid-request (http_offload).
 *
 * The pool's thread must not touch the connection, the stream or the worker's pools, so the worker
 * hands it a job holding a copy of the request (method, path, query, authority, header fields and
 * route params, in one allocation) and the handler answers into the job: its status, its response
 * headers and a body that outlives it (static data, memory it hands over, a copy made into the job,
 * or a generator the worker calls later). The worker gets the job back through the pool's
 * completion inbox (offload_reap) and answers the live request with it, trailer fields included (a
 * gRPC answer's grpc-status). A client that goes away meanwhile (on_abort), or a gRPC deadline that
 * passes, only detaches the job from its request; the job still runs and its answer is dropped.
 *
 * A request with a body is submitted once the body has arrived whole: the worker collects it into the
 * job (at most [http] max_body_backlog bytes, 413 beyond), and the handler reads it with
 * http_request_body. Collecting is the slow path's copy; nothing is submitted before it ends.
 *
 * When the pool is full the request is answered 503 with a Retry-After computed from the pool's
 * measured drain rate; with no pool (max_threads 0) offloaded handlers run on the worker, as every
 * other handler does.
 */
#include <stdalign.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_conn.h"
#include "http/http_worker.h"
#include "offload/breaker.h"
#include "offload/offload.h"

enum job_body { JOB_BODY_MEMORY, JOB_BODY_GENERATED };

struct job_field {
    uint16_t name_off, name_len;
    uint16_t value_off, value_len;
    bool trailer;
};

struct http_offload_job {
    struct offload_job base;
    struct http_worker *hw;
    struct http_request *live; /* the worker's request; NULL once its client went away (worker only) */
    int (*fn)(struct http_request *req, void *ctx);
    void *ctx;
    struct http_request view; /* the pool's copy: what fn sees */
    int route;                /* the route whose breaker hears how it went; -1: none */
    const uint64_t *now_ns;   /* the worker loop's clock (its app table's): the breaker's time */
    bool collecting;          /* not submitted yet: the worker collects the request body into it */
    uint8_t *req_body;        /* the request body (malloc'd, grown by doubling), req_body_len bytes */
    size_t req_body_len, req_body_cap;

    /* the answer, written by the pool's thread, read by the worker after offload_reap */
    bool answered;
    bool reset;
    bool unsupported; /* the handler used a call the pool cannot serve (streaming): 500 */
    int status;
    const char *content_type;
    enum job_body body_kind;
    const void *body;
    uint64_t len;
    void (*release)(const void *body, size_t len);
    void (*generate)(void *ctx, uint64_t offset, uint8_t *dst, size_t n);
    void *generate_ctx;
    uint32_t nfields;
    uint32_t arena_used;
    struct job_field fields[HTTP_MAX_RESP_HEADERS];
    char arena[HTTP_ARENA_SIZE];

    alignas(struct http_header) char copy[]; /* the request's header array, then its strings, for view */
};

/* ---- the pool's side: what a handler's calls do on the copy --------------------------------------- */

static bool add_field(struct http_offload_job *job, const char *name, size_t name_len, const char *value,
                      size_t value_len, bool trailer)
{
    struct job_field *f;

    if (job->answered || job->nfields == HTTP_MAX_RESP_HEADERS ||
        job->arena_used + name_len + value_len > sizeof(job->arena))
        return false;
    f = &job->fields[job->nfields++];
    *f = (struct job_field){(uint16_t)job->arena_used, (uint16_t)name_len,
                            (uint16_t)(job->arena_used + name_len), (uint16_t)value_len, trailer};
    memcpy(job->arena + f->name_off, name, name_len);
    memcpy(job->arena + f->value_off, value, value_len);
    job->arena_used += (uint32_t)(name_len + value_len);
    return true;
}

bool http_offload_add_header(struct http_offload_job *job, const char *name, size_t name_len,
                             const char *value, size_t value_len)
{
    return add_field(job, name, name_len, value, value_len, false);
}

bool http_offload_add_trailer(struct http_offload_job *job, const char *name, size_t name_len,
                              const char *value, size_t value_len)
{
    return add_field(job, name, name_len, value, value_len, true);
}

struct http_str http_offload_body(const struct http_offload_job *job)
{
    return job->req_body ? (struct http_str){(const char *)job->req_body, job->req_body_len}
                         : (struct http_str){"", 0};
}

/* The handler's first answer is the one (a second is ignored, as on a worker): false for a second. */
static bool answer_begins(struct http_offload_job *job, int status, const char *content_type,
                          enum job_body kind, uint64_t len)
{
    if (job->answered)
        return false;
    job->answered = true;
    job->status = status;
    job->content_type = content_type;
    job->body_kind = kind;
    job->len = len;
    return true;
}

static void free_copy(const void *body, size_t len)
{
    (void)len;
    free((void *)body);
}

void http_offload_respond(struct http_offload_job *job, int status, const char *content_type,
                          const void *body, size_t len, void (*release)(const void *body, size_t len),
                          bool copy)
{
    if (!answer_begins(job, status, content_type, JOB_BODY_MEMORY, len)) {
        if (release)
            release(body, len);
        return;
    }
    if (copy && len) {
        void *mine = malloc(len); /* the pool's slow path; the worker frees it once sent */

        if (!mine) {
            job->status = 503;
            job->len = 0;
            return;
        }
        memcpy(mine, body, len);
        body = mine;
        release = free_copy;
    }
    job->body = body;
    job->release = release;
}

void http_offload_respond_generated(struct http_offload_job *job, int status, const char *content_type,
                                    uint64_t len,
                                    void (*generate)(void *ctx, uint64_t offset, uint8_t *dst, size_t n),
                                    void *ctx)
{
    if (!answer_begins(job, status, content_type, JOB_BODY_GENERATED, len))
        return;
    job->generate = generate;
    job->generate_ctx = ctx;
}

void http_offload_unsupported(struct http_offload_job *job)
{
    job->unsupported = true;
}

void http_offload_reset(struct http_offload_job *job)
{
    job->reset = true;
}

static void job_run(struct offload_job *base)
{
    struct http_offload_job *job = (struct http_offload_job *)base;

    job->fn(&job->view, job->ctx);
}

/* ---- the worker's side ------------------------------------------------------------------------------ */

static size_t str_size(struct http_str s)
{
    return s.ptr ? s.len : 0;
}

/* s copied to *at (NULL stays NULL), *at moved past it */
static struct http_str put_str(char **at, struct http_str s)
{
    struct http_str out = {s.ptr ? *at : NULL, s.len};

    if (s.ptr) {
        memcpy(*at, s.ptr, s.len);
        *at += s.len;
    }
    return out;
}

/* The job for req, its copy made: NULL when memory is short. */
static struct http_offload_job *job_new(struct http_request *req)
{
    size_t size = req->nheaders * sizeof(struct http_header) + str_size(req->method_name) +
                  str_size(req->path) + str_size(req->query) + str_size(req->authority);
    struct http_offload_job *job;
    struct http_request *v;
    char *at;

    for (uint32_t i = 0; i < req->nheaders; i++)
        size += req->headers[i].name.len + req->headers[i].value.len;
    job = malloc(sizeof(*job) + size);
    if (!job)
        return NULL;
    memset(job, 0, sizeof(*job));
    v = &job->view;
    *v = *req;
    v->headers = (struct http_header *)job->copy; /* first, where copy is aligned for it */
    at = job->copy + req->nheaders * sizeof(struct http_header);
    for (uint32_t i = 0; i < req->nheaders; i++) {
        v->headers[i].name = put_str(&at, req->headers[i].name);
        v->headers[i].value = put_str(&at, req->headers[i].value);
    }
    v->method_name = put_str(&at, req->method_name);
    v->path = put_str(&at, req->path);
    v->query = put_str(&at, req->query);
    v->authority = put_str(&at, req->authority);
    for (uint16_t i = 0; i < v->route.nparams; i++) /* captures are slices of the path */
        v->route.params[i].value = v->path.ptr + (req->route.params[i].value - req->path.ptr);
    v->trailers = NULL;
    v->ntrailers = 0;
    v->on_body = NULL;
    v->on_abort = NULL;
    v->on_drain = NULL;
    v->user = NULL;
    v->_stream = NULL;
    v->_job = job;
    return job;
}

static void job_unrun(struct http_offload_job *job);

/* The client went away, or the request's gRPC deadline passed: a job on the pool runs on, its answer
 * dropped; one still collecting the body is freed here. */
static void job_abandoned(struct http_request *req)
{
    struct http_offload_job *job = req->user;

    job->hw->stats.offload_abandoned++;
    if (job->collecting) {
        job_unrun(job);
        return;
    }
    job->live = NULL;
}

/* 503 with Retry-After: the client may come back in seconds */
static void unavailable(struct http_request *req, uint32_t seconds)
{
    char text[16];
    int n = snprintf(text, sizeof(text), "%u", seconds);

    http_add_header(req, "retry-after", text, (size_t)n);
    http_respond_error(req, 503);
}

static void shed(struct http_worker *hw, struct http_request *req)
{
    hw->stats.offload_shed++;
    http_probe_overload(req->_stream, "offload_shed", 503);
    unavailable(req, offload_retry_after_s(hw->offload));
}

/* The route's breaker, when routes have them and req came through one */
static struct breaker *breaker_of(const struct http_worker *hw, const struct http_request *req)
{
    if (!hw->breakers || req->route.result != ROUTER_FOUND || req->route.route < 0 ||
        req->route.route >= hw->cfg->router->route_count)
        return NULL;
    return &hw->breakers[req->route.route];
}

static void job_free(struct http_offload_job *job)
{
    free(job->req_body);
    free(job);
}

/* A job that will not run (not submitted, or refused): its breaker, if one let it through, must hear an
 * outcome though the handler did not fail, or a half-open one would wait for this probe for ever. */
static void job_unrun(struct http_offload_job *job)
{
    if (job->route >= 0)
        breaker_record(&job->hw->breakers[job->route], true, *job->now_ns);
    job_free(job);
}

static void submit(struct http_offload_job *job)
{
    struct http_request *req = job->live;
    struct http_worker *hw = job->hw;

    job->collecting = false;
    req->on_body = NULL;
    if (!offload_submit(hw->offload, hw->offload_submitter, &job->base)) {
        req->user = NULL;
        req->on_abort = NULL;
        job_unrun(job);
        shed(hw, req);
        return;
    }
    hw->stats.offloaded++;
    hw->offload_in_flight++;
}

/* Room for len more body bytes in job: false when the body is over the bound or memory is short. */
static bool body_room(struct http_offload_job *job, size_t len, bool *too_large)
{
    size_t cap = job->req_body_cap ? job->req_body_cap : 4096;
    uint8_t *grown;

    *too_large = len > job->hw->cfg->max_body_backlog - job->req_body_len;
    if (*too_large)
        return false;
    if (job->req_body_len + len <= job->req_body_cap)
        return true;
    while (cap < job->req_body_len + len)
        cap *= 2;
    grown = realloc(job->req_body, cap);
    if (!grown)
        return false;
    job->req_body = grown;
    job->req_body_cap = cap;
    return true;
}

/* The request body, into the job, until it ends: then the job goes to the pool. */
static size_t job_collect(struct http_request *req, const uint8_t *data, size_t len, bool last)
{
    struct http_offload_job *job = req->user;
    struct http_worker *hw = job->hw;
    bool too_large;

    if (!body_room(job, len, &too_large)) {
        req->on_body = NULL;
        req->on_abort = NULL;
        req->user = NULL;
        job_unrun(job);
        if (too_large)
            http_respond_error(req, 413);
        else
            shed(hw, req);
        return len;
    }
    if (len)
        memcpy(job->req_body + job->req_body_len, data, len);
    job->req_body_len += len;
    if (last)
        submit(job);
    return len;
}

int http_offload(struct http_request *req, int (*fn)(struct http_request *req, void *ctx), void *ctx)
{
    struct http_worker *hw;
    struct http_offload_job *job;
    struct breaker *b;
    uint64_t now;

    if (req->_job) /* already on the pool */
        return fn(req, ctx);
    hw = req->_stream->conn->hw;
    if (!hw->offload)
        return fn(req, ctx);
    b = breaker_of(hw, req);
    now = req->_stream->conn->ac->table->now_ns;
    if (b && !breaker_allow(b, now)) {
        hw->stats.offload_breaker_refused++;
        http_probe_overload(req->_stream, "breaker_open", 503);
        unavailable(req, breaker_retry_after_s(b, now));
        return HANDLER_DONE;
    }
    job = job_new(req);
    if (!job) {
        if (b)
            breaker_record(b, true, now);
        shed(hw, req);
        return HANDLER_DONE;
    }
    job->hw = hw;
    job->live = req;
    job->route = b ? req->route.route : -1;
    job->now_ns = &req->_stream->conn->ac->table->now_ns;
    job->fn = fn;
    job->ctx = ctx;
    job->base.run = job_run;
    req->user = job;
    req->on_abort = job_abandoned;
    if (req->_stream->request_done) {
        submit(job);
    } else {
        job->collecting = true;
        req->on_body = job_collect;
    }
    return HANDLER_DONE;
}

/* The rest of an offloaded route's chain: on a pool thread (the job's copy of the request), or on the
 * worker itself when there is no pool. */
static int run_route(struct http_request *req, void *ctx)
{
    const struct http_worker *hw = req->_job ? req->_job->hw : req->_stream->conn->hw;

    return hw->cfg->router->dispatch_offloaded((int)(intptr_t)ctx, req);
}

int router_offload(int route, struct http_request *req)
{
    return http_offload(req, run_route, (void *)(intptr_t)route);
}

/* Answer the live request with what the handler left in the job. */
static void answer(struct http_offload_job *job)
{
    struct http_request *req = job->live;

    req->on_abort = NULL;
    req->user = NULL;
    if (job->reset) {
        http_reset(req);
        return;
    }
    if (!job->answered || job->unsupported) {
        job->hw->stats.offload_unanswered++;
        http_respond_error(req, 500);
        return;
    }
    for (uint32_t i = 0; i < job->nfields; i++) {
        const struct job_field *f = &job->fields[i];
        char name[HTTP_ARENA_SIZE];

        memcpy(name, job->arena + f->name_off, f->name_len);
        name[f->name_len] = '\0';
        if (f->trailer)
            http_add_trailer(req, name, job->arena + f->value_off, f->value_len);
        else
            http_add_header(req, name, job->arena + f->value_off, f->value_len);
    }
    if (job->body_kind == JOB_BODY_GENERATED)
        http_respond_generated(req, job->status, job->content_type, job->len, job->generate,
                               job->generate_ctx);
    else
        http_respond_owned(req, job->status, job->content_type, job->body, job->len, job->release);
    job->release = NULL; /* the response has it now */
}

void http_offload_drop(struct offload_job *base)
{
    struct http_offload_job *job = (struct http_offload_job *)base;

    if (job->release)
        job->release(job->body, job->len);
    job_free(job);
}

void http_offload_finish(struct offload_job *base)
{
    struct http_offload_job *job = (struct http_offload_job *)base;
    struct http_worker *hw = job->hw;

    hw->offload_in_flight--;
    if (job->route >= 0) {
        bool ok = job->answered && !job->unsupported && job->status < 500 &&
                  job->base.end_ns - job->base.start_ns <= hw->offload_slow_ns;

        breaker_record(&hw->breakers[job->route], ok, *job->now_ns);
    }
    if (job->live)
        answer(job);
    else if (job->release)
        job->release(job->body, job->len);
    job_free(job);
}
