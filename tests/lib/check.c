/*
 * check.c — bookkeeping and output of the C test harness (see check.h).
 */
#include "tests/lib/check.h"

#include <stdarg.h>

struct check_state check_state;

void check_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (check_state.failed)
        return;
    check_state.failed = true;
    n = snprintf(check_state.why, sizeof(check_state.why), "%s:%d: ", file, line);
    va_start(ap, fmt);
    vsnprintf(check_state.why + n, sizeof(check_state.why) - n, fmt, ap);
    va_end(ap);
}

void check_skip(const char *fmt, ...)
{
    va_list ap;

    check_state.skipped = true;
    va_start(ap, fmt);
    vsnprintf(check_state.why, sizeof(check_state.why), fmt, ap);
    va_end(ap);
}

void check_run(void (*fn)(void), const char *name)
{
    check_state.failed = false;
    check_state.skipped = false;
    check_state.why[0] = '\0';
    fn();
    if (check_state.failed) {
        printf("not ok - %s: %s\n", name, check_state.why);
        check_state.failed_total++;
    } else if (check_state.skipped) {
        printf("skip - %s: %s\n", name, check_state.why);
        check_state.skipped_total++;
    } else {
        printf("ok - %s\n", name);
        check_state.passed_total++;
    }
    fflush(stdout);
}

int check_exit_status(void)
{
    return check_state.failed_total ? 1 : 0;
}
