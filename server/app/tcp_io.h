/*
 * tcp_io.h — binding the services (app.h) to the TCP engine (tcp.h): give app_tcp_callbacks to
 * tcp_engine_init with the worker's app_table as their context.
 */
#ifndef SLUICE_APP_TCP_IO_H
#define SLUICE_APP_TCP_IO_H

#include "app/app.h"
#include "net/tcp.h"

extern const struct tcp_callbacks app_tcp_callbacks;

#endif
