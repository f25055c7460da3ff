/*
** net_run.c -- runs of batches (ln_net_train_run, ln_net_test_run,
** ln_net_predict_run; the single-batch calls are runs of one) and the
** threads they use.
**
** A run is cut into segments, each either serial -- the calling thread runs
** the layers and every kernel forks its own OpenMP region above its size
** threshold -- or on a team: ONE parallel region for the whole segment
** (ln_parallel_region), the calling thread running the layers and the
** others taking the work layers and kernels hand out (lunet/parallel.h). A
** segment of a few hundred batches thus costs one fork/join, and the
** team's threads stay within reach between batches (spinning ~40 us, then
** sleeping on a futex: core/parallel.c) instead of being forked for every
** kernel.
**
** A team segment only starts once a serial batch of the same kind and at
** least this size has sized every buffer, so the region never allocates.
** In LN_NET_AUTO the choice is measured: probe segments alternate serial and
** team (LN__PROBE_*; a team far ahead after its first segment ends the
** probe, LN__FAR_AHEAD), the faster per batch then runs for LN__EXPLOIT_LEN
** batches (doubling while the team keeps winning), and the probe repeats --
** a busy machine (other processes on the cores) makes the team lose and
** serial wins, an idle one the reverse. The team must win by its median
** batch and in sum (a descheduled worker stalls single batches; the median
** hides that). A team that loses costs as little as possible: every team
** batch of a probe, its first ones too, counts its time beyond the serial
** median against a budget (LN__PROBE_BUDGET serial batch times; a
** segment's first batches up to LN__WARM_SLACK batch times and one rare
** stall are free: team_cost) and the probe ends once it is spent, or
** when the team's median after LN__PROBE_EARLY timed batches is no
** better; a serial probe segment whose batches were often delayed
** (LN__PROBE_CROWDED: no idle core) ends the probe before the team runs;
** after losses in a row the next probe
** comes 4x later each time and, from LN__LOST_SHORT, is one serial and one
** team segment on half the budget; a probe after a team exploit that
** held is one serial and one team segment too (full budget); a team
** exploit is watched every
** LN__WATCH_LEN batches (and against the budget at each) and left as soon
** as it no longer wins. Two serial batches in a row of LN__LONG_BATCH or
** more (not a probe segment's first; the batch that sized the buffers may
** be the first) end the first wait and make the probe segments short
** (LN__PROBE_LEN_LONG, one warm batch each, the early rule after the
** rest); the timed ones are the first probe's serial side, which is then
** one team segment. auto's serial segments run as one
** thread (see serial_alone). The policy and its measurements: docs/performance.md
** ("How auto decides"). The numbers never depend on any of it.
*/
#include <math.h>
#include <string.h>

#include "net_impl.h"
#include "lunet/overflow.h"

void ln__tuner_unsteady(ln_tuner *t) {
    for (int k = 0; k < LN__K_COUNT; k++) t->steady[k] = 0;
    t->steady_ydtype = -1;
}

/* A run: its batches' common fields, its extent and its stop conditions. */
typedef struct run_call {
    ln__batch tmpl; /* kind, apply, x, y, idx, out */
    int64_t start, count, batch, nbatches;
    double deadline; /* ln_time() after which the run stops; 0: none */
    ln_net_run *run;
    int stopped;
} run_call;

static int64_t batch_rows(const run_call *r, int64_t k) {
    int64_t s = k * r->batch;
    return r->count - s < r->batch ? r->count - s : r->batch;
}

/* Whether a segment starting with a batch of n rows may run on a team:
** several OpenMP threads, not inside a parallel region already, and every
** buffer sized by a serial batch of this kind with >= n rows (the later
** batches of a run are never larger). */
static int team_possible(const ln_tuner *t, const run_call *r, int64_t n) {
    if (!ln_parallel_team_possible()) return 0;
    if (n > t->steady[r->tmpl.kind]) return 0;
    if (r->tmpl.y && (int)r->tmpl.y->dtype != t->steady_ydtype) return 0;
    return 1;
}

/* Mode and length of the next segment of a run of `left` more batches of
** `batch` rows of this kind. */
static void plan(ln_tuner *t, int kind, int64_t batch, int64_t left, int *team,
                 int64_t *len) {
    *len = left;
    if (t->mode == LN_NET_SERIAL) { *team = 0; return; }
    if (t->mode == LN_NET_TEAM) { *team = 1; return; }
    ln__auto *a = &t->am[kind];
    if (a->ref_rows == 0) { /* the first batch that can run both ways: */
        memset(a, 0, sizeof *a); /* a few serial ones (warm caches), then probe */
        a->ref_rows = batch;
        a->best = LN_NET_SERIAL;
        a->left = LN__FIRST_WAIT;
        a->waiting = 1;
        /* a long sizing batch is the first of the two long ones */
        a->long_seen = a->long_lead = t->sized_long[kind];
        t->sized_long[kind] = 0;
    }
    *team = a->probing ? a->seg % 2 == 1 : a->best == LN_NET_TEAM;
    if (*len > a->left) *len = a->left;
}

/* Median of v[0..n) (sorted in place): robust to preemption spikes. */
static double median(double *v, int n) {
    if (n <= 0) return INFINITY;
    for (int i = 1; i < n; i++) /* insertion sort: n is small */
        for (int j = i; j > 0 && v[j - 1] > v[j]; j--) {
            double t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* How many serial batch times a team may lose, in all, in one probe (or in
** one watch window of a team exploit) before it is stopped: half as many
** once it has lost LN__LOST_SHORT times in a row. */
static double budget(const ln__auto *a) {
    return a->lost >= LN__LOST_SHORT ? 0.5 * LN__PROBE_BUDGET : LN__PROBE_BUDGET;
}

/* The probe is over: keep `best` for the next exploit segment. */
static void choose(ln_tuner *t, ln__auto *a, int best, double serial_ref) {
    if (best == LN_NET_TEAM) {
        t->stats.team_chosen++;
        /* A team that keeps winning is probed again less and less often. */
        if (a->best == LN_NET_TEAM && a->exploit > 0)
            a->exploit = a->exploit * 2 < LN__EXPLOIT_MAX ? a->exploit * 2 : LN__EXPLOIT_MAX;
        else
            a->exploit = LN__EXPLOIT_LEN;
        a->lost = 0;
    } else {
        t->stats.serial_chosen++;
        /* A team that keeps losing is probed 4x less often after each loss
        ** in a row: 256, 1024, 4096 batches. */
        a->lost++;
        int64_t e = LN__EXPLOIT_LEN;
        for (int i = 1; i < a->lost && e < LN__EXPLOIT_MAX; i++) e *= 4;
        a->exploit = e < LN__EXPLOIT_MAX ? e : LN__EXPLOIT_MAX;
    }
    a->best = best;
    a->serial_ref = serial_ref;
    a->probing = 0;
    a->left = a->exploit;
    a->into = 0;
    a->nseg_team = 0;
    a->nt[1] = 0;
    a->excess = 0;
}

/* Batches of a probe segment, and those at its start left out of its
** median (team: its start-up; serial: caches). */
static int64_t seg_len(const ln__auto *a) {
    return a->long_batches ? LN__PROBE_LEN_LONG : LN__PROBE_LEN;
}
static int warm_len(const ln__auto *a, int team) {
    return a->long_batches ? 1 : team ? LN__TEAM_WARM : LN__PROBE_WARM;
}

/* Median of the first n values of v, v left as it was. */
static double median_of(const double *v, int n) {
    double c[LN__PROBE_SEGMENTS / 2 * LN__PROBE_LEN];
    if (n > (int)(sizeof c / sizeof c[0])) n = (int)(sizeof c / sizeof c[0]);
    memcpy(c, v, sizeof c[0] * (size_t)n);
    return median(c, n);
}

/* What a team batch of dt adds to the team's time beyond the serial
** batch time ref. A segment's first LN__TEAM_WARM batches (warm: the
** worker is woken, the weights' halves move to its core and the second
** core comes up to speed, once per segment) are free up to LN__WARM_SLACK
** times ref each, and count beyond (a worker descheduled on a busy machine
** shows there first). Later batches count in full, except one stall (over
** LN__STALL times ref) per LN__STALL_GAP team batches: the host
** preempting a vCPU now and then stalls serial batches alike (4-7 ms once
** in ~800 batches either way on the 2-vCPU VM of issue 21), while a busy
** core stalls the team's batches again and again, and the second stall
** counts. */
static double team_cost(ln_tuner *t, ln__auto *a, int warm, double dt, double ref) {
    a->team_seen++;
    if (warm) {
        if (dt < ref) return dt - ref;
        return dt > LN__WARM_SLACK * ref ? dt - LN__WARM_SLACK * ref : 0;
    }
    if (dt > LN__STALL * ref &&
        (a->forgiven_at == 0 || a->team_seen - a->forgiven_at >= LN__STALL_GAP)) {
        a->forgiven_at = a->team_seen;
        t->stats.stalls_forgiven++;
        return 0;
    }
    return dt - ref;
}

/* A team batch of a probe, its segment's first ones included: the team's
** cost beyond the serial median so far (team_cost). 1 when it has cost
** more than the budget: the probe ends, serial chosen, and it counts as
** two losses in a row (a clear loss: the next probe comes 4x later and is
** short). */
static int probe_team_over(ln_tuner *t, ln__auto *a, int warm, double dt) {
    double ref = median_of(a->t[0], a->nt[0]);
    a->excess += team_cost(t, a, warm, dt, ref);
    if (a->excess <= budget(a) * ref) return 0;
    if (a->lost < LN__LOST_SHORT - 1) a->lost = LN__LOST_SHORT - 1;
    choose(t, a, LN_NET_SERIAL, ref);
    return 1;
}

/* Whether the serial probe segment just ended was crowded: at least
** LN__PROBE_CROWDED of its timed batches took over twice its median. The
** calling thread was then kept off its core again and again, which the
** scheduler does only when no core is idle: a second thread would wait
** as well, so the team is not tried. */
static int crowded(const ln__auto *a) {
    int n = a->nt[0] - a->seg_from, slow = 0;
    double m = median_of(a->t[0] + a->seg_from, n);
    for (int i = a->seg_from; i < a->nt[0]; i++) slow += a->t[0][i] > 2 * m;
    return n > 0 && slow >= LN__PROBE_CROWDED;
}

/* A team batch of a team exploit: 1 when the team no longer wins (its
** watch window's median is no better than the probe's serial median, or
** its time beyond that median passed the budget within the window). */
static int watch_team_lost(ln_tuner *t, ln__auto *a, int warm, int timed, double dt) {
    int lost = 0;
    a->excess += team_cost(t, a, warm, dt, a->serial_ref);
    if (a->excess > budget(a) * a->serial_ref) lost = 1;
    if (timed) {
        a->t[1][a->nt[1]++] = dt;
        if (a->nt[1] == LN__WATCH_LEN) {
            if (median(a->t[1], a->nt[1]) >= a->serial_ref) lost = 1;
            a->nt[1] = 0;
            a->excess = 0;
        }
    }
    return lost;
}

/* Whether the team segment just ended puts the team far ahead: its median
** batch under LN__FAR_AHEAD times the serial median, and no time lost in
** all. The probe's second pair only confirms such a team (at batch 128 it
** was 16 of a 430-batch epoch's 64 serial batches); the exploit's watch
** still leaves a team that turns. */
static int far_ahead(const ln__auto *a) {
    return a->excess < 0 && median_of(a->t[1], a->nt[1]) <
                                LN__FAR_AHEAD * median_of(a->t[0], a->nt[0]);
}

/* Account one batch of a planned segment (AUTO): its time when probing or
** watching a team exploit, and the move to the next segment. 1 when the
** segment is over (its planned length reached, or the team lost). */
static int account(ln_tuner *t, int kind, int team, int64_t n, double dt) {
    if (t->mode != LN_NET_AUTO) return 0;
    ln__auto *a = &t->am[kind];
    const int cap = (int)(sizeof a->t[0] / sizeof a->t[0][0]);
    const int warm = ++a->into <= warm_len(a, team);
    const int timed = !warm && n == a->ref_rows;
    if (!team && n == a->ref_rows && a->into >= 2 - a->waiting && !a->long_batches) {
        /* two in a row: one may be a stall (the wait's first batch
        ** counts: the batch sizing the buffers came before it, and is
        ** the first of the two when it was long: long_lead) */
        a->long_seen = dt >= LN__LONG_BATCH ? a->long_seen + 1 : 0;
        if (!a->long_seen) a->long_lead = 0;
        if (a->waiting && a->long_seen) a->t[0][a->long_seen - 1 - a->long_lead] = dt;
        if (a->long_seen >= 2) {
            a->long_batches = 1;
            if (a->waiting) a->left = 1; /* probe after this batch */
        }
    }
    if (a->probing && team && n == a->ref_rows && a->nt[0] > 0 &&
        probe_team_over(t, a, warm, dt))
        return 1;
    if (a->probing && timed && a->nt[team] < cap) {
        a->t[team][a->nt[team]++] = dt;
        if (team && ++a->nseg_team >= seg_len(a) - warm_len(a, 1) && a->nt[0] > 0 &&
            median_of(a->t[1] + a->nt[1] - a->nseg_team, a->nseg_team) >=
                median_of(a->t[0], a->nt[0])) {
            /* the team does not win: serial, without the rest of the probe */
            choose(t, a, LN_NET_SERIAL, median_of(a->t[0], a->nt[0]));
            return 1;
        }
    } else if (!a->probing && team && n == a->ref_rows && a->serial_ref > 0 &&
               watch_team_lost(t, a, warm, timed, dt)) {
        t->stats.team_dropped++;
        a->lost++;
        a->left = 1; /* probe again after this batch */
        a->exploit = 0;
    }
    if (--a->left > 0) return 0;
    a->into = 0;
    a->nseg_team = 0;
    if (!a->probing) { /* time to look (again): briefly after losses */
        t->stats.probes++;
        a->probing = 1;
        a->excess = 0;
        a->seg = 0;
        /* one serial and one team segment after losses in a row, and
        ** when a team exploit ran out without a loss (its watch already
        ** leaves a team that turns; the probe renews the serial
        ** reference): at a 430-batch epoch of batch 128 the second full
        ** probe's serial segments were 7 % of the batches. A team the
        ** watch dropped gets a full probe. */
        const int team_held = a->best == LN_NET_TEAM && a->lost == 0;
        a->nsegs = a->lost >= LN__LOST_SHORT || team_held ? 2 : LN__PROBE_SEGMENTS;
        a->nt[0] = a->nt[1] = 0;
        if (a->waiting && a->long_batches) {
            /* the long serial batches that ended the wait (two, or one
            ** after a long sizing batch) are the first probe's serial
            ** segment: the team is tried at once, once (a 16-batch CNN
            ** fit at batch 128 ran 12 of its batches on one thread) */
            a->nt[0] = 2 - a->long_lead;
            a->seg = 1;
            a->nsegs = 2;
        }
        a->waiting = 0;
        a->seg_from = 0;
        a->left = seg_len(a);
        return 1;
    }
    if (a->seg % 2 == 0 && crowded(a)) { /* serial, without trying the team */
        choose(t, a, LN_NET_SERIAL, median(a->t[0], a->nt[0]));
        return 1;
    }
    if (a->seg % 2 == 1 && a->seg + 1 < a->nsegs && far_ahead(a)) {
        choose(t, a, LN_NET_TEAM, median_of(a->t[0], a->nt[0]));
        return 1;
    }
    if (++a->seg < a->nsegs) {
        a->left = seg_len(a);
        a->seg_from = a->nt[0];
        return 1;
    }
    /* The team keeps every core busy: it must win clearly, by its median
    ** batch and in all (a worker descheduled now and then shows in the
    ** sum, not in the median). */
    double ts = median(a->t[0], a->nt[0]);
    double tt = median(a->t[1], a->nt[1]);
    choose(t, a, tt < 0.95 * ts && a->excess < 0 ? LN_NET_TEAM : LN_NET_SERIAL, ts);
    return 1;
}

LN_API void ln__tuner_sized(ln_tuner *t, int kind, double dt) {
    if (t->am[kind].ref_rows == 0) t->sized_long[kind] = dt >= LN__LONG_BATCH;
}

/* The tuner's steps for other batch loops (net_impl.h). */
LN_API void ln__tuner_plan(ln_tuner *t, int kind, int64_t batch, int64_t left,
                           int *team, int64_t *len) {
    plan(t, kind, batch, left, team, len);
}

LN_API int ln__tuner_account(ln_tuner *t, int kind, int team, int64_t n, double dt) {
    return account(t, kind, team, n, dt);
}

/* Batches [*k, k1) one after the other on this thread (with whatever team
** is installed); planned: they belong to a planned segment (accounted). */
static ln_status batches(ln_ctx *ctx, ln_net *net, run_call *r, int64_t *k,
                         int64_t k1, int team, int planned) {
    ln_net_run *run = r->run;
    ln_tuner *tu = &net->tuner;
    while (*k < k1) {
        ln__batch b = r->tmpl;
        double loss = 0;
        b.start = r->start + *k * r->batch;
        b.n = batch_rows(r, *k);
        if (*k + 1 < r->nbatches) { /* its rows are fetched while this runs */
            b.next_start = b.start + r->batch;
            b.next_n = batch_rows(r, *k + 1);
        }
        b.loss = &loss;
        /* sized buffers: nothing in the batch can fail half-way */
        b.early = b.n <= tu->steady[b.kind] && (!b.y || (int)b.y->dtype == tu->steady_ydtype);
        double t0 = ln_time();
        ln_status st = ln__net_batch(ctx, net, &b);
        if (st) return st;
        double t1 = ln_time();
        if (b.kind != LN__K_PREDICT) {
            run->loss = loss;
            if (!isfinite(loss) && run->nonfinite < 0) {
                run->nonfinite = *k;
                run->nonfinite_loss = loss;
            }
        }
        if (!team) { /* the buffers now hold this batch size */
            if (b.n > tu->steady[b.kind]) tu->steady[b.kind] = b.n;
            if (b.y) tu->steady_ydtype = (int)b.y->dtype;
        }
        if (team) tu->stats.team_batches++;
        else tu->stats.serial_batches++;
        int over = planned && account(tu, b.kind, team, b.n, t1 - t0);
        run->batches = ++*k;
        if (r->deadline > 0 && t1 >= r->deadline) {
            r->stopped = 1;
            break;
        }
        if (over) break; /* the next segment is planned afresh */
    }
    return LN_OK;
}

/* A segment on a team: one parallel region; this thread runs the batches
** with the team installed, the others serve its tasks. */
typedef struct segment {
    ln_ctx *ctx;
    ln_net *net;
    run_call *r;
    int64_t *k, k1;
} segment;

static ln_status segment_body(void *arg) {
    segment *s = arg;
    return batches(s->ctx, s->net, s->r, s->k, s->k1, 1, 1);
}

static ln_status team_segment(ln_ctx *ctx, ln_net *net, run_call *r,
                              int64_t *k, int64_t k1) {
    segment s = {ctx, net, r, k, k1};
    return ln_parallel_region(segment_body, &s);
}

/* A serial segment of LN_NET_AUTO: on this thread alone, as with one
** thread (the OpenMP thread count is 1 for its length), so that no kernel
** forks an OpenMP region of its own either. Serial is what auto falls back
** to when the second core does not pay; with the count left at 2 a kernel
** above its size threshold (a batch-128 product) would still fork and
** join, which on a busy machine -- OMP_WAIT_POLICY unset above all, its
** threads spinning -- ran at a fraction of one thread's speed. The
** buffers were sized at the full count by the run's first batch (the
** team_possible rule), and per-thread scratch never shrinks, so the team
** segments that follow still never allocate. */
static ln_status serial_alone(ln_ctx *ctx, ln_net *net, run_call *r,
                              int64_t *k, int64_t k1) {
    int nt = ln_get_num_threads();
    ln_set_num_threads(1);
    ln_status st = batches(ctx, net, r, k, k1, 0, 1);
    ln_set_num_threads(nt);
    return st;
}

static ln_status run_batches(ln_ctx *ctx, ln_net *net, run_call *r) {
    ln_net_run *run = r->run;
    ln__update_run_begin(&net->update); /* weights may have changed since the last run */
    run->batches = 0;
    run->nonfinite = -1;
    run->nonfinite_loss = 0;
    run->loss = 0;
    if (r->start < 0 || r->count < 0 || r->batch < 1)
        return ln_fail(ctx, LN_E_ARG, "net: a run of %lld rows from %lld in "
                       "batches of %lld", (long long)r->count,
                       (long long)r->start, (long long)r->batch);
    r->nbatches = r->count / r->batch + (r->count % r->batch != 0);
    int64_t k = 0;
    while (k < r->nbatches && !r->stopped) {
        int64_t n = batch_rows(r, k);
        ln_status st;
        if (ln_get_num_threads() < 2 || net->tuner.mode == LN_NET_SERIAL) {
            st = batches(ctx, net, r, &k, r->nbatches, 0, 0);
        } else if (!team_possible(&net->tuner, r, n)) {
            double t0 = ln_time();
            st = batches(ctx, net, r, &k, k + 1, 0, 0); /* sizes the buffers */
            ln__tuner_sized(&net->tuner, r->tmpl.kind, ln_time() - t0);
        } else {
            int team;
            int64_t len;
            plan(&net->tuner, r->tmpl.kind, r->batch, r->nbatches - k, &team, &len);
            st = team ? team_segment(ctx, net, r, &k, k + len)
                      : serial_alone(ctx, net, r, &k, k + len);
        }
        if (st) return st;
    }
    return LN_OK;
}

static ln_status start_run(ln_ctx *ctx, ln_net *net, run_call *r,
                           double max_seconds, int64_t max_batches) {
    if (max_seconds > 0) r->deadline = ln_time() + max_seconds;
    ln_status st = LN_OK;
    int64_t limit;
    if (max_batches >= 0 && ln_mul_ok(max_batches, r->batch, &limit) &&
        r->count > limit)
        r->count = limit;
    st = run_batches(ctx, net, r);
    return st;
}

/* ---- the public runs ------------------------------------------------------------ */

ln_status ln_net_train_run(ln_ctx *ctx, ln_net *net, const ln_tensor *x,
                           const ln_tensor *y, const int64_t *idx,
                           int64_t start, int64_t count, int64_t batch,
                           int apply, int64_t max_batches, double max_seconds,
                           ln_net_run *run) {
    if (!y) return ln_fail(ctx, LN_E_ARG, "net: training needs targets");
    if (apply && !net->update.opt)
        return ln_fail(ctx, LN_E_STATE, "net: a training step with the update "
                       "needs an optimizer (set_optimizer)");
    run_call r = {{LN__K_TRAIN, apply != 0, 0, x, y, idx, 0, 0, 0, 0, NULL, NULL, NULL},
                  start, count, batch, 0, 0, run, 0};
    return start_run(ctx, net, &r, max_seconds, max_batches);
}

ln_status ln_net_test_run(ln_ctx *ctx, ln_net *net, const ln_tensor *x,
                          const ln_tensor *y, int64_t start, int64_t count,
                          int64_t batch, int64_t max_batches,
                          double max_seconds, ln_net_run *run) {
    if (!y) return ln_fail(ctx, LN_E_ARG, "net: evaluation needs targets");
    run_call r = {{LN__K_TEST, 0, 0, x, y, NULL, 0, 0, 0, 0, NULL, NULL, NULL},
                  start, count, batch, 0, 0, run, 0};
    return start_run(ctx, net, &r, max_seconds, max_batches);
}

ln_status ln_net_predict_run(ln_ctx *ctx, ln_net *net, const ln_tensor *x,
                             int64_t start, int64_t count, int64_t batch,
                             ln_tensor *out, int64_t max_batches,
                             double max_seconds, ln_net_run *run) {
    run_call r = {{LN__K_PREDICT, 0, 0, x, NULL, NULL, 0, 0, 0, 0, NULL, out, NULL},
                  start, count, batch, 0, 0, run, 0};
    return start_run(ctx, net, &r, max_seconds, max_batches);
}

/* ---- graph runs (lunet/engine/net_graph.h) ----------------------------------------- */

/* The first target given (the tuner keys its buffers on its dtype). */
static const ln_tensor *first_target(const ln_net_io *io) {
    for (int k = 0; k < io->ny; k++)
        if (io->y && io->y[k]) return io->y[k];
    return NULL;
}

ln_status ln_net_graph_train_run(ln_ctx *ctx, ln_net *net, const ln_net_io *io,
                                 const int64_t *idx, int64_t start, int64_t count,
                                 int64_t batch, int apply, int64_t max_batches,
                                 double max_seconds, ln_net_run *run) {
    memset(run, 0, sizeof *run);
    run->nonfinite = -1;
    ln_status st = ln__graph_check_io(ctx, net, io, 1, 0);
    if (st) return st;
    if (apply && !net->update.opt)
        return ln_fail(ctx, LN_E_STATE, "net: a training step with the update "
                       "needs an optimizer (set_optimizer)");
    run_call r = {{LN__K_TRAIN, apply != 0, 0, io->x[0], first_target(io), idx, 0, 0,
                   0, 0, NULL, NULL, io},
                  start, count, batch, 0, 0, run, 0};
    return start_run(ctx, net, &r, max_seconds, max_batches);
}

ln_status ln_net_graph_test_run(ln_ctx *ctx, ln_net *net, const ln_net_io *io,
                                int64_t start, int64_t count, int64_t batch,
                                int64_t max_batches, double max_seconds,
                                ln_net_run *run) {
    memset(run, 0, sizeof *run);
    run->nonfinite = -1;
    ln_status st = ln__graph_check_io(ctx, net, io, 1, 0);
    if (st) return st;
    run_call r = {{LN__K_TEST, 0, 0, io->x[0], first_target(io), NULL, 0, 0, 0, 0,
                   NULL, NULL, io},
                  start, count, batch, 0, 0, run, 0};
    return start_run(ctx, net, &r, max_seconds, max_batches);
}

ln_status ln_net_graph_predict_run(ln_ctx *ctx, ln_net *net, const ln_net_io *io,
                                   int64_t start, int64_t count, int64_t batch,
                                   int64_t max_batches, double max_seconds,
                                   ln_net_run *run) {
    memset(run, 0, sizeof *run);
    run->nonfinite = -1;
    ln_status st = ln__graph_check_io(ctx, net, io, 0, 1);
    if (st) return st;
    run_call r = {{LN__K_PREDICT, 0, 0, io->x[0], NULL, NULL, 0, 0, 0, 0, NULL, NULL,
                   io},
                  start, count, batch, 0, 0, run, 0};
    return start_run(ctx, net, &r, max_seconds, max_batches);
}

/* ---- single batches: runs of one ------------------------------------------------- */

/* One batch of n rows as a run of one (an empty batch runs as is). */
static ln_status single(ln_ctx *ctx, ln_net *net, const ln__batch *tmpl,
                        int64_t start, int64_t n, double *loss) {
    if (n <= 0) {
        ln__batch b = *tmpl;
        double v = 0;
        b.start = start;
        b.n = n;
        b.loss = &v;
        ln_status st = ln__net_batch(ctx, net, &b);
        if (!st && loss) *loss = v;
        return st;
    }
    ln_net_run run;
    run_call r = {*tmpl, start, n, n, 0, 0, &run, 0};
    ln_status st = start_run(ctx, net, &r, 0, 1);
    if (!st && loss) *loss = run.loss;
    return st;
}

ln_status ln_net_train_batch(ln_ctx *ctx, ln_net *net, const ln_tensor *x,
                             const ln_tensor *y, const int64_t *idx,
                             int64_t start, int64_t n, double *loss) {
    if (!y) return ln_fail(ctx, LN_E_ARG, "net: training needs targets");
    ln__batch t = {LN__K_TRAIN, 0, 0, x, y, idx, 0, 0, 0, 0, NULL, NULL, NULL};
    return single(ctx, net, &t, start, n, loss);
}

ln_status ln_net_train_step(ln_ctx *ctx, ln_net *net, const ln_tensor *x,
                            const ln_tensor *y, const int64_t *idx,
                            int64_t start, int64_t n, double *loss) {
    if (!y) return ln_fail(ctx, LN_E_ARG, "net: training needs targets");
    if (!net->update.opt)
        return ln_fail(ctx, LN_E_STATE, "net: train_step without an optimizer "
                       "(set_optimizer)");
    ln__batch t = {LN__K_TRAIN, 1, 0, x, y, idx, 0, 0, 0, 0, NULL, NULL, NULL};
    return single(ctx, net, &t, start, n, loss);
}

ln_status ln_net_test_batch(ln_ctx *ctx, ln_net *net, const ln_tensor *x,
                            const ln_tensor *y, const int64_t *idx,
                            int64_t start, int64_t n, double *loss) {
    if (!y) return ln_fail(ctx, LN_E_ARG, "net: evaluation needs targets");
    ln__batch t = {LN__K_TEST, 0, 0, x, y, idx, 0, 0, 0, 0, NULL, NULL, NULL};
    return single(ctx, net, &t, start, n, loss);
}

ln_status ln_net_predict_batch(ln_ctx *ctx, ln_net *net, const ln_tensor *x,
                               int64_t start, int64_t n, ln_tensor *out) {
    ln__batch t = {LN__K_PREDICT, 0, 0, x, NULL, NULL, 0, 0, 0, 0, NULL, out, NULL};
    return single(ctx, net, &t, start, n, NULL);
}

/* ---- settings ---------------------------------------------------------------------- */

void ln_net_set_threading(ln_net *net, ln_net_threading mode) {
    net->tuner.mode = mode;
    memset(net->tuner.am, 0, sizeof net->tuner.am);
    memset(&net->tuner.stats, 0, sizeof net->tuner.stats);
}

ln_net_threading_stats ln_net_threading_stats_now(const ln_net *net) {
    return net->tuner.stats;
}

ln_net_threading ln_net_threading_now(const ln_net *net) {
    const ln_tuner *t = &net->tuner;
    if (ln_get_num_threads() < 2 || t->mode == LN_NET_SERIAL) return LN_NET_SERIAL;
    if (t->mode == LN_NET_TEAM) return LN_NET_TEAM;
    const ln__auto *a = &t->am[LN__K_TRAIN];
    if (a->probing && a->ref_rows) return a->seg % 2 == 1 ? LN_NET_TEAM : LN_NET_SERIAL;
    return a->best == LN_NET_TEAM ? LN_NET_TEAM : LN_NET_SERIAL;
}
