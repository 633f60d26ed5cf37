/* lines.c -- bounded line reader.
 *
 * Design. Two modes behind one call.
 *   - Mapped: when the FILE's descriptor is a regular file, the file is mapped
 *     read-only once (mmap, MADV_SEQUENTIAL) and every line is a pointer into
 *     the mapping, found with memchr. This saves the kernel's copy into a user
 *     buffer (read(2)), which measured ~6% of a whole replay of 200-byte events.
 *     Pages already consumed are dropped from the process (MADV_DONTNEED, every
 *     PW_LINES_RELEASE bytes), so the RSS stays bounded however large the file;
 *     the page cache keeps them as it would after read(2). A file that grows
 *     after the mapping is read up to its size at open. The page tables of the
 *     next PW_LINES_RELEASE bytes are filled ahead in one call
 *     (MADV_POPULATE_READ, Linux >= 5.14; ignored where unsupported) instead
 *     of one page fault per 64 KiB. Limit: a file truncated by another
 *     process while mapped raises SIGBUS on the vanished pages (the caller
 *     decides what to do; replay reports it and exits). If the mapping fails
 *     (an odd file system, address space) the reader falls back to streaming.
 *   - Streaming: one buffer of max(2*max_line, 1 MiB) bytes; lines are returned
 *     as pointers into it; when the unread tail is shorter than a full line the
 *     tail is moved to the front and the buffer refilled. Cost: one memmove per
 *     buffer refill, no per-line allocation.
 */
#include "lines.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define PW_LINES_RELEASE (4u << 20)

struct pw_lines {
    FILE *f;
    char *buf;
    size_t cap, start, end;
    size_t max_line;
    int eof;
    unsigned long lineno;
    /* mapped mode (map != NULL): the whole mapping, the next unread byte and the first byte not yet
     * released; start/end above are unused */
    char *map;
    size_t map_len, pos, released, populated;
};

/* Map f from its current position if it is a regular, non-empty file. */
static void try_map(pw_lines *l) {
    int fd = fileno(l->f);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0) return;
    long off = ftell(l->f); /* nothing read through the FILE yet: its position is the descriptor's */
    if (off < 0 || (unsigned long long)off >= (unsigned long long)st.st_size) return;
    if ((unsigned long long)st.st_size > (unsigned long long)SIZE_MAX) return;
    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED) return;
    (void)madvise(m, (size_t)st.st_size, MADV_SEQUENTIAL);
    l->map = m;
    l->map_len = (size_t)st.st_size;
    l->pos = (size_t)off;
    l->released = 0;
}

pw_lines *pw_lines_new(FILE *f, size_t max_line) {
    pw_lines *l = calloc(1, sizeof *l);
    if (!l) return NULL;
    l->f = f;
    l->max_line = max_line;
    try_map(l);
    if (l->map) return l;
    l->cap = max_line * 2 + 1 > (1u << 20) ? max_line * 2 + 1 : (1u << 20);
    l->buf = malloc(l->cap);
    if (!l->buf) { free(l); return NULL; }
    return l;
}

void pw_lines_destroy(pw_lines *l) {
    if (!l) return;
    if (l->map) munmap(l->map, l->map_len);
    free(l->buf);
    free(l);
}

int pw_lines_mapped(const pw_lines *l) { return l->map != NULL; }

/* Page bookkeeping before reading at l->pos: populate ahead, release behind. */
static void mapped_step(pw_lines *l) {
#ifdef MADV_POPULATE_READ
    if (l->pos >= l->populated && l->populated < l->map_len) { /* map the next chunk in one call */
        size_t pg = (size_t)sysconf(_SC_PAGESIZE), from = l->populated / pg * pg;
        size_t to = l->pos + PW_LINES_RELEASE < l->map_len ? l->pos + PW_LINES_RELEASE : l->map_len;
        (void)madvise(l->map + from, to - from, MADV_POPULATE_READ);
        l->populated = to;
    }
#endif
    if (l->pos - l->released >= PW_LINES_RELEASE) { /* give back the pages already consumed */
        size_t pg = (size_t)sysconf(_SC_PAGESIZE), upto = l->pos / pg * pg;
        if (upto > l->released) {
            (void)madvise(l->map + l->released, upto - l->released, MADV_DONTNEED);
            l->released = upto;
        }
    }
}

static int next_mapped(pw_lines *l, const char **line, size_t *len) {
    if (l->pos >= l->map_len) return 0;
    mapped_step(l);
    const char *s = l->map + l->pos;
    size_t left = l->map_len - l->pos;
    const char *nl = memchr(s, '\n', left);
    size_t n = nl ? (size_t)(nl - s) : left;
    l->pos += nl ? n + 1 : n;
    l->lineno++;
    *line = s;
    *len = n;
    return n > l->max_line ? 2 : 1;
}

static int fill(pw_lines *l) {
    if (l->eof) return 0;
    if (l->start > 0) {
        memmove(l->buf, l->buf + l->start, l->end - l->start);
        l->end -= l->start;
        l->start = 0;
    }
    if (l->end == l->cap) return 1;
    size_t n = fread(l->buf + l->end, 1, l->cap - l->end, l->f);
    l->end += n;
    if (n == 0) {
        if (ferror(l->f)) return -1;
        l->eof = 1;
        return 0;
    }
    return 1;
}

int pw_lines_next(pw_lines *l, const char **line, size_t *len) {
    if (l->map) return next_mapped(l, line, len);
    size_t scanned = 0; /* bytes of the current line already known to hold no '\n' */
    for (;;) {
        char *nl = memchr(l->buf + l->start + scanned, '\n', l->end - l->start - scanned);
        if (nl) {
            size_t n = (size_t)(nl - (l->buf + l->start));
            *line = l->buf + l->start;
            *len = n;
            l->start += n + 1;
            l->lineno++;
            return n > l->max_line ? 2 : 1;
        }
        scanned = l->end - l->start;
        if (scanned > l->max_line) {
            /* too long: drop what we have and skip to the next newline */
            size_t seen = scanned;
            l->start = l->end = 0;
            for (;;) {
                int r = fill(l);
                if (r < 0) return -1;
                if (r == 0) { l->lineno++; *len = seen; return 2; }
                nl = memchr(l->buf, '\n', l->end);
                if (nl) {
                    seen += (size_t)(nl - l->buf);
                    l->start = (size_t)(nl - l->buf) + 1;
                    l->lineno++;
                    *len = seen;
                    return 2;
                }
                seen += l->end;
                l->start = l->end = 0;
            }
        }
        int r = fill(l);
        if (r < 0) return -1;
        if (r == 0) {
            if (l->end == l->start) return 0;
            *line = l->buf + l->start;
            *len = l->end - l->start;
            l->start = l->end;
            l->lineno++;
            return *len > l->max_line ? 2 : 1;
        }
        scanned = 0; /* buffer moved: rescan from the line start (cheap, rare) */
    }
}

unsigned long pw_lines_lineno(const pw_lines *l) { return l->lineno; }

size_t pw_lines_peek(pw_lines *l, const char **rest) {
    if (!l->map || l->pos >= l->map_len) return 0;
    mapped_step(l);
    *rest = l->map + l->pos;
#if defined(__GNUC__)
    /* the bytes ~1 KiB ahead, four cache lines per call (a line is typically 200-350 bytes): the
     * first touch of each line's bytes was most of what its decode waited for (measured: 4-7% of a
     * replay of 1M events) */
    if (l->map_len - l->pos > 1024 + 256)
        for (int k = 0; k < 4; k++) __builtin_prefetch(*rest + 1024 + 64 * k);
#endif
    return l->map_len - l->pos;
}

void pw_lines_skip(pw_lines *l, size_t len) {
    l->pos += len;
    if (l->pos < l->map_len) l->pos++; /* the '\n' */
    l->lineno++;
}
