/* ruleset.h -- YAML rule files -> an immutable, validated rule set.
 *
 * Loading is parse -> validate -> build: every file is parsed with libyaml's
 * document API (so every node has a line and column), each problem is added to
 * a pw_diag as FILE:LINE:COL pointing at the offending key or value, and
 * loading goes on to find the rest. Only a set with zero errors is returned.
 *
 * The result is read-only: the engine, the daemon's threads and the HTTP API
 * may all read one pw_ruleset concurrently. A reload builds a new set and
 * swaps it in whole; metric and rule definitions carry a `def_hash` so that
 * state of unchanged definitions can be carried over.
 *
 * Ordering guarantee: metrics[] is ordered so that a ratio comes after both of
 * its parts (parts have smaller indexes); otherwise files are read in the
 * order given (a directory's *.yaml / *.yml files sorted by name, not
 * recursive) and definitions in file order.
 */
#ifndef PW_RULESET_H
#define PW_RULESET_H

#include <stdint.h>

#include "diag.h"
#include "expr.h"
#include "fieldset.h"

typedef enum pw_agg {
    PW_AGG_COUNT = 0,
    PW_AGG_SUM,
    PW_AGG_AVG,
    PW_AGG_MIN,
    PW_AGG_MAX,
    PW_AGG_DISTINCT,
    PW_AGG_QUANTILE,
    PW_AGG_LAST,
    PW_AGG__COUNT
} pw_agg;

const char *pw_agg_name(pw_agg a); /* "count", ... */

typedef enum pw_metric_kind {
    PW_METRIC_PLAIN = 0, /* events -> aggregate */
    PW_METRIC_RATIO,     /* numerator / denominator of two other metrics */
    PW_METRIC_PAIR       /* durations between a start and an end event of one key */
} pw_metric_kind;

typedef struct pw_metric_def {
    char *name;            /* [a-z_][a-z0-9_]*, unique across all files */
    char *help;            /* may be "" */
    pw_metric_kind kind;
    pw_loc loc;            /* where the metric's `name:` is (file interned in the set) */

    /* PLAIN: event types consumed. PAIR: unused (see pair_start/pair_end). */
    char **events;
    int nevents;
    pw_expr *where;        /* optional filter, NULL if none (PLAIN and PAIR: applies to start and end) */

    pw_agg agg;            /* PLAIN and PAIR (over durations); RATIO: unused */
    int field_slot;        /* fieldset slot of `field`, -1 if none */
    pw_expr *value;        /* per-event value expression instead of field, or NULL */
    double q;              /* quantile only, 0 < q < 1 */

    char **by;             /* group-by paths (label names are these paths) */
    int *by_slots;         /* fieldset slot of each */
    int nby;

    int64_t window_ms;     /* W */
    int64_t res_ms;        /* R; W % R == 0 */
    int nbuckets;          /* W / R */

    int num_idx, den_idx;  /* RATIO: indexes into metrics[] (both < own index); else -1 */

    char *pair_start;      /* PAIR: start event type */
    char *pair_end;        /* PAIR: end event type */
    int pair_key_slot;     /* PAIR: fieldset slot of `key` */
    int64_t pair_timeout_ms; /* PAIR: a start older than this before the end does not pair */
    int64_t unit_ms;       /* PAIR: duration unit (1000 for s, ...) */

    uint64_t def_hash;     /* hash of everything that defines the metric's state */
    int *rules;            /* indexes of rules on this metric */
    int nrules;
} pw_metric_def;

typedef enum pw_cond {
    PW_COND_ABOVE = 0,   /* value > threshold */
    PW_COND_BELOW,       /* value < threshold */
    PW_COND_OUTSIDE,     /* value < lo or value > hi (extension) */
    PW_COND_ABSENT       /* no contributing event for absent_ms */
} pw_cond;

typedef enum pw_severity { PW_SEV_INFO = 0, PW_SEV_WARNING, PW_SEV_CRITICAL } pw_severity;
const char *pw_severity_name(pw_severity s);

typedef struct pw_kv {
    char *key;
    char *val;             /* for annotations: the template source */
} pw_kv;

typedef struct pw_rule_def {
    char *name;            /* unique across all files */
    pw_loc loc;
    int metric_idx;        /* index into metrics[] */
    pw_kv *match;          /* label name (must be one of the metric's by) -> required value */
    int *match_by;         /* for each match entry: index into the metric's by[] */
    int nmatch;
    pw_cond cond;
    double threshold;      /* ABOVE/BELOW */
    double lo, hi;         /* OUTSIDE: [lo, hi] */
    int64_t absent_ms;     /* ABSENT */
    int has_clear;
    double clear;          /* ABOVE: resolves when value <= clear; BELOW: when value >= clear */
    int64_t for_ms;        /* default 0 */
    int64_t min_count;     /* default 0 */
    pw_severity severity;  /* default warning */
    pw_kv *labels;         /* added to notifications */
    int nlabels;
    pw_kv *annotations;    /* templates, validated at load (see template.h) */
    int nannotations;
    int64_t repeat_ms;     /* 0 = never re-notify */
    char **notify;         /* sink names; not validated here (sinks are daemon config) */
    int nnotify;
    uint64_t def_hash;     /* hash of the rule's definition and its metric's def_hash */
} pw_rule_def;

typedef struct pw_rules_conf {
    const char *type_field; /* default "type" */
    const char *time_field; /* default "ts" */
    const char *id_field;   /* default "id" */
} pw_rules_conf;

typedef struct pw_ruleset {
    pw_metric_def *metrics;
    int nmetrics;
    pw_rule_def *rules;
    int nrules;
    pw_fieldset *fields;   /* every path referenced, owned */
    int type_slot, time_slot, id_slot;
    char **files;          /* interned file names (pw_loc.file points here), owned */
    int nfiles;
} pw_ruleset;

/* Load files and directories. conf may be NULL for defaults. Returns NULL when
 * any error was found (all of them are in diag); warnings alone do not fail. */
pw_ruleset *pw_ruleset_load(const char *const *paths, int npaths, const pw_rules_conf *conf, pw_diag *diag);
void pw_ruleset_destroy(pw_ruleset *rs); /* accepts NULL */

int pw_ruleset_metric_index(const pw_ruleset *rs, const char *name); /* -1 if none */
int pw_ruleset_rule_index(const pw_ruleset *rs, const char *name);   /* -1 if none */

#endif
