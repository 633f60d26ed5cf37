/* test_lines.c -- the line reader: the mapped mode (regular files) and the streaming mode (pipes,
 * anything without a regular file behind it) must return exactly the same lines, line numbers and
 * too-long verdicts, wherever the buffer and page boundaries fall. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lines.h"

typedef struct got {
    int r[4096];
    size_t len[4096];
    char *text[4096];
    unsigned long lineno[4096];
    int n;
} got;

static void read_all(FILE *f, size_t max_line, int want_mapped, got *g) {
    pw_lines *l = pw_lines_new(f, max_line);
    cr_assert_not_null(l);
    cr_assert_eq(pw_lines_mapped(l), want_mapped, "mapped mode %d, want %d", pw_lines_mapped(l), want_mapped);
    const char *line;
    size_t len;
    int r;
    g->n = 0;
    while ((r = pw_lines_next(l, &line, &len)) > 0) {
        cr_assert_lt(g->n, 4096);
        g->r[g->n] = r;
        g->len[g->n] = len;
        g->text[g->n] = r == 1 ? strndup(line, len) : NULL;
        g->lineno[g->n] = pw_lines_lineno(l);
        g->n++;
    }
    cr_assert_eq(r, 0, "end of input, not an error");
    cr_assert_eq(pw_lines_next(l, &line, &len), 0, "end of input stays the end");
    pw_lines_destroy(l);
}

static void free_got(got *g) {
    for (int i = 0; i < g->n; i++) free(g->text[i]);
}

/* Both modes over data; returns the mapped result's line count. */
static int both_modes(const char *data, size_t n, size_t max_line, got *mapped) {
    FILE *tf = tmpfile();
    cr_assert_not_null(tf);
    cr_assert_eq(fwrite(data, 1, n, tf), n);
    fflush(tf);
    rewind(tf);
    read_all(tf, max_line, n > 0, mapped);
    fclose(tf);
    static got streamed;
    FILE *mf = fmemopen((void *)data, n ? n : 1, "r"); /* no descriptor: streaming mode */
    cr_assert_not_null(mf);
    if (!n) fgetc(mf); /* fmemopen needs a size >= 1: consume the dummy byte */
    read_all(mf, max_line, 0, &streamed);
    fclose(mf);
    cr_assert_eq(streamed.n, mapped->n, "lines: streamed %d, mapped %d", streamed.n, mapped->n);
    for (int i = 0; i < mapped->n; i++) {
        cr_assert_eq(streamed.r[i], mapped->r[i], "line %d verdict", i);
        cr_assert_eq(streamed.lineno[i], mapped->lineno[i], "line %d number", i);
        if (mapped->r[i] == 1) {
            cr_assert_eq(streamed.len[i], mapped->len[i], "line %d length", i);
            cr_assert_str_eq(streamed.text[i], mapped->text[i], "line %d text", i);
        } else {
            cr_assert_gt(mapped->len[i], max_line);
            cr_assert_gt(streamed.len[i], max_line);
        }
    }
    free_got(&streamed);
    return mapped->n;
}

Test(lines, edge_cases_are_the_same_in_both_modes) {
    static got g;
    static const char data[] = "a\n\n  \r\nlast-without-newline";
    cr_assert_eq(both_modes(data, sizeof data - 1, 64, &g), 4);
    cr_assert_str_eq(g.text[0], "a");
    cr_assert_str_eq(g.text[1], "");
    cr_assert_str_eq(g.text[2], "  \r", "a trailing CR is kept");
    cr_assert_str_eq(g.text[3], "last-without-newline");
    free_got(&g);
    cr_assert_eq(both_modes("x\n", 2, 64, &g), 1, "a final newline ends the last line, no empty line after");
    free_got(&g);
    cr_assert_eq(both_modes("", 0, 64, &g), 0, "empty input has no line");
    free_got(&g);
}

Test(lines, too_long_lines_are_skipped_and_counted_in_both_modes) {
    static got g;
    size_t n = 3u << 20; /* lines around the 1 MiB streaming buffer and its refills */
    char *data = malloc(n);
    cr_assert_not_null(data);
    size_t at = 0;
    unsigned seed = 7;
    while (at < n) {
        seed = seed * 1103515245u + 12345u;
        size_t len = (seed >> 8) % 40 == 0 ? 600000 + (seed >> 4) % 1000 : (seed >> 8) % 300;
        for (size_t i = 0; i < len && at < n; i++) { data[at] = (char)('a' + (at + seed) % 26); at++; }
        if (at < n) data[at++] = '\n';
    }
    int lines = both_modes(data, n, 500000, &g);
    int too_long = 0;
    for (int i = 0; i < g.n; i++) too_long += g.r[i] == 2;
    cr_assert_gt(lines, 100);
    cr_assert_gt(too_long, 3, "the data has lines over max_line");
    free_got(&g);
    free(data);
}

Test(lines, mapped_reading_starts_at_the_current_position) {
    FILE *tf = tmpfile();
    cr_assert_not_null(tf);
    fputs("header\nfirst\nsecond\n", tf);
    fflush(tf);
    cr_assert_eq(fseek(tf, 7, SEEK_SET), 0);
    static got g;
    read_all(tf, 64, 1, &g);
    cr_assert_eq(g.n, 2);
    cr_assert_str_eq(g.text[0], "first");
    cr_assert_str_eq(g.text[1], "second");
    free_got(&g);
    fclose(tf);
}

/* pw_lines_peek/pw_lines_skip (the replay's way through a mapped file): skipping each line by the
 * length pw_lines_next gives, alternated at random with pw_lines_next itself, yields the same lines
 * and line numbers as pw_lines_next alone; the rest peek returns always starts at the next line; an
 * unmapped input peeks nothing. */
Test(lines, peek_and_skip_walk_the_same_lines) {
    static const char data[] = "{\"a\":1}\n\n  \r\n{\"b\":2}\r\nlast without newline";
    got ref;
    both_modes(data, sizeof data - 1, 64, &ref);
    for (unsigned seed = 1; seed <= 64; seed++) {
        FILE *tf = tmpfile();
        cr_assert_not_null(tf);
        cr_assert_eq(fwrite(data, 1, sizeof data - 1, tf), sizeof data - 1);
        fflush(tf);
        rewind(tf);
        pw_lines *l = pw_lines_new(tf, 64);
        cr_assert(l && pw_lines_mapped(l));
        unsigned r = seed;
        for (int i = 0; i < ref.n; i++) {
            const char *rest;
            size_t avail = pw_lines_peek(l, &rest);
            cr_assert_gt(avail, 0, "line %d: peek says the end", i);
            cr_assert(avail >= ref.len[i] && !memcmp(rest, ref.text[i], ref.len[i]), "line %d: peek elsewhere", i);
            r = r * 1103515245u + 12345u;
            if (r >> 16 & 1) {
                pw_lines_skip(l, ref.len[i]);
            } else {
                const char *line;
                size_t len;
                cr_assert_eq(pw_lines_next(l, &line, &len), 1);
                cr_assert_eq(len, ref.len[i]);
            }
            cr_assert_eq(pw_lines_lineno(l), ref.lineno[i], "line %d number", i);
        }
        const char *rest;
        cr_assert_eq(pw_lines_peek(l, &rest), 0, "the end");
        pw_lines_destroy(l);
        fclose(tf);
    }
    free_got(&ref);
    FILE *mf = fmemopen((void *)data, sizeof data - 1, "r");
    pw_lines *l = pw_lines_new(mf, 64);
    const char *rest;
    cr_assert_eq(pw_lines_peek(l, &rest), 0, "streaming mode peeks nothing");
    pw_lines_destroy(l);
    fclose(mf);
}
