/* fuzz_common.h -- small helpers shared by the libFuzzer targets in tests/fuzz/.
 *
 * FUZZ_CHECK(cond, ...) aborts with a message when an invariant does not hold,
 * so libFuzzer saves the input as a crash like any sanitizer report.
 * fuzz_readable() asks ASan whether a byte range is addressable, which is how
 * the targets check that a borrowed string points at live memory without
 * knowing the owner's internals. fuzz_write_file() puts an input where a
 * path-based loader can read it (tmpfs, one file per process, rewritten for
 * every input so nothing grows).
 */
#ifndef PW_FUZZ_COMMON_H
#define PW_FUZZ_COMMON_H

#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PW_FUZZ_ASAN 1
#include <sanitizer/asan_interface.h>
#endif
#endif

#define FUZZ_CHECK(cond, ...)                                                      \
    do {                                                                           \
        if (!(cond)) {                                                             \
            fprintf(stderr, "fuzz invariant failed at %s:%d: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                          \
            fputc('\n', stderr);                                                   \
            abort();                                                               \
        }                                                                          \
    } while (0)

/* 1 if [p, p+n) is addressable (always 1 without ASan). n == 0 is readable. */
static inline int fuzz_readable(const void *p, size_t n) {
    if (n == 0) return 1;
    if (!p) return 0;
#ifdef PW_FUZZ_ASAN
    return __asan_region_is_poisoned((void *)(uintptr_t)p, n) == NULL;
#else
    return 1;
#endif
}

/* 1 if [p, p+n) lies inside [base, base+len). */
static inline int fuzz_inside(const void *p, size_t n, const void *base, size_t len) {
    uintptr_t a = (uintptr_t)p, b = (uintptr_t)base;
    return a >= b && a - b <= len && n <= len - (a - b);
}

/* 1 if [p, p+n) lies inside one heap block of exactly `size` bytes (ASan's
 * allocator knows every block's bounds). Without ASan: 1. */
static inline int fuzz_in_heap_block(const void *p, size_t n, size_t size) {
#ifdef PW_FUZZ_ASAN
    void *start = NULL;
    size_t rsize = 0;
    char name[8];
    const char *kind = __asan_locate_address((void *)(uintptr_t)p, name, sizeof name, &start, &rsize);
    if (!kind || strcmp(kind, "heap") != 0 || rsize != size) return 0;
    return fuzz_inside(p, n, start, rsize);
#else
    (void)p; (void)n; (void)size;
    return 1;
#endif
}

static char fuzz_path_buf[512];

static void fuzz_unlink_tmp(void) {
    if (fuzz_path_buf[0]) unlink(fuzz_path_buf);
}

/* Path of this process's scratch file: in $PW_FUZZ_TMPDIR (tests/fuzz/run
 * points it at a directory it removes afterwards, so files left by a crashing
 * run do not pile up), else /dev/shm, else /tmp. Removed at normal exit. */
static inline const char *fuzz_tmp_path(const char *stem, const char *ext) {
    if (!fuzz_path_buf[0]) {
        const char *dir = getenv("PW_FUZZ_TMPDIR");
        if (!dir || !*dir) dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        snprintf(fuzz_path_buf, sizeof fuzz_path_buf, "%s/pw-fuzz-%s-%ld%s", dir, stem, (long)getpid(), ext);
        atexit(fuzz_unlink_tmp);
    }
    return fuzz_path_buf;
}

/* Replace the file at path with data[0..size). Aborts on I/O failure: a
 * fuzzer that silently feeds stale bytes would report nonsense. */
static inline void fuzz_write_file(const char *path, const uint8_t *data, size_t size) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    FUZZ_CHECK(fd >= 0, "open %s", path);
    size_t off = 0;
    while (off < size) {
        ssize_t w = write(fd, data + off, size - off);
        FUZZ_CHECK(w > 0, "write %s", path);
        off += (size_t)w;
    }
    close(fd);
}

#endif
