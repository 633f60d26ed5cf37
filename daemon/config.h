/* config.h -- the daemon's YAML configuration: parse -> validate -> apply.
 *
 * One file (`pipewatch run --config FILE`). Every problem is reported at once
 * as FILE:LINE:COL (via yamlnode.h); a config with errors is never applied,
 * at start-up (exit 1) or on reload (the old config stays). `${VAR}` in any
 * string value is replaced by the environment variable VAR (an unset variable
 * is an error; `$$` is a literal `$`), so secrets stay out of files. Relative
 * paths (rules, log files) are resolved against the config file's directory.
 *
 * The table pw_config_keys[] documents every key with its type and default;
 * `pipewatch config-reference` prints it as the README's reference.
 */
#ifndef PW_CONFIG_H
#define PW_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "diag.h"
#include "ruleset.h"
#include "sink.h"

typedef struct pw_config {
    /* kafka */
    char *brokers;              /* bootstrap servers */
    char **topics;              /* topics consumed */
    int ntopics;
    char *group;                /* consumer group id */
    char *assignment;           /* "range" | "roundrobin" */
    pw_kv *kafka_props;         /* librdkafka properties, passed through */
    int nkafka_props;
    char *dead_letter_topic;    /* NULL = no dead-lettering */
    /* events */
    char *type_field, *time_field, *id_field;
    size_t max_size;            /* bytes */
    int max_depth;
    int64_t allowed_lateness_ms;/* 0 = the window alone decides */
    int64_t max_future_ms;      /* events further ahead of the wall clock are rejected */
    /* clock */
    int clock_wall;             /* 1 wall (default), 0 event */
    int64_t evaluate_every_ms;  /* periodic evaluation, default 1000 */
    /* rules */
    char **rule_paths;          /* resolved paths */
    int nrule_paths;
    /* engine */
    uint32_t max_series, max_pending, distinct_max;
    /* sinks */
    pw_sink_conf *sinks;
    int nsinks;
    /* log */
    int log_level;              /* pw_log_level */
    int log_json;
    /* shutdown */
    int64_t shutdown_timeout_ms;/* bounded flush on SIGTERM, default 5000 */
} pw_config;

/* Load and validate. NULL when any error was found (all in diag). */
pw_config *pw_config_load(const char *file, pw_diag *diag);
void pw_config_destroy(pw_config *c); /* accepts NULL */

/* Index of the sink named `name`, or -1. */
int pw_config_sink_index(const pw_config *c, const char *name);

/* Cross-checks between a config and a rule set: every `notify:` names a
 * configured sink. Errors go to diag at the rule's location. Returns errors. */
int pw_config_check_rules(const pw_config *c, const pw_ruleset *rs, pw_diag *diag);

/* The documented key table. */
typedef struct pw_config_key {
    const char *path;           /* "kafka.brokers" */
    const char *type;           /* "string", "duration", ... */
    const char *def;            /* default, "" if required or none */
    const char *doc;
} pw_config_key;
extern const pw_config_key pw_config_keys[];
/* Print the table as a Markdown table. */
void pw_config_reference(FILE *out);

#endif
