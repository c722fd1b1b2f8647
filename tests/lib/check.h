/*
 * check.h — the C test harness: TAP-like lines that tests/run.sh counts.
 *
 * A test is a void function run by check_run(fn, "name"); CHECK() records the first failed
 * condition with its file and line and returns from the test. Each test prints exactly one line:
 * "ok - name", "not ok - name: file:line: condition (detail)" or "skip - name: why".
 */
#ifndef SLUICE_CHECK_H
#define SLUICE_CHECK_H

#include <stdbool.h>
#include <stdio.h>

struct check_state {
    bool failed;
    bool skipped;
    char why[512];
    int passed_total;
    int failed_total;
    int skipped_total;
};

extern struct check_state check_state;

void check_fail(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void check_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void check_run(void (*fn)(void), const char *name);

/* Exit status for main(): non-zero when any test failed. */
int check_exit_status(void);

#define CHECK(cond)                                                                                          \
    do {                                                                                                     \
        if (!(cond)) {                                                                                       \
            check_fail(__FILE__, __LINE__, "%s", #cond);                                                     \
            return;                                                                                          \
        }                                                                                                    \
    } while (0)

/* CHECK with a condition text: CHECKF(a == b, "got %d", a) reports "a == b (got 3)". */
#define CHECKF(cond, fmt, ...)                                                                               \
    do {                                                                                                     \
        if (!(cond)) {                                                                                       \
            check_fail(__FILE__, __LINE__, "%s (" fmt ")", #cond, __VA_ARGS__);                              \
            return;                                                                                          \
        }                                                                                                    \
    } while (0)

#define SKIP(...)                                                                                            \
    do {                                                                                                     \
        check_skip(__VA_ARGS__);                                                                             \
        return;                                                                                              \
    } while (0)

#endif
