/* yamlnode.h -- a small located, typed layer over libyaml's document API.
 *
 * For loaders of hand-edited YAML (rule files now, the daemon config later):
 * every problem becomes a pw_diag entry `FILE:LINE:COL: message` pointing at
 * the offending key or value, and loading goes on to find the rest.
 *
 *   pw_ydoc d;
 *   if (pw_ydoc_load_file(&d, file, diag) == 0) {
 *       yaml_node_t *root = pw_ydoc_root(&d);      // NULL for an empty file
 *       yaml_node_t *vals[K__COUNT];
 *       pw_ymap_check(&d, root, "top level", keys_table, NULL, vals);
 *       int64_t ms;
 *       if (vals[K_WINDOW]) pw_yget_duration(&d, vals[K_WINDOW], &ms);
 *   }
 *   pw_ydoc_free(&d);
 *
 * Hostile input: a file is refused before it is loaded when it is larger
 * than PW_YAML_MAX_BYTES, holds more than PW_YAML_MAX_NODES nodes, nests
 * deeper than PW_YAML_MAX_DEPTH, or holds more than one document (a cheap
 * pre-pass over libyaml's event stream, so memory stays bounded). Aliases
 * share nodes (libyaml does not copy them) and may even form cycles
 * (`&a [*a]`), so walking a document can cost far more than its size: every
 * node a caller looks at is counted against a visit budget (pw_yvisit); past
 * it one error is reported and every getter fails quietly. Callers never
 * recurse on document structure they do not know in advance.
 *
 * Not thread-safe per pw_ydoc; distinct pw_ydocs are independent.
 */
#ifndef PW_YAMLNODE_H
#define PW_YAMLNODE_H

#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

#include "diag.h"

#define PW_YAML_MAX_BYTES (8u << 20) /* bigger files are refused */
#define PW_YAML_MAX_NODES 250000     /* scalars + lists + mappings + aliases per file */
#define PW_YAML_MAX_DEPTH 64         /* nesting of lists and mappings */
#define PW_YAML_MAX_VISITS 1000000L  /* default visit budget per document */

typedef struct pw_ydoc {
    const char *file;    /* borrowed; used in every pw_loc, must outlive the diag's use */
    pw_diag *diag;       /* borrowed; where problems go */
    yaml_document_t doc; /* valid when loaded */
    int loaded;
    char *text; /* the file's bytes (for precise columns inside scalars), owned */
    size_t len;
    size_t *lines; /* byte offset of each line start, built on first use, owned */
    size_t nlines;
    long visits, max_visits;
    int exhausted; /* visit budget spent (reported once) */
} pw_ydoc;

/* Read and parse one file. Returns 0 on success (the document may be empty:
 * pw_ydoc_root() is then NULL), -1 after reporting why to diag (unreadable:
 * errno's text, too big, YAML syntax error at libyaml's mark). The pw_ydoc
 * must be released with pw_ydoc_free either way. file and diag are borrowed. */
int pw_ydoc_load_file(pw_ydoc *d, const char *file, pw_diag *diag);
/* Same from memory (text is copied); name is used as FILE in locations. */
int pw_ydoc_load_string(pw_ydoc *d, const char *name, const char *text, size_t len, pw_diag *diag);
void pw_ydoc_free(pw_ydoc *d); /* accepts a zeroed or already-freed pw_ydoc */

yaml_node_t *pw_ydoc_root(pw_ydoc *d);

/* Count one visited node against the budget. 0 if within, -1 if spent (the
 * first time: an error at n's location). */
int pw_yvisit(pw_ydoc *d, const yaml_node_t *n);

/* Location of a node's first character (1-based). */
pw_loc pw_yloc(const pw_ydoc *d, const yaml_node_t *n);
/* Location of byte `off` of a scalar's value, mapped back through quotes,
 * escapes, line folding and block-scalar indentation, so an error found at a
 * byte offset inside a value (an expression, a template) points at the exact
 * column in the file. Block scalars map line by line from the first content
 * line (exact for `|`, and for `>` without blank lines). */
pw_loc pw_yloc_in(pw_ydoc *d, const yaml_node_t *n, size_t off);

/* "a string", "a number", "a list", "a mapping", "nothing" (null/empty) -- for
 * "expected X, got Y" messages. Plain scalars that read as numbers are "a
 * number", true/false "a boolean". */
const char *pw_ykind(const yaml_node_t *n);
/* 1 if n is a null scalar: empty plain, "~", "null", "Null", "NULL". */
int pw_yis_null(const yaml_node_t *n);
/* Scalar value (NUL-terminated) or NULL if n is not a scalar. */
const char *pw_yscalar(const yaml_node_t *n);

/* Printable, bounded copy of user text for messages: control bytes become
 * '?', more than ~60 bytes are cut with "...". Returns buf. */
const char *pw_yshow(const char *s, char *buf, size_t n);

/* Typed getters. Each returns 0 and stores the value, or -1 after adding an
 * error at n ("expected WHAT, got a list"). `what` names what was expected,
 * with its article: "a string", "an event type", "a duration string like 7d".
 * Strings are borrowed from the document. */
int pw_yget_str(pw_ydoc *d, const yaml_node_t *n, const char *what, const char **out);
/* A plain scalar in number syntax (quoted numbers are strings: say so). */
int pw_yget_num(pw_ydoc *d, const yaml_node_t *n, const char *what, double *out);
/* A whole number in [min, max] (plain scalar of digits, optional '-'). */
int pw_yget_int(pw_ydoc *d, const yaml_node_t *n, const char *what, int64_t min, int64_t max, int64_t *out);
/* true | false */
int pw_yget_bool(pw_ydoc *d, const yaml_node_t *n, const char *what, int *out);
/* A duration (timeutil's syntax: 30s, 5m, 1h30m, 7d, 250ms). Negative
 * durations are an error ("negative duration '-5m'"); zero is allowed. */
int pw_yget_duration(pw_ydoc *d, const yaml_node_t *n, const char *what, int64_t *out);
/* Type checks for containers: 0 if n is a list / mapping, else -1 + error. */
int pw_yget_seq(pw_ydoc *d, const yaml_node_t *n, const char *what);
int pw_yget_map(pw_ydoc *d, const yaml_node_t *n, const char *what);

/* List access (n must be a sequence). pw_yseq_at counts a visit and returns
 * NULL when the budget is spent. */
int pw_yseq_len(const yaml_node_t *n);
yaml_node_t *pw_yseq_at(pw_ydoc *d, const yaml_node_t *n, int i);

/* Mapping access (n must be a mapping): number of pairs and the i-th key and
 * value (visits counted; NULL when the budget is spent). */
int pw_ymap_len(const yaml_node_t *n);
int pw_ymap_at(pw_ydoc *d, const yaml_node_t *n, int i, yaml_node_t **key, yaml_node_t **val);

/* Check a mapping against a table of allowed keys (`allowed`, NULL-terminated)
 * and collect their values: vals[k] (and keys[k] if keys is not NULL) get the
 * value (key) node of allowed[k], or NULL when absent. Reports, and returns
 * the number of: keys that are not strings, unknown keys ("unknown key 'windw'
 * in metric (did you mean 'window'?)", with `ctx` = "metric"), and repeated
 * keys ("duplicate key 'window' (first at 3:5)"; the first one is used).
 * n must be a mapping (check with pw_yget_map first). */
int pw_ymap_check(pw_ydoc *d, const yaml_node_t *n, const char *ctx, const char *const *allowed,
                  yaml_node_t **keys, yaml_node_t **vals);
/* For mappings with free-form keys (labels): reports keys that are not
 * strings and repeated keys; returns the number of problems. O(k log k). */
int pw_ymap_check_unique(pw_ydoc *d, const yaml_node_t *n, const char *ctx);

#endif
