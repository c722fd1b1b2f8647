# Makefile — builds, tests and demonstrates sluice. Read top to bottom:
#
#   make deps       install the Debian packages sluice needs (only those missing)
#   make all        BPF objects + skeletons, sluice-agent, sluice-server, tests, bench and fuzz binaries
#   make test       sanitizer build (ASan/UBSan, into build/san/) and every test suite;
#                   SUITES=net,http runs only those (tests/run.sh --list names them)
#   make check      the quick loop: sanitizer build without bench and fuzz binaries, every suite but
#                   fuzzing, the ones that need no root first
#   make demo       the end-to-end demo in a throw-away namespace topology
#   make bench      the benchmark harness; make bench-h2 only its HTTP/2 session comparison,
#                   make bench-tls only its TLS cases, make bench-mtu only its bulk cases at MTU 1500,
#                   9000 and 65000, make bench-log only the access log's cost (on against off),
#                   make bench-grpc only its gRPC case (grpc-echo against gRPC-Go);
#                   make profile: where the CPU goes for bulk, by perf
#   make fmt        clang-format every C file in place; make fmt-check only reports (CI runs it)
#   make clean      remove build/
#
# BPF programs are compiled with clang -target bpf; user space loads them through skeletons from
# `bpftool gen skeleton`, which are generated here and never committed. Every source includes by
# path from the repository's roots: "maps/…", "common/…", "agent/…", "tests/…" from the top,
# "net/…", "http/…" and the other server modules from server/, "bpf/X.skel.h" from the build.

BUILD    ?= build
SANITIZE ?= 0

CC      ?= cc
CLANG   ?= clang
BPFTOOL ?= bpftool

MULTIARCH := $(shell $(CC) -print-multiarch 2>/dev/null)
WARN      := -Wall -Wextra -Werror
INCLUDES  := -I. -Iinclude -Iserver -I$(BUILD)

CFLAGS  := -std=gnu11 -g $(WARN) -D_GNU_SOURCE $(INCLUDES) -MMD -MP
ifeq ($(SANITIZE),1)
CFLAGS  += -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
else
CFLAGS  += -O2
endif

BPF_CFLAGS := -O2 -g -target bpf $(WARN) -I. $(if $(MULTIARCH),-I/usr/include/$(MULTIARCH))

# A half-written output (a failed recipe, an interrupted build) is removed, never taken as built.
.DELETE_ON_ERROR:

# ---- sources, by module ---------------------------------------------------------------------------

BPF_PROGS := steer xsks_probe source_release netem
BPF_OBJS  := $(BPF_PROGS:%=$(BUILD)/bpf/%.bpf.o)
BPF_SKELS := $(BPF_PROGS:%=$(BUILD)/bpf/%.skel.h)

COMMON_SRCS := common/err.c common/addr.c common/args.c maps/pins.c
NET_SRCS    := server/net/tcp_handoff.c server/net/frame.c server/net/checksum.c server/net/packet.c server/net/timer_wheel.c \
               server/net/isn.c common/siphash.c server/net/tcp_engine.c server/net/tcp_input.c server/net/tcp_output.c \
               server/net/tcp_cc.c server/net/tcp_cc_newreno.c server/net/tcp_cc_cubic.c \
               server/net/tcp_timer.c server/net/tcp_time_wait.c
# the USDT probes' semaphores (common/probes.h): every module that fires a probe links them
PROBE_SRCS  := common/probes.c
APP_SRCS    := server/app/app.c server/app/tcp_io.c server/app/echo_service.c server/app/sink_service.c \
               server/app/source_service.c $(PROBE_SRCS)
# HPACK (RFC 7541) of the native HTTP/2 codec. Its Huffman decoder's state machine is generated at build
# time from the one code table (common/hpack_huffman.c) by tools/gen/hpack_huffgen.c, never committed.
HPACK_SRCS  := server/h2/hpack.c server/h2/hpack_static.c common/hpack_huffman.c
HPACK_GEN   := $(BUILD)/gen/server/h2/hpack_huffdec.c
# the offload pool (issue 16): threads that run slow handlers, fed through work-stealing deques, and
# the breakers of offloaded routes; the HTTP layer submits to it
OFFLOAD_SRCS := server/offload/deque.c server/offload/offload.c server/offload/breaker.c
HTTP_SRCS   := $(OFFLOAD_SRCS) $(PROBE_SRCS) server/http/latency.c server/http/rate_limit.c common/siphash.c server/http/http_worker.c server/http/http_mem.c server/http/request.c server/http/http_offload.c server/http/grpc.c server/net/timer_wheel.c server/h2/nghttp2_session.c server/h2/session.c \
               server/http/h1.c server/http/h1_parse.c server/http/handlers/healthz.c server/http/handlers/bytes.c \
               server/http/handlers/echo.c server/http/handlers/static_file.c server/http/handlers/metrics.c \
               server/http/handlers/sleep.c server/http/handlers/sha256.c \
               server/router/method.c $(HPACK_SRCS)
# TLS over either datapath's transport: a layer between the services and app_io (server/tls/tls.h)
TLS_SRCS    := server/tls/tls_conn.c server/tls/tls_context.c server/tls/tls_ticket.c server/tls/tls_record.c
# the access log (issue 19): workers' records in per-worker rings, a logger thread that formats and writes them
LOG_SRCS    := server/log/access_log.c server/log/access_format.c
# libsluice: everything of the server but its main and its routes (include/sluice/ is its public API)
LIB_SRCS    := $(TLS_SRCS) server/sluice_main.c server/takeover.c server/config.c server/sched/worker.c server/sched/server_metrics.c server/sched/inbox.c \
               server/afxdp/xdp_steer.c server/afxdp/source_cap.c server/afxdp/umem.c server/afxdp/xsk_port.c server/afxdp/xdp_worker.c \
               server/sock/sock_worker.c $(APP_SRCS) $(HTTP_SRCS) $(LOG_SRCS) $(NET_SRCS) $(COMMON_SRCS)
SERVER_SRCS := server/main.c $(LIB_SRCS)
AGENT_SRCS  := agent/main.c agent/attach.c agent/probe.c agent/service.c agent/route.c agent/workers.c \
               agent/stats.c common/hpack_huffman.c agent/routes_config.c agent/bpffs.c agent/reload.c \
               agent/sources.c $(COMMON_SRCS)

# ---- binaries: each is a list of sources (NAME_SRCS) and libraries (NAME_LIBS), linked by one rule ---

LIBBPF := $(shell pkg-config --libs libbpf 2>/dev/null || echo -lbpf -lelf -lz)

BINS       := bin/sluice-agent bin/sluice-server bin/sluice-routegen
TEST_BINS  := tests/steer_test tests/xsk_holder tests/xsk_meta tests/netem tests/tcp_test tests/tap_server \
              tests/kernel_client tests/tcp_script_test tests/router_test tests/h2_conformance tests/stream_cat \
              tests/h1_probe tests/h1_parse_test tests/hpack_test tests/h2_flood tests/tls_probe tests/ticket_test \
              tests/rate_limit_test tests/breaker_test tests/deque_test tests/offload_test tests/grpc_test \
              tests/access_log_test tests/latency_test tests/spin_test tests/stream_test tools/syn_flood
# the same tests again in a ThreadSanitizer build of their own (TSAN_CFLAGS below), under $(BUILD)/tsan/
TSAN_BINS  := tests/deque_test tests/offload_test tests/access_log_test
BENCH_BINS := tools/xdp_bench tools/tcp_bench tools/router_bench tools/h2_bench tools/idle_conns tools/h1_parse_bench \
              tools/hpack_bench tools/access_log_bench tools/probe_bench tools/frame_lock_bench tools/service_cost
FUZZ_BINS  := fuzz/tcp_fuzz fuzz/h2_fuzz fuzz/h2_diff_fuzz fuzz/h1_fuzz fuzz/h1_diff_fuzz fuzz/hpack_fuzz
GEN_BINS   := tools/hpack_huffgen

sluice-agent_SRCS     := $(AGENT_SRCS)
sluice-agent_LIBS     := $(LIBBPF)
sluice-server_SRCS    := $(SERVER_SRCS)
LIB_LIBS              := -lxdp $(LIBBPF) -lnghttp2 -linih -lssl -lcrypto -lpthread
sluice-server_LIBS    := $(LIB_LIBS)
sluice-server_OBJS    := $(BUILD)/gen/server/sluice.routes.o $(HPACK_GEN:.c=.o)
sluice-routegen_SRCS  := tools/routegen/routegen.c server/router/method.c common/err.c

steer_test_SRCS       := tests/bpf/steer_test.c tests/bpf/packets.c tests/lib/check.c common/hpack_huffman.c $(COMMON_SRCS)
steer_test_LIBS       := $(LIBBPF)
xsk_holder_SRCS       := tests/agent/xsk_holder.c $(COMMON_SRCS)
xsk_holder_LIBS       := $(LIBBPF)
xsk_meta_SRCS         := tests/agent/xsk_meta.c $(COMMON_SRCS)
xsk_meta_LIBS         := -lxdp $(LIBBPF)
netem_SRCS            := tests/afxdp/netem.c
netem_LIBS            := $(LIBBPF)
tcp_test_SRCS         := tests/net/tcp_test.c tests/net/sim.c tests/lib/check.c $(NET_SRCS)
tcp_test_LIBS         := -lcrypto -lpthread
tcp_script_test_SRCS  := tests/net/tcp_script_test.c tests/net/sim.c tests/lib/check.c $(NET_SRCS)
tcp_script_test_LIBS  := -lpthread
tap_server_SRCS       := tests/net/tap_server.c $(APP_SRCS) $(NET_SRCS)
tap_server_LIBS       := -lcrypto -lpthread
kernel_client_SRCS    := tests/net/kernel_client.c
kernel_client_LIBS    := -lcrypto -lpthread
router_test_SRCS      := tests/router/router_test.c server/router/method.c tests/lib/check.c
router_test_OBJS      := $(BUILD)/gen/tests/router/test.routes.o
# the HTTP/2 conformance client and the flood client of tests/http/h2_flood_test.sh: raw frames
# (tests/http/h2_wire.c, cleartext or over OpenSSL's TLS); libnghttp2 only to decode the server's field blocks
h2_conformance_SRCS   := tests/http/h2_conformance.c tests/http/h2_wire.c
h2_conformance_LIBS   := -lnghttp2 -lssl -lcrypto
h2_flood_SRCS         := tests/http/h2_flood.c tests/http/h2_wire.c
h2_flood_LIBS         := -lnghttp2 -lssl -lcrypto
stream_cat_SRCS       := tests/http/stream_cat.c
# the HTTP/1.x raw-socket client of tests/http/h1_strict_test.sh
h1_probe_SRCS         := tests/http/h1_probe.c
# the malformed-TLS-handshake probe (truncated, random, oversized and refused ClientHellos)
tls_probe_SRCS        := tests/tls/tls_probe.c
tls_probe_LIBS        := -lssl -lcrypto -lpthread
h1_parse_test_SRCS    := tests/http/h1_parse_test.c server/http/h1_parse.c tests/lib/check.c
# hpack_test: RFC 7541's examples, and against libnghttp2's deflater and inflater
hpack_test_SRCS       := tests/h2/hpack_test.c tests/lib/check.c $(HPACK_SRCS)
hpack_test_OBJS       := $(HPACK_GEN:.c=.o)
hpack_test_LIBS       := -lnghttp2
# ticket_test: TLS session ticket keys: the key file, rotation, resumption between OpenSSL peers in memory
ticket_test_SRCS      := tests/tls/ticket_test.c server/tls/tls_ticket.c tests/lib/check.c common/err.c
ticket_test_LIBS      := -lssl -lcrypto -lpthread
# spin_test: the AF_XDP worker's adaptive spin (server/afxdp/spin.h) on a simulated clock
spin_test_SRCS        := tests/afxdp/spin_test.c tests/lib/check.c
# stream_test: the deterministic stream the source service, /bytes and the test clients share
stream_test_SRCS      := tests/common/stream_test.c tests/lib/check.c
# latency_test: the request duration histograms' cells (server/http/latency.c), in memory
latency_test_SRCS     := tests/http/latency_test.c server/http/latency.c tests/lib/check.c
# rate_limit_test, breaker_test: the overload limits of issue 16 on a fake clock, with threads
rate_limit_test_SRCS  := tests/http/rate_limit_test.c server/http/rate_limit.c common/siphash.c tests/lib/check.c common/err.c
rate_limit_test_LIBS  := -lpthread
breaker_test_SRCS     := tests/offload/breaker_test.c server/offload/breaker.c tests/lib/check.c
breaker_test_LIBS     := -lpthread
# grpc_test: gRPC's message reader and status mapping (server/http/grpc.c), in memory; it links the HTTP
# layer grpc.c is built on, as the HTTP/2 fuzzers do
grpc_test_SRCS        := tests/http/grpc_test.c tests/lib/check.c $(HTTP_SRCS) server/app/app.c common/err.c
grpc_test_OBJS        := $(BUILD)/gen/server/sluice.routes.o $(HPACK_GEN:.c=.o)
grpc_test_LIBS        := -lnghttp2 -lcrypto -lpthread
# deque_test, offload_test: the offload pool's deque and the pool itself (also built with TSan, below)
deque_test_SRCS       := tests/offload/deque_test.c server/offload/deque.c tests/lib/check.c common/err.c
deque_test_LIBS       := -lpthread
# access_log_test: the access log's formats, its rings and its logger thread against a producer (also TSan)
access_log_test_SRCS  := tests/log/access_log_test.c $(LOG_SRCS) tests/lib/check.c common/err.c
access_log_test_LIBS  := -lpthread
offload_test_SRCS     := tests/offload/offload_test.c $(OFFLOAD_SRCS) tests/lib/check.c common/err.c
offload_test_LIBS     := -lpthread

# syn_flood: spoofed-source SYNs for the syn-flood suite and the SYN cookie figures (a test tool: built by `tests`)
syn_flood_SRCS        := tools/flood/syn_flood.c
xdp_bench_SRCS        := tools/bench/xdp_bench.c tests/bpf/packets.c common/hpack_huffman.c $(COMMON_SRCS)
xdp_bench_LIBS        := $(LIBBPF)
tcp_bench_SRCS        := tools/bench/tcp_bench.c $(NET_SRCS)
tcp_bench_LIBS        := -lpthread
# h2_bench: the HTTP layer (server/h2 native and nghttp2, server/http, the compiled router) in memory
# against an nghttp2 client session, beside nghttp2 alone, and the native one again with the access log
# on; it counts allocations with a malloc of its own
h2_bench_SRCS         := tools/bench/h2_bench.c $(HTTP_SRCS) $(LOG_SRCS) server/app/app.c common/err.c
h2_bench_OBJS         := $(BUILD)/gen/server/sluice.routes.o $(HPACK_GEN:.c=.o)
h2_bench_LIBS         := -lnghttp2 -lcrypto -lpthread
# h1_parse_bench: our HTTP/1.1 head parser against http-parser on the same browser-like head
h1_parse_bench_SRCS   := tools/bench/h1_parse_bench.c server/http/h1_parse.c
h1_parse_bench_LIBS   := -lhttp_parser
# hpack_bench: our HPACK decoder and encoder against nghttp2's inflater and deflater on the same blocks
hpack_bench_SRCS      := tools/bench/hpack_bench.c $(HPACK_SRCS)
hpack_bench_OBJS      := $(HPACK_GEN:.c=.o)
hpack_bench_LIBS      := -lnghttp2
# access_log_bench: the access log's formatting, ns per line, and a worker's record in its ring
access_log_bench_SRCS := tools/bench/access_log_bench.c $(LOG_SRCS) common/err.c
access_log_bench_LIBS := -lpthread
# probe_bench: a USDT probe with no tracer and the latency histogram's update, per call
probe_bench_SRCS      := tools/bench/probe_bench.c server/http/latency.c $(PROBE_SRCS)
# frame_lock_bench: the shared UMEM's robust process-shared lock and pool against private ones
frame_lock_bench_SRCS := tools/bench/frame_lock_bench.c server/net/frame.c
frame_lock_bench_LIBS := -lpthread
# service_cost: the source's stream and the sink's SHA-256 per byte, which datapath.sh sets aside
service_cost_SRCS     := tools/bench/service_cost.c
service_cost_LIBS     := -lcrypto
# hpack_huffgen: writes the Huffman decoder's state machine ($(HPACK_GEN)) from the code table
hpack_huffgen_SRCS    := tools/gen/hpack_huffgen.c common/hpack_huffman.c
# idle_conns: holds idle HTTP/2 connections open for tools/bench/http.sh (memory per idle connection)
idle_conns_SRCS       := tools/bench/idle_conns.c
# router_bench links three generated routers (see below)
router_bench_SRCS     := tools/bench/router_bench.c server/router/method.c
ROUTER_BENCH_SIZES    := 10 100 1000
router_bench_OBJS     := $(ROUTER_BENCH_SIZES:%=$(BUILD)/gen/bench/routes_%.o)

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
bin_objs = $(call obj,$(sort $($(1)_SRCS))) $($(1)_OBJS) # sorted: each once, however many lists name it

LINKED := $(addprefix $(BUILD)/,$(BINS) $(TEST_BINS) $(BENCH_BINS) $(GEN_BINS))
$(foreach b,$(BINS) $(TEST_BINS) $(BENCH_BINS) $(GEN_BINS),$(eval $(BUILD)/$(b): $$(call bin_objs,$(notdir $(b)))))
$(LINKED):
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $(filter %.o,$^) $($(@F)_LIBS) -o $@

AGENT    := $(BUILD)/bin/sluice-agent
SERVER   := $(BUILD)/bin/sluice-server
ROUTEGEN := $(BUILD)/bin/sluice-routegen

.PHONY: all tests deps test check demo bench bench-h2 bench-tls bench-mtu bench-log bench-grpc profile fmt fmt-check clean \
        lib install uninstall examples
.SECONDARY: $(BPF_OBJS) $(BPF_SKELS) # the tests load the objects too: keep them and their skeletons
.DEFAULT_GOAL := all

all: tests $(addprefix $(BUILD)/,$(BENCH_BINS) $(FUZZ_BINS))
tests: $(BPF_OBJS) $(BUILD)/bpf/xdp_pass.bpf.o $(addprefix $(BUILD)/,$(BINS) $(TEST_BINS)) \
       $(addprefix $(BUILD)/tsan/,$(TSAN_BINS))

deps:
	@tools/deps.sh

# ---- compiling ------------------------------------------------------------------------------------

$(BUILD)/bpf/%.bpf.o: bpf/%.bpf.c
	@mkdir -p $(@D)
	$(CLANG) $(BPF_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/bpf/netem.bpf.o: tests/afxdp/netem.bpf.c
	@mkdir -p $(@D)
	$(CLANG) $(BPF_CFLAGS) -MMD -MP -c $< -o $@

# the client veth's XDP_PASS of the syn-flood suite (tests/flood/xdp_pass.bpf.c says why)
$(BUILD)/bpf/xdp_pass.bpf.o: tests/flood/xdp_pass.bpf.c
	@mkdir -p $(@D)
	$(CLANG) $(BPF_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/bpf/%.skel.h: $(BUILD)/bpf/%.bpf.o
	$(BPFTOOL) gen skeleton $< name $* > $@

$(BUILD)/obj/%.o: %.c | $(BPF_SKELS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c $< -o $@

# The router: sluice-routegen compiles a routes file to C (X.routes -> $(BUILD)/gen/X.routes.c, never
# committed, STYLE.md 3); generated C is compiled beside itself.
$(BUILD)/gen/%.routes.c: %.routes $(ROUTEGEN)
	@mkdir -p $(@D)
	$(ROUTEGEN) $< $@

$(BUILD)/gen/%.o: $(BUILD)/gen/%.c
	$(CC) $(CFLAGS) -c $< -o $@

$(HPACK_GEN): $(BUILD)/tools/hpack_huffgen
	@mkdir -p $(@D)
	$< $@

# router_bench links three generated routers (10, 100, 1000 routes from tools/bench/router_routes.sh),
# each named bench_router_N. Static pattern rules: open ones would also "make" routes_1000.d, an included
# dependency file.
ROUTER_BENCH_SETS  := $(ROUTER_BENCH_SIZES:%=$(BUILD)/gen/bench/routes_%)

$(ROUTER_BENCH_SETS:%=%.routes): $(BUILD)/gen/bench/routes_%.routes: tools/bench/router_routes.sh
	@mkdir -p $(@D)
	sh tools/bench/router_routes.sh $* > $@

$(ROUTER_BENCH_SETS:%=%.c): $(BUILD)/gen/bench/routes_%.c: $(BUILD)/gen/bench/routes_%.routes $(ROUTEGEN)
	$(ROUTEGEN) --name bench_router_$* $< $@

.SECONDARY: $(HPACK_GEN) $(BUILD)/gen/server/sluice.routes.c $(BUILD)/gen/tests/router/test.routes.c $(foreach s,$(ROUTER_BENCH_SETS),$(s).routes $(s).c $(s).o)

# ThreadSanitizer build of the tests of concurrent code (TSAN_BINS): their own objects, whatever
# SANITIZE says (TSan cannot be mixed with ASan), in $(BUILD)/tsan/. -Wno-tsan: TSan does not model
# atomic_thread_fence, and GCC says so; the pool's fences order atomics against atomics (the deque's
# pop against steal, a submit against a thread going to sleep), while every hand-off of plain data goes
# through a release store and an acquire load, which TSan does check.
TSAN_CFLAGS := -std=gnu11 -g -O1 $(WARN) -Wno-tsan -D_GNU_SOURCE $(INCLUDES) -fno-omit-frame-pointer \
               -fsanitize=thread -MMD -MP
tsanobj = $(patsubst %.c,$(BUILD)/tsan/obj/%.o,$(1))

$(BUILD)/tsan/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(TSAN_CFLAGS) -c $< -o $@

$(foreach b,$(TSAN_BINS),$(eval $(BUILD)/tsan/$(b): $$(call tsanobj,$$($(notdir $(b))_SRCS))))
$(addprefix $(BUILD)/tsan/,$(TSAN_BINS)):
	@mkdir -p $(@D)
	$(CC) -fsanitize=thread $(filter %.o,$^) $($(@F)_LIBS) -o $@

# libFuzzer targets: always clang, with their own objects (coverage-instrumented, sanitized), whatever
# $(CC) and SANITIZE say. UBSan findings abort so that libFuzzer reports them as crashes.
FUZZ_CFLAGS := -std=gnu11 -g -O1 $(WARN) -D_GNU_SOURCE $(INCLUDES) -fno-omit-frame-pointer \
               -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -MMD -MP
fuzzobj = $(patsubst %.c,$(BUILD)/fuzzobj/%.o,$(1))

# tcp_fuzz: the engine alone; h2_fuzz: the HTTP input path (server/h2 with both HTTP/2 sessions,
# server/http, the router compiled from server/sluice.routes) over an in-memory transport;
# h2_diff_fuzz: our HTTP/2 session against the nghttp2 one on the same client bytes. --wrap=http_dispatch
# lets it record the requests each session hands the router (the server has no such hook).
tcp_fuzz_SRCS      := tests/fuzz/tcp_fuzz.c $(NET_SRCS)
tcp_fuzz_LIBS      := -lpthread
h2_fuzz_SRCS       := tests/fuzz/h2_fuzz.c $(HTTP_SRCS) server/app/app.c common/err.c $(BUILD)/gen/server/sluice.routes.c $(HPACK_GEN)
h2_fuzz_LIBS       := -lnghttp2 -lhttp_parser -lcrypto
h2_diff_fuzz_SRCS  := tests/fuzz/h2_diff_fuzz.c $(HTTP_SRCS) server/app/app.c common/err.c $(BUILD)/gen/server/sluice.routes.c $(HPACK_GEN)
h2_diff_fuzz_LIBS  := -Wl,--wrap=http_dispatch -lnghttp2 -lcrypto
# h1_fuzz: the HTTP/1.1 framing alone (server/http/h1_parse.c); h1_diff_fuzz: the same against
# Debian's http-parser, every disagreement either a listed strictness difference or a crash
h1_fuzz_SRCS      := tests/fuzz/h1_fuzz.c tests/fuzz/h1_stream.c server/http/h1_parse.c
h1_diff_fuzz_SRCS := tests/fuzz/h1_diff_fuzz.c tests/fuzz/h1_stream.c server/http/h1_parse.c
h1_diff_fuzz_LIBS := -lhttp_parser
# hpack_fuzz: our HPACK decoder against nghttp2's inflater, block by block (tests/fuzz/hpack_fuzz.c)
hpack_fuzz_SRCS   := tests/fuzz/hpack_fuzz.c $(HPACK_SRCS) $(HPACK_GEN)
hpack_fuzz_LIBS   := -lnghttp2

$(BUILD)/fuzzobj/%.o: %.c
	@mkdir -p $(@D)
	$(CLANG) $(FUZZ_CFLAGS) -c $< -o $@

$(foreach b,$(FUZZ_BINS),$(eval $(BUILD)/$(b): $$(call fuzzobj,$$($(notdir $(b))_SRCS))))
$(addprefix $(BUILD)/,$(FUZZ_BINS)):
	@mkdir -p $(@D)
	$(CLANG) $(FUZZ_CFLAGS) $(filter %.o,$^) $($(@F)_LIBS) -o $@

# ---- the library and its installation -------------------------------------------------------------

# libsluice: the static archive from this build's objects, the shared library from position-independent
# copies of them ($(BUILD)/picobj/), exporting only packaging/libsluice.map's symbols. An app links
# either with `pkg-config --libs sluice` (the shared one, found through an rpath) and passes its router to
# sluice_main (include/sluice/sluice.h).
VERSION    := 0.1.0
SO_MAJOR   := 0
LIB_A      := $(BUILD)/lib/libsluice.a
LIB_SO     := $(BUILD)/lib/libsluice.so.$(VERSION)
LIB_OBJS   := $(call obj,$(sort $(LIB_SRCS))) $(HPACK_GEN:.c=.o)
picobj      = $(patsubst %.c,$(BUILD)/picobj/%.o,$(1))

$(BUILD)/picobj/%.o: %.c | $(BPF_SKELS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -fPIC -c $< -o $@

$(LIB_A): $(LIB_OBJS)
	@mkdir -p $(@D)
	rm -f $@
	ar rcs $@ $^

$(LIB_SO): $(call picobj,$(sort $(LIB_SRCS)) $(HPACK_GEN)) packaging/libsluice.map
	@mkdir -p $(@D)
	$(CC) -shared -Wl,-soname,libsluice.so.$(SO_MAJOR) -Wl,--version-script=packaging/libsluice.map -Wl,-z,defs \
		$(LDFLAGS) $(filter %.o,$^) $(LIB_LIBS) -o $@

lib: $(LIB_A) $(LIB_SO)

# make install PREFIX=/usr/local DESTDIR=: the library (static and shared, versioned soname), the public
# headers (include/sluice/), the programs, sluice.pc and the systemd units; make uninstall removes them.
# A sanitizer build (SANITIZE=1) installs a sanitized library, whose sluice.pc links the sanitizers.
PREFIX     ?= /usr/local
LIBDIR     ?= $(PREFIX)/lib
SYSCONFDIR ?= /etc
UNITDIR    ?= $(PREFIX)/lib/systemd/system
HEADERS    := $(wildcard include/sluice/*.h)
PROGRAMS   := sluice-agent sluice-server sluice-routegen
UNITS      := sluice-agent@.service sluice-server.service
PC_PRIVATE := $(LIB_LIBS)
FILL_IN     = sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' -e 's|@BINDIR@|$(PREFIX)/bin|g' \
                  -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' -e 's|@VERSION@|$(VERSION)|g' \
                  -e 's|@PRIVATE_LIBS@|$(PC_PRIVATE)|g' \
                  -e 's|@SANITIZE_LIBS@|$(if $(filter 1,$(SANITIZE)),-fsanitize=address$(comma)undefined)|g'

install: lib $(addprefix $(BUILD)/bin/,$(PROGRAMS))
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(PREFIX)/include/sluice \
		$(DESTDIR)$(UNITDIR)
	install -m 755 $(addprefix $(BUILD)/bin/,$(PROGRAMS)) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 $(LIB_A) $(DESTDIR)$(LIBDIR)/
	install -m 755 $(LIB_SO) $(DESTDIR)$(LIBDIR)/
	ln -sf libsluice.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libsluice.so.$(SO_MAJOR)
	ln -sf libsluice.so.$(SO_MAJOR) $(DESTDIR)$(LIBDIR)/libsluice.so
	install -m 644 $(HEADERS) $(DESTDIR)$(PREFIX)/include/sluice/
	$(FILL_IN) packaging/sluice.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/sluice.pc
	$(foreach u,$(UNITS),$(FILL_IN) packaging/$(u).in > $(DESTDIR)$(UNITDIR)/$(u) &&) true

uninstall:
	rm -f $(addprefix $(DESTDIR)$(PREFIX)/bin/,$(PROGRAMS)) $(addprefix $(DESTDIR)$(UNITDIR)/,$(UNITS)) \
		$(addprefix $(DESTDIR)$(LIBDIR)/,libsluice.a libsluice.so libsluice.so.$(SO_MAJOR) \
		libsluice.so.$(VERSION) pkgconfig/sluice.pc) \
		$(addprefix $(DESTDIR)$(PREFIX)/include/sluice/,$(notdir $(HEADERS)))
	-rmdir $(DESTDIR)$(PREFIX)/include/sluice 2>/dev/null

# make examples: the example apps as a user builds them, against this build installed into
# $(BUILD)/prefix, each into $(BUILD)/examples/NAME/ (the benchmark runs grpc-echo from there)
EXAMPLES        := hello grpc-echo
EXAMPLES_PREFIX := $(abspath $(BUILD))/prefix

examples:
	$(MAKE) install PREFIX=$(EXAMPLES_PREFIX)
	$(foreach e,$(EXAMPLES),PKG_CONFIG_PATH=$(EXAMPLES_PREFIX)/lib/pkgconfig \
		$(MAKE) -C examples/$(e) O=$(abspath $(BUILD))/examples/$(e) &&) true

# ---- running ----------------------------------------------------------------------------------------

# The tests run the sanitizer build; tests/run.sh prints the one summary line and sets the status.
# SUITES=a,b selects suites (all when empty); the fuzz binaries are built only when a fuzz suite runs.
TEST_BUILD  := build/san
comma       := ,
SUITE_LIST   = $(subst $(comma), ,$(SUITES))

test: deps
	$(MAKE) BUILD=$(TEST_BUILD) SANITIZE=1 $(if $(SUITES),tests $(if $(filter fuzz%,$(SUITE_LIST)),$(addprefix $(TEST_BUILD)/,$(FUZZ_BINS))),all)
	tests/run.sh $(TEST_BUILD) $(SUITE_LIST)

check: deps
	$(MAKE) BUILD=$(TEST_BUILD) SANITIZE=1 tests
	tests/run.sh --quick $(TEST_BUILD) $(SUITE_LIST)

demo: deps all
	tools/demo.sh $(BUILD)

# make bench QUICK=1: the harness's --quick mode (about 10 minutes instead of about 46)
bench: deps all examples
	tools/bench/run.sh $(BUILD) $(if $(filter 1,$(QUICK)),--quick)

# make bench-h2: only our HTTP/2 session against nghttp2's and h2o (run.sh --h2, about 5 minutes)
bench-h2: deps all
	tools/bench/run.sh $(BUILD) --h2

# make bench-grpc: only gRPC unary echo, examples/grpc-echo (GRPC_ECHO=path to override) against a
# gRPC-Go server that tools/bench/grpc.sh builds into $(BUILD)/bench/ (run.sh --grpc, about 2 minutes)
bench-grpc: deps all examples
	tools/bench/run.sh $(BUILD) --grpc

# make bench-tls: only the TLS cases, sluice against h2o and nginx (run.sh --tls, about 4 minutes)
bench-tls: deps all
	tools/bench/run.sh $(BUILD) --tls

# make bench-mtu: only the bulk cases (16 KiB, 1 MiB, 64 KiB POST echo) at link MTU 1500, 9000 and
# 65000, sluice over AF_XDP and over sockets against h2o (run.sh --mtu, about 8 minutes)
bench-mtu: deps all
	tools/bench/run.sh $(BUILD) --mtu

# make bench-log: only what the access log costs, in memory and in a server over AF_XDP, on against off
# (run.sh --log, about 4 minutes)
bench-log: deps all
	tools/bench/run.sh $(BUILD) --log

# make profile: perf over both CPUs while sluice sends bulk over AF_XDP and over sockets (tools/bench/profile.sh)
profile: deps all
	tools/bench/profile.sh $(BUILD)

FMT_FILES = $(shell git ls-files '*.c' '*.h')

fmt:
	clang-format -i $(FMT_FILES)

fmt-check: deps
	@clang-format --dry-run --Werror $(FMT_FILES) && echo "fmt-check: $(words $(FMT_FILES)) files formatted"

clean:
	rm -rf build

# Dependency files of this build's own objects only (build/ and build/san/ are separate builds).
-include $(shell find $(BUILD)/obj $(BUILD)/picobj $(BUILD)/fuzzobj $(BUILD)/tsan/obj $(BUILD)/bpf $(BUILD)/gen -name '*.d' 2>/dev/null)
