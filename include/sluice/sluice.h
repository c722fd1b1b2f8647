/*
 * sluice.h — the entry point of an app built on libsluice.
 *
 * An app is a routes file compiled by sluice-routegen (its `const struct router app_router`), the
 * handlers that file names (handler_NAME, see <sluice/http.h>), and a main that hands both to
 * sluice_main:
 *
 *     #include <sluice/sluice.h>
 *
 *     extern const struct router app_router;
 *
 *     int main(int argc, char **argv)
 *     {
 *         static const struct sluice_app app = {.name = "hello", .router = &app_router};
 *
 *         return sluice_main(argc, argv, &app);
 *     }
 *
 * sluice_main is sluice-server itself: the same command-line options and config file keys
 * (`hello --help`, `hello --settings`), the same datapaths (AF_XDP beside the agent's programs, or
 * kernel sockets), signals (SIGINT and SIGTERM drain and stop, SIGHUP reloads TLS certificates) and
 * exit statuses. The library's own handlers (healthz, metrics, echo, bytes, static_file, sleep,
 * sha256) can be named in an app's routes file as well.
 */
#ifndef SLUICE_SLUICE_H
#define SLUICE_SLUICE_H

#include "sluice/router.h"

struct sluice_app {
    const char *name;            /* in messages ("hello: ready"); NULL: "sluice" */
    const struct router *router; /* the app's routes, from sluice-routegen; required */
    const char *config_file;     /* read when no --config is given (missing: an error); NULL: none */
};

/* Run the server until SIGINT or SIGTERM; returns the process's exit status, sluice-server's: 0 after
 * a clean stop, 2 for bad arguments or config, 3 without the privileges the datapath needs, 4-6 when
 * the agent's programs or the device are missing, 1 otherwise. */
int sluice_main(int argc, char **argv, const struct sluice_app *app);

#endif
