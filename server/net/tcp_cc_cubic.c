/*
 * tcp_cc_cubic.c — CUBIC's window rules (RFC 9438), the default controller as in Linux.
 *
 * After a congestion event cwnd follows a cubic of the time since, W_cubic(t) = C (t - K)^3 + W_max:
 * quickly back towards the window where the loss came, flat around it, then faster again probing
 * beyond. Its growth does not depend on the RTT, so a long fat path refills in seconds where Reno's
 * segment per RTT takes minutes; where Reno would be ahead (short, slow paths) cwnd follows Reno's
 * estimate instead, so CUBIC takes no more than Reno's share there. One row of the congestion-control
 * table (tcp_cc.c), which does slow start, recovery and the RTO around it.
 *
 * Integer arithmetic only: windows in bytes, time in 2^-10 s ticks, and an integer cube root once per
 * congestion avoidance stage. Per ACK: two cubes and two divisions.
 */
#include "net/tcp_conn.h"

/* C = 0.4 segments / s^3 = 2/5, beta_cubic = 0.7, alpha_cubic = 3 (1 - beta) / (1 + beta) = 9/17 */
#define CUBIC_HZ_SHIFT 10 /* ticks of 2^-10 s: a millisecond, finer than the curve needs */
/* |t - K| beyond 2^18 ticks (256 s) would overflow the cube; the curve is past any window there */
#define CUBIC_T_MAX (1ull << 18)

static uint64_t ticks(uint64_t us)
{
    return (us << CUBIC_HZ_SHIFT) / 1000000;
}

/* floor(cbrt(x)), one bit of the root at a time (Hacker's Delight, icbrt64) */
static uint32_t cbrt_u64(uint64_t x)
{
    uint64_t y = 0;

    for (int s = 63; s >= 0; s -= 3) {
        uint64_t b;

        y <<= 1;
        b = 3 * y * (y + 1) + 1;
        if ((x >> s) >= b) {
            x -= b << s;
            y++;
        }
    }
    return (uint32_t)y;
}

/* W_cubic(t) (RFC 9438 4.2, eq. 1) in bytes, t in ticks since the epoch */
static uint64_t w_cubic(const struct tcp_cc_cubic *s, uint16_t mss, uint64_t t)
{
    uint64_t d = t > s->k ? t - s->k : s->k - t, delta;

    if (d > CUBIC_T_MAX)
        d = CUBIC_T_MAX;
    /* C d^3 segments, d^3 in 2^-30 s^3: d^3 / 2^14 * 2/5 is in 2^-16 segments, then bytes */
    delta = ((d * d * d >> 14) * 2 / 5 * mss) >> 16;
    if (t >= s->k)
        return s->w_max + delta;
    return delta < s->w_max ? s->w_max - delta : 0;
}

/* The first ACK of a congestion avoidance stage (RFC 9438 4.2, 4.3, 4.8). */
static void begin_epoch(const struct tcp_engine *e, struct tcp_conn *c)
{
    struct tcp_cc_cubic *s = &c->cc_state.cubic;

    s->epoch_us = e->now_us;
    s->w_est = c->cwnd;
    s->est_acked = 0;
    s->grow_rem = 0;
    if (s->w_max > c->cwnd) {
        /* K = cbrt((W_max - cwnd) / C): in 2^-16 segments that is cbrt(segs * 5/2 * 2^14) ticks */
        uint64_t segs = ((uint64_t)(s->w_max - c->cwnd) << 16) / c->mss;

        s->k = cbrt_u64(segs * 5 << 13);
    } else { /* past the last peak, or the first stage after an RTO: the curve starts here */
        s->w_max = c->cwnd;
        s->k = 0;
    }
}

static void cubic_cong_avoid(const struct tcp_engine *e, struct tcp_conn *c, uint32_t acked)
{
    struct tcp_cc_cubic *s = &c->cc_state.cubic;
    uint64_t t, target, per_seg, grow;

    if (!s->epoch_us)
        begin_epoch(e, c);
    t = ticks(e->now_us - s->epoch_us);

    /* W_est (4.3): alpha_cubic segments per window acknowledged, counted in bytes (ABC), and as
     * Reno's one segment once W_est is back at the window of the last congestion event */
    per_seg = s->w_est >= s->cwnd_prior ? c->cwnd : (uint64_t)c->cwnd * 17 / 9;
    s->est_acked += acked;
    if (s->est_acked >= per_seg) {
        s->w_est += (uint32_t)(s->est_acked / per_seg) * c->mss;
        s->est_acked = (uint32_t)(s->est_acked % per_seg);
    }
    if (w_cubic(s, c->mss, t) < s->w_est) { /* the Reno-friendly region: Reno would be ahead */
        if (c->cwnd < s->w_est)
            c->cwnd = s->w_est;
        return;
    }

    /* concave below W_max, convex above (4.4, 4.5): towards W_cubic one RTT ahead, no faster than
     * half of slow start's rate (target at most 1.5 cwnd) */
    target = w_cubic(s, c->mss, t + ticks(c->srtt_us));
    if (target > c->cwnd + c->cwnd / 2)
        target = c->cwnd + c->cwnd / 2;
    if (target <= c->cwnd)
        return;
    /* (target - cwnd) / cwnd for each byte acknowledged; the fraction carries to the next ACK */
    grow = (target - c->cwnd) * acked + s->grow_rem;
    s->grow_rem = (uint32_t)(grow % c->cwnd);
    c->cwnd += (uint32_t)(grow / c->cwnd);
}

/*
 * Multiplicative decrease and fast convergence (4.6, 4.7). The window in use is the flight, as RFC
 * 9438 writes it: this engine grows cwnd whether or not the flight fills it (a receive window or the
 * application may hold the flight back), so cwnd can be far above what the path carried.
 */
static uint32_t cubic_ssthresh(struct tcp_conn *c, uint32_t flight)
{
    struct tcp_cc_cubic *s = &c->cc_state.cubic;
    uint32_t ssthresh = (uint32_t)((uint64_t)flight * 7 / 10);

    /* a peak below the last one: another flow took a share, so plateau lower and leave it room */
    s->w_max = flight < s->w_max ? (uint32_t)((uint64_t)flight * 17 / 20) : flight;
    s->cwnd_prior = flight;
    s->epoch_us = 0;
    return ssthresh > 2u * c->mss ? ssthresh : 2u * c->mss;
}

/* The first congestion avoidance after a timeout is a curve of its own: K = 0, W_max and W_est the
 * window it starts from (4.8); ssthresh was set as for any congestion event. */
static void cubic_on_rto(struct tcp_conn *c)
{
    c->cc_state.cubic.w_max = 0;
    c->cc_state.cubic.epoch_us = 0;
}

/* t must not count time the window went unused (5.8): a new stage begins from the restart window. */
static void cubic_on_idle(struct tcp_conn *c)
{
    c->cc_state.cubic.epoch_us = 0;
}

const struct tcp_cc_ops tcp_cc_cubic = {
    .cong_avoid = cubic_cong_avoid,
    .ssthresh = cubic_ssthresh,
    .on_rto = cubic_on_rto,
    .on_idle = cubic_on_idle,
};
