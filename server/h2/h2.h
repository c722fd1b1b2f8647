/*
 * h2.h — the HTTP/2 side of the HTTP layer, as the rest of the server sees it: one table of
 * operations per implementation. h2_native_ops (session.c) is ours: frames read in place, our HPACK
 * (hpack.c), the flood defences; h2_nghttp2_ops (nghttp2_session.c) runs nghttp2's server session,
 * the reference ours is tested against. `[http] h2 = native|nghttp2` picks one per server.
 *
 * The core (server/http/) is handed a table when a worker's HTTP layer is made
 * (http_worker_new) and reaches HTTP/2 only through it: it installs the table when a connection
 * opens with the client preface, or when HTTP/1.1 asks to switch after an Upgrade: h2c
 * (http_conn_upgrade). HTTP/2 keeps its state in slabs of its own, allocated once per worker, so
 * the core includes nothing of h2/ and nothing is allocated per connection or request.
 */
#ifndef SLUICE_H2_H
#define SLUICE_H2_H

struct http_proto_ops;

extern const struct http_proto_ops h2_native_ops;
extern const struct http_proto_ops h2_nghttp2_ops;

#endif
