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
    /* http: the endpoints and status page (http_listen NULL = no `http:` section, no HTTP) */
    char *http_listen;          /* "host:port", default 127.0.0.1:9464 */
    char *http_reload_token_env;/* env var holding the POST /-/reload bearer token; NULL = no token */
    size_t http_max_request_bytes;
    uint32_t http_max_connections;
    int64_t http_timeout_ms;
    uint32_t http_api_max_series;
    uint32_t http_api_max_buckets;
    int64_t http_snapshot_max_age_ms;   /* /readyz fails when the last snapshot is older; 0 = no check */
    /* redis: snapshots (redis_address NULL = no `redis:` section, no snapshots) */
    char *redis_address;        /* "host:port" or a unix socket path */
    int redis_database;
    char *redis_username, *redis_password; /* NULL = none */
    char *redis_prefix;         /* default "pipewatch:" */
    int64_t snapshot_interval_ms;       /* default 10000 */
    int64_t redis_connect_timeout_ms;   /* default 2000 */
    int64_t redis_command_timeout_ms;   /* default 5000 */
    int64_t snapshot_pause_after_ms;    /* 0 = never pause consumption */
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
