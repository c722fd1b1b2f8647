/*
 * rate_limit.c — the per-client request-rate limit (see rate_limit.h): a set-associative table of
 * token buckets, one spinlock per set, integer arithmetic in nanotokens.
 *
 * Runs on the workers once per request: it takes one set's lock for a hash, at most
 * RATE_LIMIT_WAYS 16-byte compares and a few multiplications; it never allocates or blocks.
 */
#include "http/rate_limit.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "common/siphash.h"

#define NS_PER_S 1000000000ull
#define TOKEN    NS_PER_S /* one request, in nanotokens */
#define ALL_WAYS ((uint8_t)((1u << RATE_LIMIT_WAYS) - 1))

_Static_assert(RATE_LIMIT_WAYS <= 8, "a set's used slots are one byte of bits");
_Static_assert(sizeof(struct rate_limit_set) % 64 == 0, "sets are whole cache lines");

/* SipHash-1-3 of the 16-byte address under the table's key (as server/net/isn.c keys the connection
 * table): a client cannot choose addresses that share a set without the key. */
static uint64_t addr_hash(const uint64_t k[2], const uint8_t addr[RATE_LIMIT_ADDR_LEN])
{
    return siphash(k, addr, RATE_LIMIT_ADDR_LEN, 1, 3);
}

int rate_limit_init(struct rate_limit *rl, const struct rate_limit_config *cfg, struct err *e)
{
    uint32_t nsets;

    memset(rl, 0, sizeof(*rl));
    if (cfg->rps == 0)
        return 0; /* no limit: no table */
    if (cfg->burst == 0)
        return ERR(e, EXIT_STATUS_USAGE, 0, "rate limit: burst must be at least 1 when rps is set");
    if (cfg->slots < RATE_LIMIT_WAYS || cfg->slots > RATE_LIMIT_SLOTS_MAX || (cfg->slots & (cfg->slots - 1)))
        return ERR(e, EXIT_STATUS_USAGE, 0, "rate limit: slots must be a power of two in %u..%u, not %u",
                   RATE_LIMIT_WAYS, RATE_LIMIT_SLOTS_MAX, cfg->slots);
    if (getrandom(rl->key, sizeof(rl->key), 0) != (ssize_t)sizeof(rl->key))
        return ERR(e, EXIT_STATUS_FAILURE, errno, "rate limit: cannot draw the hash key (getrandom)");
    nsets = cfg->slots / RATE_LIMIT_WAYS;
    rl->sets = aligned_alloc(64, (size_t)nsets * sizeof(*rl->sets));
    if (!rl->sets)
        return ERR(e, EXIT_STATUS_FAILURE, ENOMEM, "rate limit: cannot allocate a table of %u slots",
                   cfg->slots);
    memset(rl->sets, 0, (size_t)nsets * sizeof(*rl->sets));
    for (uint32_t i = 0; i < nsets; i++)
        pthread_spin_init(&rl->sets[i].lock, PTHREAD_PROCESS_PRIVATE);
    rl->rps = cfg->rps;
    rl->capacity = (uint64_t)cfg->burst * TOKEN;
    rl->set_mask = nsets - 1;
    return 0;
}

void rate_limit_destroy(struct rate_limit *rl)
{
    if (!rl->sets)
        return;
    for (uint32_t i = 0; i <= rl->set_mask; i++)
        pthread_spin_destroy(&rl->sets[i].lock);
    free(rl->sets);
    rl->sets = NULL;
}

/* The slot's tokens at now_ns, refilled and capped at the bucket's size. Time that went backwards
 * (another worker read the clock a little earlier and got the lock later) refills nothing. */
static uint64_t refilled(const struct rate_limit *rl, const struct rate_limit_slot *s, uint64_t now_ns)
{
    uint64_t elapsed = now_ns > s->last_ns ? now_ns - s->last_ns : 0;

    /* past capacity / rps ns the bucket is full whatever it held; capping first keeps the product
     * within 64 bits (capacity < 2^63, and rps < 2^32) */
    if (elapsed > rl->capacity / rl->rps)
        return rl->capacity;
    return s->tokens + elapsed * rl->rps < rl->capacity ? s->tokens + elapsed * rl->rps : rl->capacity;
}

/* The slot for addr in set, taken or made; the set is locked. */
static struct rate_limit_slot *slot_for(const struct rate_limit *rl, struct rate_limit_set *set,
                                        const uint8_t *addr, uint64_t now_ns)
{
    int victim = -1;

    for (int i = 0; i < RATE_LIMIT_WAYS; i++)
        if ((set->used & (1u << i)) && memcmp(set->slot[i].addr, addr, RATE_LIMIT_ADDR_LEN) == 0)
            return &set->slot[i];
    if (set->used != ALL_WAYS) {
        victim = __builtin_ctz((unsigned)(uint8_t)~set->used);
    } else {
        /* a full bucket first (forgetting it loses nothing), else the client idle the longest */
        for (int i = 0; i < RATE_LIMIT_WAYS && victim < 0; i++)
            if (refilled(rl, &set->slot[i], now_ns) == rl->capacity)
                victim = i;
        if (victim < 0) {
            victim = 0;
            for (int i = 1; i < RATE_LIMIT_WAYS; i++)
                if (set->slot[i].last_ns < set->slot[victim].last_ns)
                    victim = i;
        }
        set->replaced++;
    }
    set->used |= (uint8_t)(1u << victim);
    memcpy(set->slot[victim].addr, addr, RATE_LIMIT_ADDR_LEN);
    set->slot[victim].tokens = rl->capacity;
    set->slot[victim].last_ns = now_ns;
    return &set->slot[victim];
}

bool rate_limit_take(struct rate_limit *rl, const uint8_t addr[RATE_LIMIT_ADDR_LEN], uint64_t now_ns,
                     uint32_t *retry_after_s)
{
    struct rate_limit_set *set;
    struct rate_limit_slot *s;
    uint64_t tokens, wait_ns, behind_ns;
    bool allowed;

    if (!rl->sets)
        return true;
    set = &rl->sets[addr_hash(rl->key, addr) & rl->set_mask];
    pthread_spin_lock(&set->lock);
    s = slot_for(rl, set, addr, now_ns);
    tokens = refilled(rl, s, now_ns);
    /* a clock behind the slot's (another worker's read, locked first) waits from the slot's time */
    behind_ns = s->last_ns > now_ns ? s->last_ns - now_ns : 0;
    if (now_ns > s->last_ns)
        s->last_ns = now_ns;
    allowed = tokens >= TOKEN;
    if (allowed) {
        s->tokens = tokens - TOKEN;
        set->allowed++;
    } else {
        s->tokens = tokens;
        set->limited++;
    }
    pthread_spin_unlock(&set->lock);
    if (!allowed) {
        /* the ns until the missing nanotokens are refilled, then whole seconds, both rounded up */
        wait_ns = behind_ns + (TOKEN - tokens + rl->rps - 1) / rl->rps;
        *retry_after_s = (uint32_t)((wait_ns + NS_PER_S - 1) / NS_PER_S);
        if (*retry_after_s == 0)
            *retry_after_s = 1;
    }
    return allowed;
}

void rate_limit_stats(struct rate_limit *rl, struct rate_limit_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (!rl->sets)
        return;
    for (uint32_t i = 0; i <= rl->set_mask; i++) {
        struct rate_limit_set *set = &rl->sets[i];

        pthread_spin_lock(&set->lock);
        out->allowed += set->allowed;
        out->limited += set->limited;
        out->replaced += set->replaced;
        out->tracked += (uint64_t)__builtin_popcount(set->used);
        pthread_spin_unlock(&set->lock);
    }
}
