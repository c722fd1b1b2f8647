# Makefile — builds, tests and demonstrates sluice. Read top to bottom:
#
#   make deps    install the Debian packages sluice needs (only those missing)
#   make all     BPF objects + skeletons, sluice-agent, tests   (into build/)
#   make test    sanitizer build (ASan/UBSan, into build/san/) and every test suite
#   make demo    the end-to-end demo in a throw-away namespace topology
#   make bench   the benchmark harness
#   make fmt     clang-format every C file in place
#   make clean   remove build/
#
# BPF programs are compiled with clang -target bpf; user space loads them through skeletons from
# `bpftool gen skeleton`, which are generated here and never committed.

BUILD    ?= build
SANITIZE ?= 0

CC      ?= cc
CLANG   ?= clang
BPFTOOL ?= bpftool

MULTIARCH := $(shell $(CC) -print-multiarch 2>/dev/null)
WARN      := -Wall -Wextra -Werror
INCLUDES  := -Imaps -Icommon -Iagent -Iserver/net -Iserver/afxdp -Iserver/sched -Iserver/sock -Iserver/app \
             -Iserver/router -Iserver/http -Iserver/http/handlers -I$(BUILD)/bpf

CFLAGS  := -std=gnu11 -g $(WARN) -D_GNU_SOURCE $(INCLUDES) -MMD -MP
LDLIBS  := $(shell pkg-config --libs libbpf 2>/dev/null || echo -lbpf -lelf -lz)
ifeq ($(SANITIZE),1)
CFLAGS  += -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
else
CFLAGS  += -O2
endif

BPF_CFLAGS := -O2 -g -target bpf $(WARN) -Imaps -Ibpf $(if $(MULTIARCH),-I/usr/include/$(MULTIARCH))

BPF_PROGS := steer xsks_probe netem
BPF_OBJS  := $(BPF_PROGS:%=$(BUILD)/bpf/%.bpf.o)
BPF_SKELS := $(BPF_PROGS:%=$(BUILD)/bpf/%.skel.h)

COMMON_SRCS := common/err.c common/addr.c common/args.c maps/pins.c
NET_SRCS    := server/net/tcp_handoff.c server/net/frame.c server/net/checksum.c server/net/packet.c server/net/timer_wheel.c \
               server/net/isn.c server/net/tcp_engine.c server/net/tcp_input.c server/net/tcp_output.c \
               server/net/tcp_cc.c server/net/tcp_timer.c
APP_SRCS    := server/app/app.c server/app/tcp_io.c server/app/echo.c server/app/sink.c server/app/source.c
HTTP_SRCS   := server/http/http_worker.c server/http/http_mem.c server/http/request.c server/h2/session.c \
               server/http/h1.c server/http/handlers/healthz.c server/http/handlers/bytes.c \
               server/http/handlers/echo.c server/http/handlers/static_file.c server/http/handlers/metrics.c \
               server/router/method.c
SERVER_SRCS := server/main.c server/config.c server/sched/worker.c server/sched/metrics.c server/sched/handoff.c server/afxdp/xdp_steer.c server/afxdp/umem.c \
               server/afxdp/xsk_port.c server/afxdp/xdp_worker.c server/sock/sock_worker.c $(APP_SRCS) $(HTTP_SRCS)
AGENT_SRCS  := agent/main.c agent/attach.c agent/probe.c agent/service.c agent/route.c agent/workers.c \
               agent/stats.c agent/hpack_huffman.c agent/routes_config.c
TEST_BPF_SRCS := tests/bpf/steer_test.c tests/bpf/packets.c tests/lib/check.c agent/hpack_huffman.c

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

AGENT     := $(BUILD)/bin/sluice-agent
SERVER    := $(BUILD)/bin/sluice-server
ROUTEGEN  := $(BUILD)/bin/sluice-routegen
TEST_BINS := $(BUILD)/tests/steer_test $(BUILD)/tests/xsk_holder $(BUILD)/tests/xsk_meta $(BUILD)/tests/netem $(BUILD)/tests/tcp_test $(BUILD)/tests/tap_server $(BUILD)/tests/kernel_client $(BUILD)/tests/tcp_script_test $(BUILD)/tests/router_test \
             $(BUILD)/tests/h2_conformance $(BUILD)/tests/stream_cat
BENCH_BINS := $(BUILD)/tools/xdp_bench $(BUILD)/tools/tcp_bench $(BUILD)/tools/router_bench $(BUILD)/tools/h2_bench \
              $(BUILD)/tools/idle_conns
FUZZ_BINS  := $(BUILD)/fuzz/tcp_fuzz $(BUILD)/fuzz/h2_fuzz

.PHONY: all deps test demo bench fmt clean
.SECONDARY: $(BPF_OBJS) $(BPF_SKELS) # the tests load the objects too: keep them and their skeletons
.DEFAULT_GOAL := all

all: $(BPF_OBJS) $(AGENT) $(SERVER) $(ROUTEGEN) $(TEST_BINS) $(BENCH_BINS) $(FUZZ_BINS)

deps:
	@tools/deps.sh

$(BUILD)/bpf/%.bpf.o: bpf/%.bpf.c
	@mkdir -p $(@D)
	$(CLANG) $(BPF_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/bpf/netem.bpf.o: tests/afxdp/netem.bpf.c
	@mkdir -p $(@D)
	$(CLANG) $(BPF_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/bpf/%.skel.h: $(BUILD)/bpf/%.bpf.o
	$(BPFTOOL) gen skeleton $< name $* > $@.tmp && mv $@.tmp $@

$(BUILD)/obj/%.o: %.c | $(BPF_SKELS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c $< -o $@

$(SERVER): $(call obj,$(SERVER_SRCS) $(NET_SRCS) $(COMMON_SRCS)) $(BUILD)/gen/server/sluice.routes.o
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $^ -lxdp $(LDLIBS) -lnghttp2 -lhttp_parser -linih -lcrypto -lpthread -o $@

$(BUILD)/obj/tests/%.o: CFLAGS += -Itests/lib -Itests/bpf -Itests/net

$(AGENT): $(call obj,$(AGENT_SRCS) $(COMMON_SRCS))
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/tests/steer_test: $(call obj,$(TEST_BPF_SRCS) $(COMMON_SRCS))
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/tests/xsk_holder: $(call obj,tests/agent/xsk_holder.c $(COMMON_SRCS))
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/tests/xsk_meta: $(call obj,tests/agent/xsk_meta.c $(COMMON_SRCS))
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $^ -lxdp $(LDLIBS) -o $@

$(BUILD)/tools/xdp_bench: $(call obj,tools/bench/xdp_bench.c tests/bpf/packets.c agent/hpack_huffman.c $(COMMON_SRCS))
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/obj/tools/bench/%.o: CFLAGS += -Itests/bpf

$(BUILD)/tools/tcp_bench: $(call obj,tools/bench/tcp_bench.c $(NET_SRCS))
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $^ -lpthread -o $@

# h2_bench: the HTTP layer (server/h2, server/http, the compiled router) in memory against an nghttp2
# client session. --wrap=http_mem_nghttp2 lets the bench hand a worker system malloc instead of
# http_mem's pools (the server has no such switch).
$(BUILD)/tools/h2_bench: $(call obj,tools/bench/h2_bench.c $(HTTP_SRCS) server/app/app.c common/err.c) \
                         $(BUILD)/gen/server/sluice.routes.o
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $^ -Wl,--wrap=http_mem_nghttp2 -lnghttp2 -lhttp_parser -lcrypto -o $@

# idle_conns: holds idle HTTP/2 connections open for tools/bench/http.sh (memory per idle connection).
$(BUILD)/tools/idle_conns: $(call obj,tools/bench/idle_conns.c)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $^ -o $@

# The router: sluice-routegen compiles a routes file to C (X.routes -> $(BUILD)/gen/X.routes.c, never
# committed, STYLE.md 3); generated C is compiled beside itself.
OBJCOPY  ?= objcopy

$(ROUTEGEN): $(call obj,tools/routegen/routegen.c server/router/method.c common/err.c)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $^ -o $@

$(BUILD)/gen/%.routes.c: %.routes $(ROUTEGEN)
	@mkdir -p $(@D)
	$(ROUTEGEN) $< $@

$(BUILD)/gen/%.o: $(BUILD)/gen/%.c
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/tests/router_test: $(call obj,tests/router/router_test.c server/router/method.c tests/lib/check.c) \
                            $(BUILD)/gen/tests/router/test.routes.o
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $^ -o $@

# router_bench links three generated routers (10, 100, 1000 routes from tools/bench/router_routes.sh),
# each with its router_* symbols renamed router_*_N so that they do not collide; in a sanitizer build
# ASan's ODR indicators for them (__odr_asan.NAME) are renamed along (objcopy skips absent symbols).
# Static pattern rules: open ones would also "make" routes_1000.d, an included dependency file.
ROUTER_BENCH_SIZES := 10 100 1000
ROUTER_SYMBOLS     := router_match router_dispatch router_route_count router_route_names
ROUTER_BENCH_SETS  := $(ROUTER_BENCH_SIZES:%=$(BUILD)/gen/bench/routes_%)

$(ROUTER_BENCH_SETS:%=%.routes): $(BUILD)/gen/bench/routes_%.routes: tools/bench/router_routes.sh
	@mkdir -p $(@D)
	sh tools/bench/router_routes.sh $* > $@.tmp && mv $@.tmp $@

$(ROUTER_BENCH_SETS:%=%.c): $(BUILD)/gen/bench/routes_%.c: $(BUILD)/gen/bench/routes_%.routes $(ROUTEGEN)
	$(ROUTEGEN) $< $@

$(ROUTER_BENCH_SIZES:%=$(BUILD)/gen/bench/router_%.o): $(BUILD)/gen/bench/router_%.o: $(BUILD)/gen/bench/routes_%.o
	$(OBJCOPY) $(foreach s,$(ROUTER_SYMBOLS) $(ROUTER_SYMBOLS:%=__odr_asan.%),--redefine-sym $(s)=$(s)_$*) $< $@

$(BUILD)/tools/router_bench: $(call obj,tools/bench/router_bench.c server/router/method.c) \
                             $(ROUTER_BENCH_SIZES:%=$(BUILD)/gen/bench/router_%.o)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $^ -o $@

.SECONDARY: $(BUILD)/gen/tests/router/test.routes.c $(foreach s,$(ROUTER_BENCH_SETS),$(s).routes $(s).c $(s).o)

$(BUILD)/tests/netem: $(call obj,tests/afxdp/netem.c)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/tests/tcp_test: $(call obj,tests/net/tcp_test.c tests/net/sim.c tests/lib/check.c $(NET_SRCS))
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $^ -lcrypto -lpthread -o $@

$(BUILD)/tests/tcp_script_test: $(call obj,tests/net/tcp_script_test.c tests/net/sim.c tests/lib/check.c $(NET_SRCS))
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $^ -lpthread -o $@

# libFuzzer targets: always clang, with their own objects (coverage-instrumented, sanitized), whatever
# $(CC) and SANITIZE say. UBSan findings abort so that libFuzzer reports them as crashes.
FUZZ_CFLAGS := -std=gnu11 -g -O1 $(WARN) -D_GNU_SOURCE -Iserver/net -fno-omit-frame-pointer \
               -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -MMD -MP

$(BUILD)/fuzzobj/%.o: %.c
	@mkdir -p $(@D)
	$(CLANG) $(FUZZ_CFLAGS) -c $< -o $@

$(BUILD)/fuzz/tcp_fuzz: $(patsubst %.c,$(BUILD)/fuzzobj/%.o,tests/fuzz/tcp_fuzz.c $(NET_SRCS))
	@mkdir -p $(@D)
	$(CLANG) $(FUZZ_CFLAGS) $^ -lpthread -o $@

# The HTTP input path (server/h2, server/http, the router compiled from server/sluice.routes) over an
# in-memory transport.
H2_FUZZ_OBJS := $(patsubst %.c,$(BUILD)/fuzzobj/%.o,tests/fuzz/h2_fuzz.c $(HTTP_SRCS) server/app/app.c common/err.c \
                $(BUILD)/gen/server/sluice.routes.c)
$(H2_FUZZ_OBJS): FUZZ_CFLAGS += -Icommon -Iserver/app -Iserver/router -Iserver/http -Iserver/http/handlers

$(BUILD)/fuzz/h2_fuzz: $(H2_FUZZ_OBJS)
	@mkdir -p $(@D)
	$(CLANG) $(FUZZ_CFLAGS) $^ -lnghttp2 -lhttp_parser -lcrypto -o $@

$(BUILD)/tests/tap_server: $(call obj,tests/net/tap_server.c $(APP_SRCS) $(NET_SRCS))
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $^ -lcrypto -lpthread -o $@

$(BUILD)/tests/kernel_client: $(call obj,tests/net/kernel_client.c)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $^ -lcrypto -lpthread -o $@

# The HTTP/2 conformance client (raw frames; libnghttp2 only to decode the server's field blocks).
$(BUILD)/tests/h2_conformance: $(call obj,tests/http/h2_conformance.c)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $^ -lnghttp2 -o $@

$(BUILD)/tests/stream_cat: $(call obj,tests/http/stream_cat.c)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $^ -o $@

# The tests run the sanitizer build; tests/run.sh prints the one summary line and sets the status.
test: deps
	$(MAKE) BUILD=build/san SANITIZE=1 all
	tests/run.sh build/san

demo: deps all
	tools/demo.sh $(BUILD)

# make bench QUICK=1: the harness's --quick mode (about 2 minutes instead of about 10)
bench: deps all
	tools/bench/run.sh $(BUILD) $(if $(filter 1,$(QUICK)),--quick)

fmt:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
