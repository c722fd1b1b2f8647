/*
 * main.c — sluice-server: the library's entry point (server/sluice_main.c) with the built-in routes
 * of server/sluice.routes, the app every test, benchmark and the demo run. An app built against an
 * installed libsluice has a main like this one (examples/hello/).
 */
#include "sluice/sluice.h"

extern const struct router app_router;

int main(int argc, char **argv)
{
    static const struct sluice_app app = {.name = "sluice-server", .router = &app_router};

    return sluice_main(argc, argv, &app);
}
