/*
** optimizer_impl.h -- the ln_optimizer struct, shared by optimizer.c
** (creation, learning rate, apply), optimizer_state.c (slots, globals,
** Keras weight lists) and optimizer_clip.c (gradient clipping). Private to
** the core.
*/
#ifndef LUNET_OPTIMIZER_IMPL_H
#define LUNET_OPTIMIZER_IMPL_H

#include "lunet/optimizer.h"

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

#endif
