/*
 * tcp_cc_newreno.c — NewReno's window rules (RFC 5681 3.1, RFC 6582): one segment more per window
 * acknowledged in congestion avoidance, half the flight at a congestion event. One row of the
 * congestion-control table (tcp_cc.c), which does slow start, recovery and the RTO around it.
 */
#include "net/tcp_conn.h"

static void newreno_cong_avoid(const struct tcp_engine *e, struct tcp_conn *c, uint32_t acked)
{
    (void)e;
    c->cc_state.newreno.acked_ca += acked;
    if (c->cc_state.newreno.acked_ca >= c->cwnd) {
        c->cc_state.newreno.acked_ca -= c->cwnd;
        c->cwnd += c->mss;
    }
}

static uint32_t newreno_ssthresh(struct tcp_conn *c, uint32_t flight)
{
    return flight / 2 > 2u * c->mss ? flight / 2 : 2u * c->mss;
}

static void newreno_on_rto(struct tcp_conn *c)
{
    c->cc_state.newreno.acked_ca = 0;
}

const struct tcp_cc_ops tcp_cc_newreno = {
    .cong_avoid = newreno_cong_avoid,
    .ssthresh = newreno_ssthresh,
    .on_rto = newreno_on_rto,
};
