/*
 * offload_test.c — the offload pool (server/offload/offload.h) with real threads: every job runs and
 * is handed back exactly once, the queue bound refuses and counts, stop runs what is queued, the pool
 * grows under a step of load and shrinks back after it, and Retry-After grows with the queue. Each
 * test is bounded in time. Run in the sanitizer build and in a ThreadSanitizer build
 * (tests/offload/offload_test.sh); `# ...` lines give the figures measured.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "tests/lib/check.h"
#include "offload/offload.h"

struct tjob {
    struct offload_job job; /* first: the pool hands back this pointer */
    _Atomic int runs;
    _Atomic int dones;
    _Atomic int done_before_run; /* done called without run first */
    uint32_t sleep_us;
    _Atomic bool *gate; /* when set: run waits until *gate */
};

static _Atomic uint64_t completed_jobs;
static _Atomic bool skip_sleep; /* jobs sleep no more: drains a long queue at once */

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sleep_us(uint64_t us)
{
    struct timespec ts = {.tv_sec = (time_t)(us / 1000000), .tv_nsec = (long)(us % 1000000) * 1000};

    nanosleep(&ts, NULL);
}

static void tjob_run(struct offload_job *job)
{
    struct tjob *t = (struct tjob *)job;

    if (t->gate)
        while (!atomic_load(t->gate))
            sleep_us(100);
    if (t->sleep_us && !atomic_load(&skip_sleep))
        sleep_us(t->sleep_us);
    atomic_fetch_add(&t->runs, 1);
}

static void tjob_done(struct offload_job *job)
{
    struct tjob *t = (struct tjob *)job;

    if (atomic_load(&t->runs) != 1)
        atomic_fetch_add(&t->done_before_run, 1);
    atomic_fetch_add(&t->dones, 1);
    atomic_fetch_add(&completed_jobs, 1);
}

static struct tjob *tjobs_new(size_t n, uint32_t sleep)
{
    struct tjob *t = calloc(n, sizeof(*t));

    for (size_t i = 0; t && i < n; i++) {
        t[i].job.run = tjob_run;
        t[i].job.done = tjob_done;
        t[i].sleep_us = sleep;
    }
    return t;
}

static struct offload_config config(uint32_t min, uint32_t max, uint32_t queue_max)
{
    struct offload_config cfg = {
        .min_threads = min,
        .max_threads = max,
        .queue_max = queue_max,
        .grow_wait_us = OFFLOAD_GROW_WAIT_US_DEFAULT,
        .shrink_idle_ms = OFFLOAD_SHRINK_IDLE_MS_DEFAULT,
    };
    return cfg;
}

/* Wait until cond or timeout_ms; true when cond held. */
#define WAIT_UNTIL(cond, timeout_ms)                                                                         \
    ({                                                                                                       \
        uint64_t _end = now_ns() + (uint64_t)(timeout_ms)*1000000;                                           \
        while (!(cond) && now_ns() < _end)                                                                   \
            sleep_us(1000);                                                                                  \
        (bool)(cond);                                                                                        \
    })

/* Each job must have run once and been handed back once, run before done. */
static int tjobs_bad(struct tjob *t, size_t n)
{
    int bad = 0;

    for (size_t i = 0; i < n; i++)
        bad += atomic_load(&t[i].runs) != 1 || atomic_load(&t[i].dones) != 1 ||
               atomic_load(&t[i].done_before_run) != 0;
    return bad;
}

/* After a stop: each job handed back once, and either run once before that or not run at all; *unrun
 * counts the latter. */
static int tjobs_bad_at_stop(struct tjob *t, size_t n, int *unrun)
{
    int bad = 0;

    *unrun = 0;
    for (size_t i = 0; i < n; i++) {
        int runs = atomic_load(&t[i].runs), before = atomic_load(&t[i].done_before_run);

        *unrun += runs == 0;
        bad += atomic_load(&t[i].dones) != 1 || runs > 1 || (runs == 1 && before != 0);
    }
    return bad;
}

static void test_bad_config_refused(void)
{
    struct offload_pool *pool;
    struct offload_config cfg = config(0, 4, 16);
    struct err e;

    CHECK(offload_pool_start(&pool, &cfg, 1, &e) == -1 && pool == NULL);
    cfg = config(4, 2, 16);
    CHECK(offload_pool_start(&pool, &cfg, 1, &e) == -1);
    cfg = config(1, OFFLOAD_MAX_THREADS + 1, 16);
    CHECK(offload_pool_start(&pool, &cfg, 1, &e) == -1);
    cfg = config(1, 2, 0);
    CHECK(offload_pool_start(&pool, &cfg, 1, &e) == -1);
    cfg = config(1, 2, 16);
    cfg.ncpus = 1;
    cfg.cpus[0] = -1;
    CHECK(offload_pool_start(&pool, &cfg, 1, &e) == -1);
    CHECK(e.status == EXIT_STATUS_USAGE);
}

/* ---- every job once: two submitters, each from its own thread -------------------------------------- */

#define ONCE_JOBS 20000

struct submitter {
    struct offload_pool *pool;
    uint32_t index;
    struct tjob *jobs;
    uint64_t refused;
};

static void *submitter_main(void *arg)
{
    struct submitter *s = arg;

    for (size_t i = 0; i < ONCE_JOBS; i++)
        while (!offload_submit(s->pool, s->index, &s->jobs[i].job)) {
            s->refused++;
            sleep_us(50);
        }
    return NULL;
}

static void test_every_job_once(void)
{
    struct offload_pool *pool;
    struct offload_config cfg = config(2, 4, 256);
    struct submitter sub[2];
    pthread_t tid[2];
    struct offload_stats st;
    struct err e;
    int bad = 0;

    atomic_store(&completed_jobs, 0);
    CHECK(offload_pool_start(&pool, &cfg, 2, &e) == 0);
    for (uint32_t i = 0; i < 2; i++) {
        sub[i] = (struct submitter){.pool = pool, .index = i, .jobs = tjobs_new(ONCE_JOBS, 0)};
        CHECK(sub[i].jobs);
        CHECK(pthread_create(&tid[i], NULL, submitter_main, &sub[i]) == 0);
    }
    for (int i = 0; i < 2; i++)
        pthread_join(tid[i], NULL);
    CHECK(WAIT_UNTIL(atomic_load(&completed_jobs) == 2 * ONCE_JOBS, 20000));
    offload_pool_stats(pool, &st);
    offload_pool_stop(pool);
    offload_pool_free(pool);
    for (int i = 0; i < 2; i++) {
        bad += tjobs_bad(sub[i].jobs, ONCE_JOBS);
        for (size_t j = 0; j < ONCE_JOBS; j++)
            CHECK(sub[i].jobs[j].job.start_ns >= sub[i].jobs[j].job.submit_ns &&
                  sub[i].jobs[j].job.submit_ns);
        free(sub[i].jobs);
    }
    printf("# %d jobs from 2 submitters: %llu refused while the queue was full, %llu stolen, mean wait %llu "
           "us\n",
           2 * ONCE_JOBS, (unsigned long long)st.rejected, (unsigned long long)st.stolen,
           (unsigned long long)(st.wait_ns / st.completed / 1000));
    CHECKF(bad == 0, "%d jobs not run exactly once then handed back once", bad);
    CHECK(st.submitted == 2 * ONCE_JOBS && st.completed == 2 * ONCE_JOBS);
    CHECK(st.rejected == sub[0].refused + sub[1].refused);
    CHECK(st.queued == 0 && st.busy == 0);
}

/* ---- the queue bound -------------------------------------------------------------------------------- */

static void test_queue_max_refuses(void)
{
    struct offload_pool *pool;
    struct offload_config cfg = config(1, 1, 8);
    struct tjob *t = tjobs_new(10, 0);
    _Atomic bool gate = false;
    struct offload_stats st;
    struct err e;
    int accepted = 0, unrun;

    CHECK(t);
    CHECK(offload_pool_start(&pool, &cfg, 1, &e) == 0);
    t[0].gate = &gate; /* holds the one thread, so what follows stays queued */
    CHECK(offload_submit(pool, 0, &t[0].job));
    CHECK(WAIT_UNTIL(offload_queued(pool) == 0, 5000));
    for (int i = 1; i < 10; i++)
        accepted += offload_submit(pool, 0, &t[i].job);
    offload_pool_stats(pool, &st);
    atomic_store(&gate, true);
    offload_pool_stop(pool); /* hands back the 8 queued, run or not */
    offload_pool_free(pool);
    CHECKF(accepted == 8, "%d accepted", accepted);
    CHECK(st.queued == 8 && st.rejected == 1 && st.submitted == 9);
    CHECK(atomic_load(&t[9].runs) == 0 && atomic_load(&t[9].dones) == 0);
    CHECK(atomic_load(&t[0].runs) == 1 && tjobs_bad_at_stop(t, 9, &unrun) == 0);
    free(t);
}

/* ---- stop hands back what is queued, unrun ----------------------------------------------------------- */

static _Atomic bool *release_gate;

static void *release_later(void *arg)
{
    (void)arg;
    sleep_us(20000);
    atomic_store(release_gate, true);
    return NULL;
}

static void test_stop_hands_back_queued(void)
{
    struct offload_pool *pool;
    struct offload_config cfg = config(1, 2, 1024);
    struct tjob *t = tjobs_new(501, 0);
    _Atomic bool gate = false;
    pthread_t tid;
    struct err e;
    uint32_t queued;
    int unrun;

    CHECK(t);
    CHECK(offload_pool_start(&pool, &cfg, 1, &e) == 0);
    t[0].gate = &gate;
    for (int i = 0; i < 501; i++)
        CHECK(offload_submit(pool, 0, &t[i].job));
    CHECK(WAIT_UNTIL(offload_queued(pool) <= 500, 5000)); /* the thread holds t[0] at its gate */
    queued = offload_queued(pool);
    release_gate = &gate;
    CHECK(pthread_create(&tid, NULL, release_later, NULL) == 0);
    offload_pool_stop(pool); /* waits for the gate, then hands back the rest */
    offload_pool_free(pool);
    pthread_join(tid, NULL);
    CHECK(queued >= 499);
    CHECK(atomic_load(&t[0].runs) == 1 && tjobs_bad_at_stop(t, 501, &unrun) == 0);
    printf("# stop with %u jobs queued: %d handed back without running\n", queued, unrun);
    CHECKF(unrun >= 450, "only %d of %u queued jobs were not run", unrun, queued);
    free(t);
}

/* ---- sizing under a step of load ------------------------------------------------------------------ */

#define STEP_RATE   3000 /* jobs per second, 2 ms each: 6 threads' worth */
#define STEP_MS     1000
#define STEP_JOB_US 2000

static void test_sizing_follows_step_load(void)
{
    struct offload_pool *pool;
    struct offload_config cfg = config(1, 8, 4096);
    struct tjob *t = tjobs_new(STEP_RATE * STEP_MS / 1000, STEP_JOB_US);
    struct offload_stats st;
    struct timespec tick;
    struct err e;
    uint32_t peak = 0, refused = 0;
    uint64_t sum_threads = 0, sum_busy = 0, samples = 0, t0, t_idle, t_min = 0, t_peak = 0;
    size_t n = 0;

    CHECK(t);
    cfg.grow_wait_us = 1000;
    cfg.shrink_idle_ms = 200;
    atomic_store(&skip_sleep, false);
    CHECK(offload_pool_start(&pool, &cfg, 1, &e) == 0);
    clock_gettime(CLOCK_MONOTONIC, &tick);
    t0 = now_ns();
    for (int ms = 0; ms < STEP_MS; ms++) {
        for (int k = 0; k < STEP_RATE / 1000; k++)
            refused += !offload_submit(pool, 0, &t[n++].job);
        offload_pool_stats(pool, &st);
        if (st.threads > peak) {
            peak = st.threads;
            t_peak = now_ns() - t0;
        }
        sum_threads += st.threads;
        sum_busy += st.busy;
        samples++;
        tick.tv_nsec += 1000000;
        if (tick.tv_nsec >= 1000000000) {
            tick.tv_sec++;
            tick.tv_nsec -= 1000000000;
        }
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &tick, NULL);
    }
    offload_pool_stats(pool, &st);
    printf("# step: %d jobs/s of %d us for %llu ms: threads peaked at %u after %llu ms (mean %.1f threads, "
           "%.1f busy; %llu started), mean wait %llu us, %u refused\n",
           STEP_RATE, STEP_JOB_US, (unsigned long long)((now_ns() - t0) / 1000000), peak,
           (unsigned long long)(t_peak / 1000000), (double)sum_threads / (double)samples,
           (double)sum_busy / (double)samples, (unsigned long long)st.grown,
           (unsigned long long)(st.completed ? st.wait_ns / st.completed / 1000 : 0), refused);
    /* the load stops: drain, then the idle threads leave after shrink_idle_ms */
    WAIT_UNTIL((offload_pool_stats(pool, &st), st.queued == 0 && st.busy == 0), 10000);
    t_idle = now_ns();
    if (WAIT_UNTIL((offload_pool_stats(pool, &st), st.threads == cfg.min_threads), 3000))
        t_min = now_ns();
    printf(
        "# after the step: back to %u thread(s) %llu ms after the queue drained (%llu left; shrink_idle_ms "
        "%u)\n",
        st.threads, (unsigned long long)(t_min ? (t_min - t_idle) / 1000000 : 0),
        (unsigned long long)st.shrunk, cfg.shrink_idle_ms);
    offload_pool_stop(pool);
    offload_pool_free(pool);
    CHECK(tjobs_bad(t, n) == 0);
    free(t);
    CHECKF(peak >= 4, "threads peaked at %u", peak);
    CHECKF(t_min != 0, "still %u threads 3 s after the load", st.threads);
    CHECK(refused == 0);
}

/* An idle pool sleeps: its threads use next to no CPU (they wake every shrink_idle_ms). */
static void test_idle_pool_sleeps(void)
{
    struct offload_pool *pool;
    struct offload_config cfg = config(4, 4, 16);
    struct timespec a, b;
    struct err e;
    double cpu_ms;

    cfg.shrink_idle_ms = 50;
    CHECK(offload_pool_start(&pool, &cfg, 1, &e) == 0);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a);
    sleep_us(300000);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &b);
    offload_pool_stop(pool);
    offload_pool_free(pool);
    cpu_ms = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
    printf("# 4 idle threads for 300 ms: %.2f ms of CPU\n", cpu_ms);
    CHECKF(cpu_ms < 30, "%.2f ms", cpu_ms);
}

/* ---- Retry-After -------------------------------------------------------------------------------- */

static void test_retry_after_grows_with_queue(void)
{
    struct offload_pool *pool;
    struct offload_config cfg = config(1, 1, 2048);
    struct tjob *t = tjobs_new(1041, 5000);
    _Atomic bool gate = false;
    struct err e;
    uint32_t r0, r1, r2, q1, q2;
    int unrun;

    CHECK(t);
    atomic_store(&skip_sleep, false);
    atomic_store(&completed_jobs, 0);
    CHECK(offload_pool_start(&pool, &cfg, 1, &e) == 0);
    r0 = offload_retry_after_s(pool); /* no rate known yet */
    /* 40 jobs of 5 ms on one thread: a rate of about 200 per second */
    for (int i = 0; i < 40; i++)
        CHECK(offload_submit(pool, 0, &t[i].job));
    CHECK(WAIT_UNTIL(atomic_load(&completed_jobs) == 40, 5000));
    t[40].gate = &gate; /* hold the thread: the queue stands still while we look */
    t[40].sleep_us = 0;
    CHECK(offload_submit(pool, 0, &t[40].job));
    CHECK(WAIT_UNTIL(offload_queued(pool) == 0, 5000));
    for (int i = 41; i < 241; i++)
        CHECK(offload_submit(pool, 0, &t[i].job));
    q1 = offload_queued(pool);
    r1 = offload_retry_after_s(pool);
    for (int i = 241; i < 1041; i++)
        CHECK(offload_submit(pool, 0, &t[i].job));
    q2 = offload_queued(pool);
    r2 = offload_retry_after_s(pool);
    atomic_store(&skip_sleep, true);
    atomic_store(&gate, true);
    offload_pool_stop(pool);
    offload_pool_free(pool);
    printf("# retry-after: %u s with no rate known; %u s for %u queued, %u s for %u queued (~200 jobs/s)\n",
           r0, r1, q1, r2, q2);
    CHECK(tjobs_bad(t, 41) == 0 && tjobs_bad_at_stop(t + 41, 1000, &unrun) == 0);
    free(t);
    CHECK(r0 == 1);
    /* at most 200 jobs/s (5 ms each on one thread): 1000 queued is at least 5 s; slower when loaded */
    CHECKF(r1 >= 1 && r2 > r1 && r2 >= 5 && r2 <= 60, "%u then %u", r1, r2);
}

int main(int argc, char **argv)
{
    static const struct check_case tests[] = {
        CHECK_CASE(test_bad_config_refused),
        CHECK_CASE(test_every_job_once),
        CHECK_CASE(test_queue_max_refuses),
        CHECK_CASE(test_stop_hands_back_queued),
        CHECK_CASE(test_sizing_follows_step_load),
        CHECK_CASE(test_idle_pool_sleeps),
        CHECK_CASE(test_retry_after_grows_with_queue),
    };

    return check_main(argc, argv, tests, CHECK_COUNT(tests), NULL);
}
