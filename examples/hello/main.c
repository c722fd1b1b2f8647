/*
 * main.c — the hello app's entry point: its router (generated from hello.routes) handed to libsluice,
 * which runs the server with every option and config key of sluice-server (`hello --help`).
 */
#include <sluice/sluice.h>

extern const struct router app_router;

int main(int argc, char **argv)
{
    static const struct sluice_app app = {.name = "hello", .router = &app_router};

    return sluice_main(argc, argv, &app);
}
