/* diag.h -- collected, located problems for start-up and reload.
 *
 * Loaders (rules, config) do not stop at the first mistake: they add every
 * problem they find to a pw_diag and go on, so that an operator sees the whole
 * list at once, each as `FILE:LINE:COL: message` (1-based line and column,
 * pointing at the offending key or value). Warnings are kept apart from errors:
 * a file with only warnings is valid.
 *
 * Memory: each entry is one heap string; a diag is bounded by PW_DIAG_MAX
 * entries (further ones are counted, not stored) so a pathological file cannot
 * make the checker use unbounded memory.
 */
#ifndef PW_DIAG_H
#define PW_DIAG_H

#include <stdio.h>

#define PW_DIAG_MAX 1000

typedef struct pw_loc {
    const char *file; /* borrowed: must outlive the diag (loaders intern file names) */
    int line;         /* 1-based; 0 = unknown */
    int col;          /* 1-based; 0 = unknown */
} pw_loc;

typedef struct pw_diag_entry {
    int is_warning;
    char *text;       /* "FILE:LINE:COL: message", owned */
} pw_diag_entry;

typedef struct pw_diag {
    pw_diag_entry *v;
    int n, cap;
    int errors;       /* errors added, including those past PW_DIAG_MAX */
    int warnings;
    int dropped;      /* entries not stored because of PW_DIAG_MAX */
} pw_diag;

void pw_diag_init(pw_diag *d);
void pw_diag_free(pw_diag *d);
void pw_diag_error(pw_diag *d, pw_loc loc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void pw_diag_warn(pw_diag *d, pw_loc loc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Prints every entry, one per line, in the order added ("warning: " after the
 * location for warnings), and a line for dropped entries. */
void pw_diag_print(const pw_diag *d, FILE *out);

/* The closest of `candidates` (NULL-terminated) to `word` by edit distance, or
 * NULL if none is close enough to be a plausible typo. For did-you-mean hints. */
const char *pw_diag_suggest(const char *word, const char *const *candidates);

#endif
