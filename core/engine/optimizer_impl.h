/*
** optimizer_impl.h -- the ln_optimizer struct, shared by optimizer.c
** (creation, learning rate, apply), optimizer_state.c (slots, globals,
** Keras weight lists) and optimizer_clip.c (gradient clipping). Private to
** the core.
*/
#ifndef LUNET_OPTIMIZER_IMPL_H
#define LUNET_OPTIMIZER_IMPL_H

#include "lunet/engine/optimizer.h"

typedef struct ln_opt_var {
    ln_tensor *var; /* retained: identity of the variable */
    char name[LN_NAME_MAX];
    ln_tensor *slots[LN_MAX_SLOTS];
} ln_opt_var;

struct ln_optimizer {
    ln_object *obj; /* unit, plugin state, effective config */
    const ln_optimizer_ops *ops;
    char name[LN_NAME_MAX];

    double lr;            /* constant learning rate (no schedule) */
    ln_object *schedule;  /* or the schedule */
    double decay;
    double clipvalue, clipnorm, global_clipnorm; /* < 0: off */
    int64_t iterations;

    int nslots;
    const char *slot_names[LN_MAX_SLOTS];
    float slot_init[LN_MAX_SLOTS];
    int nglobals;
    const char *global_names[LN_MAX_SLOTS];
    double globals[LN_MAX_SLOTS];

    ln_opt_var *vars;
    int nvars, capvars;

    /* Per-apply work space, grown on the first steps only. */
    int *index;     /* position of pair i in vars */
    double *sumsq;  /* squared norms for global_clipnorm */
    int capwork;
    float *scratch; /* one clipped gradient */
    int64_t capscratch;

    /* the step being applied in pieces (ln__opt_step_*) */
    int64_t step_t;
    double step_lr;
};

/* Make sure scratch holds n floats (grows, never shrinks). */
ln_status ln__opt_reserve_scratch(ln_ctx *ctx, ln_optimizer *o, int64_t n);

/* The squared L2 norm of x after clipvalue (c < 0: no clipping), in double
** with a fixed blocking. */
double ln__clip_sumsq(const float *x, int64_t n, double clipvalue);
/* out <- x clipped by value (c < 0: none), then scaled by `scale` (1: none).
** out may equal x. */
void ln__clip_apply(float *out, const float *x, int64_t n, double clipvalue,
                    double scale);
/* The factor c / max(norm, c) of clip-by-norm given a squared norm; 1 when
** no clipping happens. */
double ln__clip_factor(double sumsq, double c);

/* A step applied in pieces, for the fused training step (net_update.c):
** the same numbers as one ln_optimizer_apply with the same pairs.
**   ln__opt_step_begin  once: variables resolved (slots must already exist
**                       for no allocation), t and the rate fixed, the
**                       plugin's begin_step run;
**   ln__opt_step_range  elements [lo, hi) of pair i with its gradient grad
**                       (the update rules are elementwise, so any cut of a
**                       variable gives the same numbers); disjoint ranges
**                       may run on different threads at once;
**   ln__opt_step_var    all of pair i (clipping as configured, but not a
**                       global norm);
**   ln__opt_step_end    iterations + 1.
** Pieces are only allowed without clipping and for elementwise update
** rules (no LN_OPT_WHOLE_VARIABLE): ln__opt_pieces_ok. */
int ln__opt_pieces_ok(const ln_optimizer *o);
ln_status ln__opt_step_begin(ln_ctx *ctx, ln_optimizer *o, int n,
                             ln_tensor *const *vars,
                             const ln_tensor *const *grads,
                             const char *const *names);
void ln__opt_step_range(ln_optimizer *o, int i, const float *grad, int64_t lo,
                        int64_t hi);
/* Whether the plugin offers update_reg (ABI 2.3, optional): then
** ln__opt_step_range_reg is elements [lo, hi) of pair i with the gradient
** of a regularizer l1 * sum|w| + l2 * sum w^2 folded into the update's own
** pass (grad is not written); the same numbers as adding it to grad and
** ln__opt_step_range. */
int ln__opt_folds_reg(const ln_optimizer *o);
void ln__opt_step_range_reg(ln_optimizer *o, int i, const float *grad,
                            int64_t lo, int64_t hi, double l1, double l2);
void ln__opt_step_var(ln_optimizer *o, int i, const float *grad);
void ln__opt_step_end(ln_optimizer *o);

#endif
