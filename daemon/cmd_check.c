/* cmd_check.c -- `pipewatch check [--type-field F --time-field F --id-field F] PATH...`
 *
 * Validates rule files and directories the way `promtool check rules` does:
 * all PATHs are loaded as one rule set (so names must be unique across them
 * and ratios may refer to metrics in other files). On success one summary
 * line goes to stdout and warnings, if any, to stderr; exit 0. Otherwise
 * every problem goes to stderr as FILE:LINE:COL: message, then a summary
 * line; exit 1. Usage errors exit 2.
 *
 * The --*-field options matter because they are part of the set's field
 * table; they default to what the daemon config defaults to (type, ts, id).
 * Limits: no JSON output and no --lint levels yet.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "diag.h"
#include "ruleset.h"

static void usage(FILE *out) {
    fprintf(out, "usage: pipewatch check [--type-field F] [--time-field F] [--id-field F] PATH...\n"
                 "  PATH: a rule file, or a directory of *.yaml / *.yml rule files (not recursive)\n");
}

/* A dotted field path: [A-Za-z_][A-Za-z0-9_]* segments joined by '.'. */
static int valid_path(const char *s) {
    int start = 1;
    for (; *s; s++) {
        char c = *s;
        int alpha = c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        if (c == '.') {
            if (start) return 0;
            start = 1;
        } else if (alpha || (!start && c >= '0' && c <= '9')) {
            start = 0;
        } else {
            return 0;
        }
    }
    return !start;
}

/* Files with at least one error, counted from the diag's "FILE:LINE:COL: "
 * prefixes (the file name is what precedes the first ":LINE:COL: "). */
static int files_with_errors(const pw_diag *d) {
    char **seen = calloc((size_t)(d->n ? d->n : 1), sizeof *seen);
    int n = 0;
    if (!seen) return 0;
    for (int i = 0; i < d->n; i++) {
        if (d->v[i].is_warning) continue;
        const char *t = d->v[i].text, *end = NULL;
        /* find ":<digits>:<digits>: " scanning from the left */
        for (const char *p = strchr(t, ':'); p; p = strchr(p + 1, ':')) {
            const char *q = p + 1;
            if (*q < '0' || *q > '9') continue;
            while (*q >= '0' && *q <= '9') q++;
            if (*q != ':') continue;
            q++;
            if (*q < '0' || *q > '9') continue;
            while (*q >= '0' && *q <= '9') q++;
            if (q[0] == ':' && q[1] == ' ') {
                end = p;
                break;
            }
        }
        if (!end) continue;
        size_t len = (size_t)(end - t);
        int dup = 0;
        for (int j = 0; j < n && !dup; j++) dup = strlen(seen[j]) == len && !strncmp(seen[j], t, len);
        if (dup) continue;
        seen[n] = strndup(t, len);
        if (seen[n]) n++;
    }
    for (int j = 0; j < n; j++) free(seen[j]);
    free(seen);
    return n;
}

int pw_cmd_check(int argc, char **argv) {
    pw_rules_conf conf = {"type", "ts", "id"};
    const char **paths = calloc((size_t)(argc > 0 ? argc : 1), sizeof *paths);
    int npaths = 0, opts = 1;
    if (!paths) {
        fprintf(stderr, "pipewatch check: out of memory\n");
        return 1;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (opts && (!strcmp(a, "-h") || !strcmp(a, "--help"))) {
            usage(stdout);
            free(paths);
            return 0;
        }
        if (opts && !strcmp(a, "--")) {
            opts = 0;
            continue;
        }
        const char **slot = NULL;
        const char *val = NULL;
        if (opts && !strncmp(a, "--", 2)) {
            static const char *const names[] = {"--type-field", "--time-field", "--id-field"};
            const char **slots[] = {&conf.type_field, &conf.time_field, &conf.id_field};
            for (int k = 0; k < 3 && !slot; k++) {
                size_t n = strlen(names[k]);
                if (!strncmp(a, names[k], n) && a[n] == '=') {
                    slot = slots[k];
                    val = a + n + 1;
                } else if (!strcmp(a, names[k])) {
                    if (i + 1 >= argc) {
                        fprintf(stderr, "pipewatch check: %s needs a value\n", a);
                        usage(stderr);
                        free(paths);
                        return 2;
                    }
                    slot = slots[k];
                    val = argv[++i];
                }
            }
            if (!slot) {
                fprintf(stderr, "pipewatch check: unknown option '%s'\n", a);
                usage(stderr);
                free(paths);
                return 2;
            }
            if (!valid_path(val)) {
                fprintf(stderr,
                        "pipewatch check: bad field path '%s' for %.*s (expected names like type or "
                        "meta.type)\n",
                        val, (int)strcspn(a, "="), a);
                usage(stderr);
                free(paths);
                return 2;
            }
            *slot = val;
            continue;
        }
        paths[npaths++] = a;
    }
    if (npaths == 0) {
        fprintf(stderr, "pipewatch check: no rule files given\n");
        usage(stderr);
        free(paths);
        return 2;
    }
    pw_diag d;
    pw_diag_init(&d);
    pw_ruleset *rs = pw_ruleset_load(paths, npaths, &conf, &d);
    free(paths);
    pw_diag_print(&d, stderr);
    int rc;
    if (rs) {
        printf("pipewatch check: OK: %d file%s, %d metric%s, %d rule%s", rs->nfiles,
               rs->nfiles == 1 ? "" : "s", rs->nmetrics, rs->nmetrics == 1 ? "" : "s", rs->nrules,
               rs->nrules == 1 ? "" : "s");
        if (d.warnings) printf(" (%d warning%s)", d.warnings, d.warnings == 1 ? "" : "s");
        printf("\n");
        rc = 0;
    } else {
        int nf = files_with_errors(&d);
        fprintf(stderr, "pipewatch check: %d error%s in %d file%s\n", d.errors, d.errors == 1 ? "" : "s", nf,
                nf == 1 ? "" : "s");
        rc = 1;
    }
    pw_ruleset_destroy(rs);
    pw_diag_free(&d);
    fflush(stdout);
    return rc;
}
