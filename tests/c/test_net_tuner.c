/* The automatic thread choice of a net (core/engine/net_run.c, LN_NET_AUTO)
** driven with synthetic batch times: which mode it plans, how many batches
** a losing team costs, how fast it leaves a team that starts losing, how
** it backs off from a team that keeps losing, that a worker stalling
** again and again (a busy machine) is not hidden by the medians, and that
** a rare stall (the host preempting a vCPU) does not cost the team.
** No clock is involved: the times are given. */
#include <string.h>

#include "testutil.h"
#include "../../core/engine/net_impl.h"

typedef struct {
    int64_t team_batches, serial_batches;
    int64_t team_late; /* team batches from the batch index `late` on */
    int64_t first_serial_exploit; /* batch where the first long serial segment began */
    int segments;
    int64_t probe_at[64]; /* batch index at which each probe began */
    int nprobes;
} tally;

/* Run `total` batches of 32 rows through the tuner as net_run.c does:
** segments as planned, cut short when account says so; batch k, the i-th
** of its segment, takes time(team, k, i). Team batches from index `late`
** on are counted apart. */
/* Seconds per unit of the synthetic times: 0.1 ms batches (a batch-32
** MLP step); long_batches_probe_briefly sets it to 10 ms (a CNN's). */
static double unit = 1e-4;

static tally drive_late(ln_tuner *t, int64_t total,
                        double (*time)(int team, int64_t k, int64_t i), int64_t late) {
    tally c = {0, 0, 0, -1, 0, {0}, 0};
    int64_t k = 0;
    while (k < total) {
        int team;
        int64_t len;
        ln__tuner_plan(t, LN__K_TRAIN, 32, total - k, &team, &len);
        ck_assert_int_gt(len, 0);
        c.segments++;
        if (!team && len > LN__PROBE_LEN && c.first_serial_exploit < 0)
            c.first_serial_exploit = k;
        for (int64_t i = 0; i < len && k < total; i++, k++) {
            if (team) c.team_batches++, c.team_late += k >= late;
            else c.serial_batches++;
            int64_t probes = t->stats.probes;
            int over = ln__tuner_account(t, LN__K_TRAIN, team, 32, unit * time(team, k, i));
            if (t->stats.probes > probes && c.nprobes < 64) c.probe_at[c.nprobes++] = k + 1;
            if (over) {
                k++;
                break;
            }
        }
    }
    return c;
}

static tally drive(ln_tuner *t, int64_t total,
                   double (*time)(int team, int64_t k, int64_t i)) {
    return drive_late(t, total, time, INT64_MAX);
}

static ln_tuner fresh(void) {
    ln_tuner t;
    memset(&t, 0, sizeof t);
    t.mode = LN_NET_AUTO;
    return t;
}

/* Whether the next batch of a long run would go to the team. */
static int next_is_team(ln_tuner *t) {
    int team;
    int64_t len;
    ln__tuner_plan(t, LN__K_TRAIN, 32, 1000000, &team, &len);
    return team;
}

/* times of batch k, the i-th of its segment */
static double team_slow(int team, int64_t k, int64_t i) { return team ? 1.3 : 1.0; }
static double team_fast(int team, int64_t k, int64_t i) { return team ? 0.6 : 1.0; }
static double team_even(int team, int64_t k, int64_t i) { return team ? 0.97 : 1.0; }
/* far ahead by the median (0.5), but three of a segment's timed batches
** take 2: half a serial batch time lost in all */
static double team_uneven(int team, int64_t k, int64_t i) {
    if (!team) return 1.0;
    if (i < LN__TEAM_WARM) return 1.0;
    return i < LN__TEAM_WARM + 3 ? 2.0 : 0.5;
}
/* the team wins, then (another process takes the second core) loses */
static double team_turns(int team, int64_t k, int64_t i) {
    return team ? (k < 600 ? 0.6 : 1.5) : 1.0;
}

/* A team that loses is dropped after LN__TEAM_WARM + LN__PROBE_EARLY of its
** batches per probe, not after the two 16-batch team segments. */
START_TEST(losing_team_stops_early) {
    ln_tuner t = fresh();
    tally c = drive(&t, 300, team_slow);
    ck_assert_int_eq(c.team_batches, LN__TEAM_WARM + LN__PROBE_EARLY);
    /* first wait + one serial probe segment + the cut team segment */
    ck_assert_int_eq(c.first_serial_exploit,
                     LN__FIRST_WAIT + LN__PROBE_LEN + LN__TEAM_WARM + LN__PROBE_EARLY);
    /* over many probes: never more than that per probe */
    t = fresh();
    c = drive(&t, 20000, team_slow);
    int64_t probes = c.segments; /* an upper bound on the probes */
    ck_assert_int_le(c.team_batches, probes * (LN__TEAM_WARM + LN__PROBE_EARLY));
    ck_assert_int_lt(c.team_batches, 20000 / 100); /* < 1% of the batches */
}
END_TEST

START_TEST(winning_team_is_kept) {
    ln_tuner t = fresh();
    tally c = drive(&t, 5000, team_fast);
    ck_assert_int_gt(c.team_batches, 5000 * 9 / 10);
    ck_assert_int_eq(next_is_team(&t), 1);
}
END_TEST

/* Within the 5 % margin the full probe runs and serial is kept. */
START_TEST(even_team_is_not_kept) {
    ln_tuner t = fresh();
    tally c = drive(&t, 5000, team_even);
    ck_assert_int_lt(c.team_batches, 5000 / 10);
    ck_assert_int_eq(next_is_team(&t), 0);
}
END_TEST

/* A team exploit segment that starts losing ends within LN__WATCH_LEN
** timed batches; the probe that follows starts with serial and settles on
** serial. */
START_TEST(team_that_turns_is_left) {
    ln_tuner t = fresh();
    const int64_t slow_team = drive_late(&t, 3000, team_turns, 600).team_late;
    /* the exploit's check (a full watch window after the turn, its warm
    ** batches included) and then cut probes only */
    ck_assert_int_le(slow_team, 2 * LN__WATCH_LEN + LN__TEAM_WARM +
                                    8 * (LN__TEAM_WARM + LN__PROBE_EARLY));
    ck_assert_int_eq(next_is_team(&t), 0);
}
END_TEST

/* A busy machine: the worker, descheduled, stalls the first batch of each
** team segment (20 serial batch times). That batch alone exceeds the
** probe's budget: the probe ends after it, serial chosen, and such a clear
** loss counts as two: the next probe comes 4x later and is short. */
static double team_stalls_first(int team, int64_t k, int64_t i) {
    return team ? (i == 0 ? 20.0 : 0.6) : 1.0;
}

START_TEST(stalled_probe_ends_at_once) {
    ln_tuner t = fresh();
    tally c = drive(&t, 300, team_stalls_first);
    ck_assert_int_eq(c.team_batches, 1);
    ck_assert_int_eq(c.first_serial_exploit, LN__FIRST_WAIT + LN__PROBE_LEN + 1);
    ck_assert_int_eq(t.stats.serial_chosen, 1);
    ck_assert_int_eq(t.stats.team_chosen, 0);
    ck_assert_int_eq(next_is_team(&t), 0);
    t = fresh();
    c = drive(&t, 5000, team_stalls_first);
    ck_assert_int_ge(c.nprobes, 2);
    ck_assert_int_ge(c.probe_at[1] - c.probe_at[0], 4 * LN__EXPLOIT_LEN);
    ck_assert_int_eq(c.team_batches, c.nprobes); /* one per probe */
}
END_TEST

/* Another process keeps taking the calling thread's core (every 4th serial
** batch 3x its median): no core is idle, a team's worker would wait too.
** The team is never tried, even though it would be fast when it runs. */
static double crowded_machine(int team, int64_t k, int64_t i) {
    return team ? 0.6 : (k % 4 == 3 ? 3.0 : 1.0);
}

START_TEST(crowded_machine_never_tries_team) {
    ln_tuner t = fresh();
    tally c = drive(&t, 20000, crowded_machine);
    ck_assert_int_eq(c.team_batches, 0);
    ck_assert_int_ge(t.stats.probes, 3);
    ck_assert_int_eq(t.stats.serial_chosen, t.stats.probes);
}
END_TEST

/* Every 4th team batch stalls (5 serial batch times), the others are fast:
** the team's median wins, its sum loses (1.7 per batch). The medians must
** not hide it: serial is chosen every time, within the first team segment
** of each probe (its warm batches count beyond LN__WARM_SLACK, one timed
** stall is forgiven, the next one spends the budget). */
static double team_stalls_often(int team, int64_t k, int64_t i) {
    return team ? (i % 4 == 3 ? 5.0 : 0.6) : 1.0;
}

START_TEST(stalls_not_hidden_by_medians) {
    ln_tuner t = fresh();
    tally c = drive(&t, 20000, team_stalls_often);
    ck_assert_int_eq(t.stats.team_chosen, 0);
    ck_assert_int_ge(t.stats.serial_chosen, 3);
    ck_assert_int_le(c.team_batches, t.stats.probes * LN__PROBE_LEN);
    ck_assert_int_eq(next_is_team(&t), 0);
}
END_TEST

/* A team that keeps losing is probed 4x less often after each loss in a
** row (256, 1024, then 4096 batches between probes), not 2x. */
START_TEST(losing_team_backs_off) {
    ln_tuner t = fresh();
    tally c = drive(&t, 20000, team_slow);
    const int64_t most = 2 * LN__PROBE_LEN; /* a probe's own batches, at most */
    ck_assert_int_ge(c.nprobes, 4);
    ck_assert_int_eq(c.probe_at[0], LN__FIRST_WAIT);
    ck_assert_int_ge(c.probe_at[1] - c.probe_at[0], LN__EXPLOIT_LEN);
    ck_assert_int_le(c.probe_at[1] - c.probe_at[0], LN__EXPLOIT_LEN + most);
    ck_assert_int_ge(c.probe_at[2] - c.probe_at[1], 4 * LN__EXPLOIT_LEN);
    ck_assert_int_le(c.probe_at[2] - c.probe_at[1], 4 * LN__EXPLOIT_LEN + most);
    for (int j = 3; j < c.nprobes; j++) {
        ck_assert_int_ge(c.probe_at[j] - c.probe_at[j - 1], LN__EXPLOIT_MAX);
        ck_assert_int_le(c.probe_at[j] - c.probe_at[j - 1], LN__EXPLOIT_MAX + most);
    }
}
END_TEST

/* A team that is never clearly faster (3 %) runs whole probes, until it has
** lost twice in a row: then a probe is one serial and one team segment. */
START_TEST(short_probes_after_two_losses) {
    ln_tuner t = fresh();
    /* the first wait, two full probes and their exploits, a third probe */
    const int64_t full = LN__PROBE_SEGMENTS * LN__PROBE_LEN;
    const int64_t total = LN__FIRST_WAIT + full + LN__EXPLOIT_LEN + full +
                          4 * LN__EXPLOIT_LEN + 2 * LN__PROBE_LEN;
    tally c = drive(&t, total, team_even);
    ck_assert_int_eq(c.nprobes, 3);
    ck_assert_int_eq(c.team_batches, 2 * (full / 2) + LN__PROBE_LEN);
    ck_assert_int_eq(t.stats.serial_chosen, 3);
    /* the short probe's outcome is taken: a long serial exploit follows */
    int team;
    int64_t len;
    ln__tuner_plan(&t, LN__K_TRAIN, 32, 1000000, &team, &len);
    ck_assert_int_eq(team, 0);
    ck_assert_int_eq(len, LN__EXPLOIT_MAX);
}
END_TEST

/* An idle machine: the team is 25 % faster, its segments' first batch is
** slow (waking the worker: 2 serial batch times) and a rare batch is hit
** by another process (3x). The team is chosen at each probe and kept: of
** a 576-batch fit only the first wait and the probes' serial segments
** are serial -- two in the first probe, one in the next (a probe after a
** team exploit that held is one serial and one team segment). */
static double team_quiet(int team, int64_t k, int64_t i) {
    if (k % 500 == 499) return 3.0;
    return team ? (i == 0 ? 2.0 : 0.75) : 1.0;
}

/* A team that should win everywhere: chosen at both probes of a
** 576-batch fit (*fit576 its stats), and over 20,000 batches (*long_run)
** chosen at every probe, never dropped, on > 95 % of the batches. */
static void team_always_kept(double (*time)(int team, int64_t k, int64_t i),
                             ln_tuner *fit576, ln_tuner *long_run) {
    *fit576 = fresh();
    tally c = drive(fit576, 576, time);
    ck_assert_int_eq(c.serial_batches,
                     LN__FIRST_WAIT + (LN__PROBE_SEGMENTS / 2) * LN__PROBE_LEN + LN__PROBE_LEN);
    ck_assert_int_eq(c.nprobes, 2);
    /* the second probe (after the team's exploit held): its two
    ** segments, then the team again, for twice the first exploit */
    ck_assert_int_eq(c.probe_at[1] - c.probe_at[0],
                     LN__PROBE_SEGMENTS * LN__PROBE_LEN + LN__EXPLOIT_LEN);
    ck_assert_int_eq(fit576->stats.team_chosen, 2);
    ck_assert_int_eq(fit576->stats.team_dropped, 0);
    *long_run = fresh();
    c = drive(long_run, 20000, time);
    ck_assert_int_gt(c.team_batches, 20000 * 95 / 100);
    ck_assert_int_eq(long_run->stats.serial_chosen, 0);
    ck_assert_int_eq(long_run->stats.team_dropped, 0);
}

/* A team far ahead (0.6 of a serial batch, under LN__FAR_AHEAD) is chosen
** after the first probe's first team segment: of a 576-batch fit, the
** first wait and one serial segment per probe are serial. A team 25 %
** ahead (team_quiet) runs the whole probe (team_always_kept), and so does
** a team whose median is far ahead but that lost time in all. */
START_TEST(far_ahead_team_chosen_at_once) {
    ln_tuner t = fresh();
    tally c = drive(&t, 576, team_fast);
    ck_assert_int_eq(c.serial_batches, LN__FIRST_WAIT + 2 * LN__PROBE_LEN);
    ck_assert_int_eq(c.nprobes, 2);
    ck_assert_int_eq(c.probe_at[1] - c.probe_at[0], 2 * LN__PROBE_LEN + LN__EXPLOIT_LEN);
    ck_assert_int_eq(t.stats.team_chosen, 2);
    /* time lost in all keeps the whole probe */
    t = fresh();
    c = drive(&t, LN__FIRST_WAIT + LN__PROBE_SEGMENTS * LN__PROBE_LEN, team_uneven);
    ck_assert_int_eq(c.team_batches, (LN__PROBE_SEGMENTS / 2) * LN__PROBE_LEN);
    ck_assert_int_eq(t.stats.team_chosen + t.stats.serial_chosen, 1);
}
END_TEST

START_TEST(quiet_team_still_chosen) {
    ln_tuner a, b;
    team_always_kept(team_quiet, &a, &b);
}
END_TEST

/* A team exploit whose worker starts stalling (every 4th batch 5x, its
** median still fast) is left within a watch window, and the probes that
** follow end after a few team batches each. */
static double team_starts_stalling(int team, int64_t k, int64_t i) {
    if (!team) return 1.0;
    if (k < 1000) return 0.6;
    return i % 4 == 3 ? 5.0 : 0.6;
}

START_TEST(stalling_team_is_left) {
    ln_tuner t = fresh();
    const int64_t late_team = drive_late(&t, 8000, team_starts_stalling, 1000).team_late;
    ck_assert_int_ge(t.stats.team_dropped, 1);
    ck_assert_int_le(late_team, LN__WATCH_LEN + LN__TEAM_WARM +
                                    8 * (LN__TEAM_WARM + LN__PROBE_EARLY));
    ck_assert_int_eq(next_is_team(&t), 0);
}
END_TEST

/* The 2-vCPU VM of issue 21: the host preempts a vCPU now and then (one
** batch in 700 takes 12 serial batch times, serial or team alike, one of
** them in the first probe's team segment), a team segment's first batch
** is slow (2.5: the worker is woken, the kernel halves move to its core)
** and the team is otherwise 25 % faster. Each such stall is forgiven (one
** per LN__STALL_GAP team batches): the team is chosen at every probe and
** never dropped. Counted in full, the first stall alone (11 batch times
** beyond the median) exceeded the budget and chose serial. */
static double rare_stalls(int team, int64_t k, int64_t i) {
    if (k % 700 == 40) return 12.0;
    return team ? (i == 0 ? 2.5 : 0.75) : 1.0;
}

START_TEST(rare_stall_is_forgiven) {
    ln_tuner a, b;
    team_always_kept(rare_stalls, &a, &b);
    ck_assert_int_eq(a.stats.stalls_forgiven, 1);
    ck_assert_int_ge(b.stats.stalls_forgiven, 20000 / 700 - 2);
}
END_TEST

/* Stalls every 50 batches (20 serial batch times) cost the team more
** than it gains (0.75 otherwise): only one per LN__STALL_GAP team
** batches is forgiven, the next one counts, and the team is left. */
static double frequent_stalls(int team, int64_t k, int64_t i) {
    if (k % 50 == 25) return 20.0;
    return team ? 0.75 : 1.0;
}

START_TEST(frequent_stalls_are_not_forgiven) {
    ln_tuner t = fresh();
    tally c = drive(&t, 20000, frequent_stalls);
    ck_assert_int_lt(c.team_batches, 20000 / 10);
    ck_assert_int_ge(t.stats.team_dropped + t.stats.serial_chosen, 2);
    ck_assert_int_eq(next_is_team(&t), 0);
}
END_TEST

/* The fixed modes are never changed by the times. */
/* Batches of 10 ms: the first wait ends after its third batch and the
** probe is four segments of LN__PROBE_LEN_LONG, so a winning team is
** chosen within a 20-batch epoch (an RNN's), a losing one costs at most
** its first segment, and a team within the 5 % margin is not kept. */
static double short_then_long(int team, int64_t k, int64_t i) {
    if (team) return 0.6;
    return k == 0 ? 0.1 : k == 2 ? 3.0 : 1.0;
}
static double lone_stall(int team, int64_t k, int64_t i) {
    return k == 2 ? 100.0 : team ? 0.6 : 1.0;
}

START_TEST(long_batches_probe_briefly) {
    unit = 1e-2;
    const int64_t probe = LN__PROBE_SEGMENTS * LN__PROBE_LEN_LONG;
    ln_tuner t = fresh();
    /* the wait ends after two long serial batches, which are the first
    ** probe's serial side: one team segment, a faster team chosen after
    ** 2 + 4 batches */
    tally c = drive(&t, 2 + LN__PROBE_LEN_LONG, team_fast);
    ck_assert_int_eq(c.probe_at[0], 2);
    ck_assert_int_eq(t.stats.team_chosen, 1);
    ck_assert_int_eq(c.team_batches, LN__PROBE_LEN_LONG);
    ck_assert_int_eq(c.serial_batches, 2);
    ck_assert_int_eq(next_is_team(&t), 1);
    /* a 16-batch fit: all but those 2 on the team */
    t = fresh();
    c = drive(&t, 16, team_fast);
    ck_assert_int_eq(c.team_batches, 14);
    t = fresh();
    c = drive(&t, 2000, team_fast);
    ck_assert_int_gt(c.team_batches, 2000 * 95 / 100);
    t = fresh();
    c = drive(&t, 100, team_slow);
    ck_assert_int_eq(c.team_batches, LN__PROBE_LEN_LONG);
    ck_assert_int_eq(next_is_team(&t), 0);
    t = fresh();
    c = drive(&t, 100, team_even);
    ck_assert_int_le(c.team_batches, probe / 2);
    ck_assert_int_eq(next_is_team(&t), 0);
    /* a long batch sized the buffers: it is the first of the two, so one
    ** timed serial batch is the probe's serial side (a 10-batch predict at
    ** batch 1000 ran 3 of its batches without the team) */
    t = fresh();
    ln__tuner_sized(&t, LN__K_TRAIN, 1e-2);
    c = drive(&t, 1 + LN__PROBE_LEN_LONG, team_fast);
    ck_assert_int_eq(c.probe_at[0], 1);
    ck_assert_int_eq(c.serial_batches, 1);
    ck_assert_int_eq(t.stats.team_chosen, 1);
    t = fresh();
    ln__tuner_sized(&t, LN__K_TRAIN, 1e-2);
    c = drive(&t, 10, team_fast);
    ck_assert_int_eq(c.team_batches, 9);
    t = fresh(); /* a short sizing batch, or one before another kind, counts for nothing */
    ln__tuner_sized(&t, LN__K_TRAIN, 1e-3);
    ln__tuner_sized(&t, LN__K_PREDICT, 1e-2);
    c = drive(&t, 16, team_fast);
    ck_assert_int_eq(c.team_batches, 14);
    t = fresh(); /* a long sizing batch, a short batch, then two long ones */
    ln__tuner_sized(&t, LN__K_TRAIN, 1e-2);
    c = drive(&t, 3 + LN__PROBE_LEN_LONG, short_then_long);
    ck_assert_int_eq(c.probe_at[0], 3);
    ck_assert_int_eq(c.serial_batches, 3);
    ck_assert_int_eq(t.am[LN__K_TRAIN].best, LN_NET_TEAM);
    /* the serial reference: the two timed long batches (1 and 3 units) */
    ck_assert_double_eq_tol(t.am[LN__K_TRAIN].serial_ref, 2.0 * unit, 1e-12);
    t = fresh(); /* a long sizing batch, then short batches: not long */
    ln__tuner_sized(&t, LN__K_TRAIN, 1e-2);
    unit = 1e-4;
    c = drive(&t, LN__FIRST_WAIT + 4, team_fast);
    ck_assert_int_eq(c.nprobes, 1);
    ck_assert_int_eq(c.probe_at[0], LN__FIRST_WAIT);
    /* 0.1 ms batches with a lone 10 ms stall: not long (the first probe
    ** comes after the full first wait) */
    unit = 1e-4;
    t = fresh();
    c = drive(&t, LN__FIRST_WAIT + 4, lone_stall);
    ck_assert_int_eq(c.nprobes, 1);
    ck_assert_int_eq(c.probe_at[0], LN__FIRST_WAIT);
}
END_TEST

START_TEST(fixed_modes) {
    ln_tuner t = fresh();
    t.mode = LN_NET_SERIAL;
    tally c = drive(&t, 500, team_fast);
    ck_assert_int_eq(c.team_batches, 0);
    t = fresh();
    t.mode = LN_NET_TEAM;
    c = drive(&t, 500, team_slow);
    ck_assert_int_eq(c.serial_batches, 0);
}
END_TEST

int main(void) {
    Suite *s = suite_create("net_tuner");
    TCase *tc = tcase_create("tuner");
    tcase_add_test(tc, losing_team_stops_early);
    tcase_add_test(tc, winning_team_is_kept);
    tcase_add_test(tc, even_team_is_not_kept);
    tcase_add_test(tc, team_that_turns_is_left);
    tcase_add_test(tc, stalled_probe_ends_at_once);
    tcase_add_test(tc, stalls_not_hidden_by_medians);
    tcase_add_test(tc, crowded_machine_never_tries_team);
    tcase_add_test(tc, losing_team_backs_off);
    tcase_add_test(tc, short_probes_after_two_losses);
    tcase_add_test(tc, far_ahead_team_chosen_at_once);
    tcase_add_test(tc, quiet_team_still_chosen);
    tcase_add_test(tc, stalling_team_is_left);
    tcase_add_test(tc, rare_stall_is_forgiven);
    tcase_add_test(tc, frequent_stalls_are_not_forgiven);
    tcase_add_test(tc, long_batches_probe_briefly);
    tcase_add_test(tc, fixed_modes);
    suite_add_tcase(s, tc);
    return lt_run(s);
}
