/*
 * main.c — grpc-echo's entry point: its router (generated from echo.routes) handed to libsluice, which
 * runs the server with every option and config key of sluice-server (`grpc-echo --help`).
 */
#include <sluice/sluice.h>

extern const struct router app_router;

int main(int argc, char **argv)
{
    static const struct sluice_app app = {.name = "grpc-echo", .router = &app_router};

    return sluice_main(argc, argv, &app);
}
