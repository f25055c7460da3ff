/*
** tensor_dtype.h -- private to core's tensor loops: one switch over the
** element types, for loops written once as a macro of the element type.
**
**     #define FILL(T, AT) do { T *p = AT(x); ... } while (0)
**     LN_DTYPE_SWITCH(x->dtype, FILL);
**
** M(T, AT) is expanded once per dtype with T its C type and AT its
** accessor (ln_f32, ln_i32, ln_u8: tensor.h).
*/
#ifndef LUNET_TENSOR_DTYPE_H
#define LUNET_TENSOR_DTYPE_H

#include "lunet/tensor.h"

#define LN_DTYPE_SWITCH(DTYPE, M)                                            \
    switch (DTYPE) {                                                         \
    case LN_FLOAT32: M(float, ln_f32); break;                                \
    case LN_INT32: M(int32_t, ln_i32); break;                                \
    case LN_UINT8: M(uint8_t, ln_u8); break;                                 \
    }

#endif
