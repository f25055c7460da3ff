/* The automatic thread choice of a net (core/engine/net_run.c, LN_NET_AUTO)
** driven with synthetic batch times: which mode it plans, how many batches
** a losing team costs, and how fast it leaves a team that starts losing.
** No clock is involved: the times are given. */
#include <string.h>

#include "testutil.h"
#include "../../core/engine/net_impl.h"

typedef struct {
    int64_t team_batches, serial_batches;
    int64_t first_serial_exploit; /* batch where the first long serial segment began */
    int segments;
} tally;

/* Run `total` batches of 32 rows through the tuner as net_run.c does:
** segments as planned, cut short when account says so; a batch takes
** time(team, batch index). */
static tally drive(ln_tuner *t, int64_t total, double (*time)(int team, int64_t k)) {
    tally c = {0, 0, -1, 0};
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
            if (team) c.team_batches++;
            else c.serial_batches++;
            if (ln__tuner_account(t, LN__K_TRAIN, team, 32, time(team, k))) {
                k++;
                break;
            }
        }
    }
    return c;
}

static ln_tuner fresh(void) {
    ln_tuner t;
    memset(&t, 0, sizeof t);
    t.mode = LN_NET_AUTO;
    return t;
}

static double team_slow(int team, int64_t k) { return team ? 1.3 : 1.0; }
static double team_fast(int team, int64_t k) { return team ? 0.6 : 1.0; }
static double team_even(int team, int64_t k) { return team ? 0.97 : 1.0; }
/* the team wins, then (another process takes the second core) loses */
static double team_turns(int team, int64_t k) { return team ? (k < 600 ? 0.6 : 1.5) : 1.0; }

/* A team that loses is dropped after LN__PROBE_WARM + LN__PROBE_EARLY of its
** batches per probe, not after the two 16-batch team segments. */
START_TEST(losing_team_stops_early) {
    ln_tuner t = fresh();
    tally c = drive(&t, 300, team_slow);
    ck_assert_int_eq(c.team_batches, LN__PROBE_WARM + LN__PROBE_EARLY);
    /* first wait + one serial probe segment + the cut team segment */
    ck_assert_int_eq(c.first_serial_exploit,
                     LN__FIRST_WAIT + LN__PROBE_LEN + LN__PROBE_WARM + LN__PROBE_EARLY);
    /* over many probes: never more than that per probe */
    t = fresh();
    c = drive(&t, 20000, team_slow);
    int64_t probes = c.segments; /* an upper bound on the probes */
    ck_assert_int_le(c.team_batches, probes * (LN__PROBE_WARM + LN__PROBE_EARLY));
    ck_assert_int_lt(c.team_batches, 20000 / 100); /* < 1% of the batches */
}
END_TEST

START_TEST(winning_team_is_kept) {
    ln_tuner t = fresh();
    tally c = drive(&t, 5000, team_fast);
    ck_assert_int_gt(c.team_batches, 5000 * 9 / 10);
    int team;
    int64_t len;
    ln__tuner_plan(&t, LN__K_TRAIN, 32, 1000000, &team, &len);
    ck_assert_int_eq(team, 1);
}
END_TEST

/* Within the 5 % margin the full probe runs and serial is kept. */
START_TEST(even_team_is_not_kept) {
    ln_tuner t = fresh();
    tally c = drive(&t, 5000, team_even);
    ck_assert_int_lt(c.team_batches, 5000 / 10);
    int team;
    int64_t len;
    ln__tuner_plan(&t, LN__K_TRAIN, 32, 1000000, &team, &len);
    ck_assert_int_eq(team, 0);
}
END_TEST

/* A team exploit segment that starts losing ends within LN__WATCH_LEN
** timed batches; the probe that follows starts with serial and settles on
** serial. */
START_TEST(team_that_turns_is_left) {
    ln_tuner t = fresh();
    int64_t slow_team = 0, k = 0;
    while (k < 3000) {
        int team;
        int64_t len;
        ln__tuner_plan(&t, LN__K_TRAIN, 32, 3000 - k, &team, &len);
        for (int64_t i = 0; i < len; i++, k++) {
            double dt = team_turns(team, k);
            if (team && k >= 600) slow_team++;
            if (ln__tuner_account(&t, LN__K_TRAIN, team, 32, dt)) {
                k++;
                break;
            }
        }
    }
    /* the exploit's check (a full watch window after the turn, its warm
    ** batches included) and then cut probes only */
    ck_assert_int_le(slow_team, 2 * LN__WATCH_LEN + LN__PROBE_WARM +
                                    8 * (LN__PROBE_WARM + LN__PROBE_EARLY));
    int team;
    int64_t len;
    ln__tuner_plan(&t, LN__K_TRAIN, 32, 1000000, &team, &len);
    ck_assert_int_eq(team, 0);
}
END_TEST

/* The fixed modes are never changed by the times. */
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
    tcase_add_test(tc, fixed_modes);
    suite_add_tcase(s, tc);
    return lt_run(s);
}
