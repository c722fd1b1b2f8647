/*
 * probes.c — the semaphores of sluice's USDT probes (common/probes.h), one per probe, in the
 * `.probes` section where sys/sdt.h's notes point: a tracer that attaches to a probe increments its
 * semaphore (the kernel does, through the uprobe's reference counter), which is what turns the probe's
 * arguments on. Nothing else reads or writes them.
 */
#include "common/probes.h"

#define SLUICE_PROBE_SEMAPHORE_DEFINE(name)                                                                  \
    __attribute__((section(".probes"), used)) unsigned short sluice_##name##_semaphore;
SLUICE_PROBE_NAMES(SLUICE_PROBE_SEMAPHORE_DEFINE)
