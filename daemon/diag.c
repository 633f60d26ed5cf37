/* diag.c -- collect located errors and warnings; did-you-mean suggestions.
 *
 * Design: a flat array of formatted strings, in the order the loader found
 * them (loaders walk files top to bottom, so this is also line order).
 * Suggestions use edit distance (a swap of two adjacent letters is one edit),
 * accepted when at most a third of the word (and at least 1, at most 3) edits away.
 */
#include "diag.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

void pw_diag_init(pw_diag *d) { memset(d, 0, sizeof *d); }

void pw_diag_free(pw_diag *d) {
    if (!d) return;
    for (int i = 0; i < d->n; i++) free(d->v[i].text);
    free(d->v);
    pw_diag_init(d);
}

static void add(pw_diag *d, int warn, pw_loc loc, const char *fmt, va_list ap) {
    if (warn) d->warnings++; else d->errors++;
    if (d->n >= PW_DIAG_MAX) { d->dropped++; return; }
    if (d->n == d->cap) {
        int cap = d->cap ? d->cap * 2 : 16;
        pw_diag_entry *v = realloc(d->v, (size_t)cap * sizeof *v);
        if (!v) { d->dropped++; return; }
        d->v = v;
        d->cap = cap;
    }
    pw_buf b;
    pw_buf_init(&b);
    pw_buf_printf(&b, "%s:%d:%d: ", loc.file ? loc.file : "<input>", loc.line, loc.col);
    if (warn) pw_buf_puts(&b, "warning: ");
    pw_buf_vprintf(&b, fmt, ap);
    d->v[d->n].is_warning = warn;
    d->v[d->n].text = b.data;
    d->n++;
}

void pw_diag_error(pw_diag *d, pw_loc loc, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    add(d, 0, loc, fmt, ap);
    va_end(ap);
}

void pw_diag_warn(pw_diag *d, pw_loc loc, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    add(d, 1, loc, fmt, ap);
    va_end(ap);
}

void pw_diag_print(const pw_diag *d, FILE *out) {
    for (int i = 0; i < d->n; i++) fprintf(out, "%s\n", d->v[i].text);
    if (d->dropped) fprintf(out, "(%d more problems not shown)\n", d->dropped);
}

/* Edit distance with adjacent transpositions counted as one edit (optimal string alignment), so the
 * commonest typos ("feild", "kafak") are one edit away. Words longer than 64 bytes get no suggestion. */
static int lev(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64) return 99;
    int d[65][65];
    for (size_t i = 0; i <= la; i++) d[i][0] = (int)i;
    for (size_t j = 0; j <= lb; j++) d[0][j] = (int)j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            int cost = a[i - 1] == b[j - 1] ? 0 : 1;
            int m = d[i - 1][j - 1] + cost;
            if (d[i - 1][j] + 1 < m) m = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < m) m = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < m)
                m = d[i - 2][j - 2] + 1;
            d[i][j] = m;
        }
    return d[la][lb];
}

const char *pw_diag_suggest(const char *word, const char *const *candidates) {
    const char *best = NULL;
    int bestd = 99;
    for (int i = 0; candidates[i]; i++) {
        int dist = lev(word, candidates[i]);
        if (dist < bestd) { bestd = dist; best = candidates[i]; }
    }
    int limit = (int)strlen(word) / 3;
    if (limit < 1) limit = 1;
    if (limit > 3) limit = 3;
    return bestd <= limit ? best : NULL;
}
