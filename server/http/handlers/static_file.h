/*
 * static_file.h — where GET /static/{path} serves files from: set once, before the workers start.
 */
#ifndef SLUICE_HTTP_STATIC_FILE_H
#define SLUICE_HTTP_STATIC_FILE_H

#include "common/err.h"

int static_file_open_dir(const char *dir, struct err *e);

#endif
