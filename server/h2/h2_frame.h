/*
 * h2_frame.h — HTTP/2's wire constants (RFC 9113 §6, §7, §11.3) and the few byte helpers frames
 * need: one definition for server/h2/ (the native session reads and writes frames with them; the
 * nghttp2 session only looks at frame headers).
 */
#ifndef SLUICE_H2_FRAME_H
#define SLUICE_H2_FRAME_H

#include <stdint.h>

#define H2_FRAME_HEADER 9 /* §4.1: length (24), type (8), flags (8), R + stream identifier (31) */

enum h2_frame_type {
    H2_DATA = 0x0,
    H2_HEADERS = 0x1,
    H2_PRIORITY = 0x2,
    H2_RST_STREAM = 0x3,
    H2_SETTINGS = 0x4,
    H2_PUSH_PROMISE = 0x5,
    H2_PING = 0x6,
    H2_GOAWAY = 0x7,
    H2_WINDOW_UPDATE = 0x8,
    H2_CONTINUATION = 0x9,
};

#define H2_FLAG_END_STREAM  0x01
#define H2_FLAG_ACK         0x01
#define H2_FLAG_END_HEADERS 0x04
#define H2_FLAG_PADDED      0x08
#define H2_FLAG_PRIORITY    0x20

/* §7; the names are what /metrics labels them with. */
#define H2_ERRORS(X)                                                                                         \
    X(NO_ERROR, 0x0, "no_error")                                                                             \
    X(PROTOCOL_ERROR, 0x1, "protocol_error")                                                                 \
    X(INTERNAL_ERROR, 0x2, "internal_error")                                                                 \
    X(FLOW_CONTROL_ERROR, 0x3, "flow_control_error")                                                         \
    X(SETTINGS_TIMEOUT, 0x4, "settings_timeout")                                                             \
    X(STREAM_CLOSED, 0x5, "stream_closed")                                                                   \
    X(FRAME_SIZE_ERROR, 0x6, "frame_size_error")                                                             \
    X(REFUSED_STREAM, 0x7, "refused_stream")                                                                 \
    X(CANCEL, 0x8, "cancel")                                                                                 \
    X(COMPRESSION_ERROR, 0x9, "compression_error")                                                           \
    X(CONNECT_ERROR, 0xa, "connect_error")                                                                   \
    X(ENHANCE_YOUR_CALM, 0xb, "enhance_your_calm")                                                           \
    X(INADEQUATE_SECURITY, 0xc, "inadequate_security")                                                       \
    X(HTTP_1_1_REQUIRED, 0xd, "http_1_1_required")

enum h2_error {
#define H2_ERROR_ENUM(name, code, label) H2_##name = code,
    H2_ERRORS(H2_ERROR_ENUM)
#undef H2_ERROR_ENUM
        H2_ERROR_COUNT
};

enum h2_setting {
    H2_SETTINGS_HEADER_TABLE_SIZE = 0x1,
    H2_SETTINGS_ENABLE_PUSH = 0x2,
    H2_SETTINGS_MAX_CONCURRENT_STREAMS = 0x3,
    H2_SETTINGS_INITIAL_WINDOW_SIZE = 0x4,
    H2_SETTINGS_MAX_FRAME_SIZE = 0x5,
    H2_SETTINGS_MAX_HEADER_LIST_SIZE = 0x6,
    H2_SETTINGS_ENABLE_CONNECT_PROTOCOL = 0x8, /* RFC 8441 */
    H2_SETTINGS_NO_RFC7540_PRIORITIES = 0x9,   /* RFC 9218 */
};

#define H2_DEFAULT_WINDOW     65535u
#define H2_DEFAULT_FRAME_SIZE 16384u
#define H2_MAX_FRAME_SIZE     16777215u
#define H2_MAX_WINDOW         0x7fffffff
#define H2_DEFAULT_TABLE_SIZE 4096u

/* The label of an error code for /metrics, "unknown" past the table. */
static inline const char *h2_error_label(uint32_t code)
{
    static const char *const labels[] = {
#define H2_ERROR_LABEL(name, code, label) [code] = label,
        H2_ERRORS(H2_ERROR_LABEL)
#undef H2_ERROR_LABEL
    };

    return code < H2_ERROR_COUNT ? labels[code] : "unknown";
}

static inline uint32_t h2_get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void h2_put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static inline void h2_frame_header(uint8_t *p, uint32_t len, uint8_t type, uint8_t flags, uint32_t id)
{
    p[0] = (uint8_t)(len >> 16);
    p[1] = (uint8_t)(len >> 8);
    p[2] = (uint8_t)len;
    p[3] = type;
    p[4] = flags;
    h2_put32(p + 5, id & 0x7fffffff);
}

#endif
