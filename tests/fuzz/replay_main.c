/*
** replay_main.c -- feeds files to a fuzz harness without libFuzzer, so the
** seed corpus and every past crash input run as ordinary CTest tests with
** any compiler (gcc here; under -DLUNET_SANITIZE=ON with ASan and UBSan).
**
**   fuzz_replay_<target> DIR_OR_FILE...
**
** Every regular file (directories are walked one level, in name order) is
** passed to LLVMFuzzerTestOneInput once. A harness that finds a broken
** invariant aborts, and so does a crash: the test fails. The last line is
** "N passed, 0 failed" (N inputs). A missing path is an error; an empty
** folder is fine (no crash inputs yet).
*/
#define _GNU_SOURCE
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz_util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static long replayed;

/* Read a whole file into a malloc'ed buffer. */
static unsigned char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, len = 0;
    unsigned char *buf = malloc(cap);
    for (;;) {
        if (!buf) break;
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (len < cap) break;
        unsigned char *nb = realloc(buf, cap *= 2);
        if (!nb) {
            free(buf);
            buf = NULL;
        }
        buf = nb;
    }
    fclose(f);
    *n = len;
    return buf;
}

static int replay_file(const char *path) {
    size_t n;
    unsigned char *data = slurp(path, &n);
    if (!data) {
        fprintf(stderr, "replay: cannot read %s\n", path);
        return 1;
    }
    fprintf(stderr, "replay: %s (%zu bytes)\n", path, n);
    /* an exact-size copy, so ASan sees reads past the input's end */
    unsigned char *exact = malloc(n ? n : 1);
    if (!exact) {
        free(data);
        return 1;
    }
    memcpy(exact, data, n);
    free(data);
    LLVMFuzzerTestOneInput(exact, n);
    free(exact);
    replayed++;
    return 0;
}

static int by_name(const struct dirent **a, const struct dirent **b) {
    return strcmp((*a)->d_name, (*b)->d_name);
}

static int replay_path(const char *path) {
    struct stat sb;
    if (stat(path, &sb) != 0) {
        fprintf(stderr, "replay: no such file or folder: %s\n", path);
        return 1;
    }
    if (!S_ISDIR(sb.st_mode)) return replay_file(path);
    struct dirent **list;
    int n = scandir(path, &list, NULL, by_name);
    if (n < 0) {
        fprintf(stderr, "replay: cannot list %s\n", path);
        return 1;
    }
    int bad = 0;
    for (int i = 0; i < n; i++) {
        char full[4096];
        snprintf(full, sizeof full, "%s/%s", path, list[i]->d_name);
        struct stat fs;
        if (list[i]->d_name[0] != '.' && stat(full, &fs) == 0 && S_ISREG(fs.st_mode))
            bad |= replay_file(full);
        free(list[i]);
    }
    free(list);
    return bad;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s DIR_OR_FILE...\n", argv[0]);
        return 2;
    }
    ln_cpu_init();
    if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);
    int bad = 0;
    for (int i = 1; i < argc; i++) bad |= replay_path(argv[i]);
    printf("%ld passed, %d failed\n", replayed, bad);
    return bad;
}
