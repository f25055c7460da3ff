/*
** tensor_copy.h -- private to the tensor_ops*.c files: the strided copy
** under permute, contiguous() and region reads (tensor_copy.c).
*/
#ifndef LUNET_TENSOR_COPY_H
#define LUNET_TENSOR_COPY_H

#include <stddef.h>
#include <stdint.h>

#include "lunet/tensor.h"

/* out[i] (n elements, contiguous, shape `shape`) = in[sum c_d * stride[d]]
** for i's coordinates c; elements of es bytes (1 or 4), strides in
** elements. Parallel above LN_PAR_MIN elements; the same bytes on any
** thread count. */
void ln_strided_copy(void *out, const void *in, size_t es, int nd,
                     const int64_t *shape, const int64_t *stride, int64_t n);

#endif
