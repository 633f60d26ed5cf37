/* lines.c -- bounded line reader.
 *
 * Design: one buffer of max(2*max_line, 1 MiB) bytes; lines are returned as
 * pointers into it; when the unread tail is shorter than a full line the tail
 * is moved to the front and the buffer refilled. Cost: one memmove per buffer
 * refill, no per-line allocation.
 */
#include "lines.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct pw_lines {
    FILE *f;
    char *buf;
    size_t cap, start, end;
    size_t max_line;
    int eof;
    unsigned long lineno;
};

pw_lines *pw_lines_new(FILE *f, size_t max_line) {
    pw_lines *l = calloc(1, sizeof *l);
    if (!l) return NULL;
    l->f = f;
    l->max_line = max_line;
    l->cap = max_line * 2 + 1 > (1u << 20) ? max_line * 2 + 1 : (1u << 20);
    l->buf = malloc(l->cap);
    if (!l->buf) { free(l); return NULL; }
    return l;
}

void pw_lines_destroy(pw_lines *l) {
    if (!l) return;
    free(l->buf);
    free(l);
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
