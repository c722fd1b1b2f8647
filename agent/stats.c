/*
 * stats.c — `stats`: the steering program's per-CPU counters, summed, as text or JSON.
 *
 * Counter names and meanings come from the X-macro lists in maps/sluice_maps.h, so the agent can
 * never print a counter the program does not have. --watch repeats every N seconds.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent.h"

static const char stats_help[] =
    "usage: sluice-agent stats --dev DEVICE [--json] [--watch SECONDS [--count N]]\n"
    "\n"
    "Print the steering counters summed over CPUs: one verdict counter per packet, event\n"
    "counters, and packets redirected to each worker. --watch repeats every SECONDS until\n"
    "interrupted or, with --count, N times.\n"
    "exit status: 0 shown, 2 bad option, 3 not root, 6 not loaded\n";

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static void print_text(const char *dev, const struct sluice_stats *s)
{
    printf("%s\n", dev);
#define PRINT_COUNTER(name, help) printf("  %-20s %14llu  %s\n", #name, (unsigned long long)s->name, help);
    SLUICE_VERDICT_COUNTERS(PRINT_COUNTER)
    SLUICE_EVENT_COUNTERS(PRINT_COUNTER)
#undef PRINT_COUNTER
    for (int i = 0; i < SLUICE_MAX_WORKERS; i++)
        if (s->redirect_by_worker[i])
            printf("  redirect_worker_%-3d %14llu  packets redirected to worker %d\n", i,
                   (unsigned long long)s->redirect_by_worker[i], i);
}

static void print_json(const char *dev, const struct sluice_stats *s)
{
    const char *sep = "";

    printf("{\"dev\":");
    agent_json_string(stdout, dev);
    printf(",\"counters\":{");
#define PRINT_COUNTER(name, help)                                                                            \
    printf("%s\"%s\":%llu", sep, #name, (unsigned long long)s->name);                                        \
    sep = ",";
    SLUICE_VERDICT_COUNTERS(PRINT_COUNTER)
    SLUICE_EVENT_COUNTERS(PRINT_COUNTER)
#undef PRINT_COUNTER
    printf("},\"redirect_by_worker\":{");
    sep = "";
    for (int i = 0; i < SLUICE_MAX_WORKERS; i++) {
        if (s->redirect_by_worker[i]) {
            printf("%s\"%d\":%llu", sep, i, (unsigned long long)s->redirect_by_worker[i]);
            sep = ",";
        }
    }
    printf("}}\n");
}

int cmd_stats(int argc, char **argv, struct err *e)
{
    static const struct option opts[] = {
        {"dev", required_argument, NULL, 'd'},   {"json", no_argument, NULL, 'j'},
        {"watch", required_argument, NULL, 'w'}, {"count", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0},
    };
    const char *dev = NULL;
    bool json = false;
    __u32 watch = 0, count = 0;
    struct sluice_stats total;
    struct pins p;
    int c;

    while ((c = args_getopt(argc, argv, opts, "stats", e)) != -1) {
        switch (c) {
        case 'd':
            dev = optarg;
            break;
        case 'j':
            json = true;
            break;
        case 'w':
            if (args_u32(optarg, "--watch interval", 1, 86400, &watch, e))
                return -1;
            break;
        case 'c':
            if (args_u32(optarg, "--count", 1, UINT32_MAX, &count, e))
                return -1;
            break;
        case 'h':
            return agent_help(stats_help);
        default:
            return -1;
        }
    }
    if (count && !watch)
        return ERR(e, EXIT_STATUS_USAGE, 0, "--count needs --watch SECONDS");
    if (agent_require_dev(dev, "stats", e) || agent_open_pins(&p, dev, e))
        return -1;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    for (__u32 round = 1;; round++) {
        if (pins_read_stats(&p, &total, e)) {
            pins_close(&p);
            return -1;
        }
        if (json) {
            print_json(dev, &total);
        } else {
            if (watch)
                printf("--- %ld\n", (long)time(NULL));
            print_text(dev, &total);
        }
        fflush(stdout);
        if (!watch || stop || (count && round >= count))
            break;
        for (__u32 slept = 0; slept < watch && !stop; slept++)
            sleep(1);
        if (stop)
            break;
    }
    pins_close(&p);
    return EXIT_STATUS_OK;
}
