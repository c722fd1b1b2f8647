/*
 * check.c — bookkeeping and output of the C test harness (see check.h).
 */
#include "tests/lib/check.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

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

static void check_usage(FILE *to, const char *prog)
{
    fprintf(to,
            "usage: %s [--list] [NAME...]\n"
            "  runs the tests NAME... (default: all) in table order; --list prints their names;\n"
            "  TEST_ONLY=substring runs only the tests whose name contains substring\n",
            prog);
}

int check_main(int argc, char **argv, const struct check_case *cases, size_t ncases, int (*setup)(void))
{
    const char *only = getenv("TEST_ONLY");
    bool list = false, *picked = calloc(ncases ? ncases : 1, sizeof(*picked));
    int nnames = 0, status = 2;
    size_t nrun = 0;

    if (!picked) {
        fprintf(stderr, "%s: out of memory\n", argv[0]);
        return 1;
    }
    for (int i = 1; i < argc; i++) {
        size_t c;

        if (!strcmp(argv[i], "--list")) {
            list = true;
            continue;
        }
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            check_usage(stdout, argv[0]);
            status = 0;
            goto out;
        }
        if (argv[i][0] == '-') {
            fprintf(stderr, "%s: error: unknown option '%s'\n", argv[0], argv[i]);
            check_usage(stderr, argv[0]);
            goto out;
        }
        for (c = 0; c < ncases && strcmp(cases[c].name, argv[i]); c++)
            ;
        if (c == ncases) {
            fprintf(stderr, "%s: error: no test named '%s' (--list prints them)\n", argv[0], argv[i]);
            goto out;
        }
        picked[c] = true;
        nnames++;
    }
    for (size_t c = 0; c < ncases; c++) {
        picked[c] = (!nnames || picked[c]) && (!only || strstr(cases[c].name, only));
        nrun += picked[c];
    }
    if (list) {
        for (size_t c = 0; c < ncases; c++)
            if (picked[c])
                printf("%s\n", cases[c].name);
        status = 0;
        goto out;
    }
    if (!nrun) {
        /* as before check_main: a TEST_ONLY that matches nothing runs nothing, and that is no failure */
        fprintf(stderr, "%s: note: TEST_ONLY='%s'%s selects no test\n", argv[0], only ? only : "",
                nnames ? " with the names given" : "");
        status = 0;
        goto out;
    }
    if (setup && setup() != 0) {
        status = 1;
        goto out;
    }
    for (size_t c = 0; c < ncases; c++)
        if (picked[c])
            check_run(cases[c].fn, cases[c].name);
    status = check_exit_status();
out:
    free(picked);
    return status;
}
