/*
 * check.h — the C test harness: TAP-like lines that tests/run.sh counts.
 *
 * A test is a void function run by check_run(fn, "name"); CHECK() records the first failed
 * condition with its file and line and returns from the test. Each test prints exactly one line:
 * "ok - name", "not ok - name: file:line: condition (detail)" or "skip - name: why".
 *
 * A suite lists its tests in one table and hands it to check_main(), which every suite shares:
 *
 *     static const struct check_case tests[] = {CHECK_CASE(test_a), CHECK_CASE(test_b)};
 *     return check_main(argc, argv, tests, CHECK_COUNT(tests), NULL);
 *
 * and so every suite binary takes the same command line:
 *
 *     SUITE                 every test, in table order
 *     SUITE NAME...         only those tests (exact names), in table order; an unknown NAME is an
 *                           error (exit status 2) and nothing runs
 *     SUITE --list          the test names, one a line
 *     TEST_ONLY=substring SUITE [NAME...]   only the tests whose name contains substring
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

struct check_case {
    const char *name;
    void (*fn)(void);
};

#define CHECK_CASE(f)                                                                                        \
    {                                                                                                        \
        .name = #f, .fn = f                                                                                  \
    }
#define CHECK_COUNT(table) (sizeof(table) / sizeof((table)[0]))

/*
 * The shared main of the C suites (the command line is above). setup, when not NULL, runs once
 * before the first selected test, and not at all for --list, a bad command line or an empty
 * selection; when it returns non-zero (having printed a "not ok - …" line saying why) no test
 * runs. Returns main's exit status: 0 when every selected test passed or was skipped, 1 when one
 * failed or setup did, 2 for a bad command line. Suite-wide teardown is the caller's, after it.
 */
int check_main(int argc, char **argv, const struct check_case *cases, size_t ncases, int (*setup)(void));

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
