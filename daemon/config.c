/* config.c -- daemon configuration: YAML -> validated pw_config.
 *
 * Design: parse with yamlnode.h (located errors, key tables with
 * did-you-mean), expand ${VAR} in every string as it is read, validate each
 * value where it is read so the error points at it, then check cross-field
 * rules (sink names unique, at most one default log...). Nothing here starts
 * a thread or opens a socket: applying a config is the server's job.
 * Limits: one file (no includes); environment variables are read once per
 * load (a reload re-reads them).
 */
#include "config.h"

#include <libgen.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "template.h"
#include "timeutil.h"
#include "yamlnode.h"

const pw_config_key pw_config_keys[] = {
    {"kafka.brokers", "string", "", "Bootstrap servers, `host:port[,host:port...]` (required)."},
    {"kafka.topics", "list of strings", "", "Topics to consume (required; a single string is accepted)."},
    {"kafka.group", "string", "pipewatch", "Consumer group id. Run one instance per group (scale-out comes later)."},
    {"kafka.assignment", "string", "range", "Partition assignment strategy: `range` or `roundrobin` "
                                            "(`cooperative-sticky` can assert in librdkafka 2.0.2)."},
    {"kafka.properties", "mapping", "{}", "librdkafka properties passed through as is (SASL, SSL, tuning); "
                                          "values may use `${ENV}`."},
    {"kafka.dead_letter_topic", "string", "none", "Copy malformed messages here, with the reason in the "
                                                  "`pipewatch-reason` header."},
    {"events.type_field", "string", "type", "Field path of the event type."},
    {"events.time_field", "string", "ts", "Field path of the event time (RFC 3339, epoch s or ms)."},
    {"events.id_field", "string", "id", "Field path of the optional event id."},
    {"events.max_size", "integer", "1048576", "Largest accepted message in bytes (64 .. 67108864)."},
    {"events.max_depth", "integer", "64", "Deepest accepted JSON nesting (1 .. 1000)."},
    {"events.allowed_lateness", "duration", "0", "Events older than stream time minus this are late "
                                                 "(0: only the window decides)."},
    {"events.max_future", "duration", "1h", "Events further ahead of the wall clock are rejected "
                                            "(reason `future`)."},
    {"clock", "string", "wall", "`wall`: stream time follows the wall clock too, so `below`/`absent` fire "
                                "when events stop; `event`: stream time is event time only."},
    {"evaluate_every", "duration", "1s", "`clock: wall` only: periodic evaluation of every rule at wall-clock time (besides per-event evaluation)."},
    {"rules", "list of strings", "", "Rule files or directories (required), relative to the config file."},
    {"engine.max_series", "integer", "100000", "Live series per metric; past it new series are dropped and "
                                               "counted."},
    {"engine.max_pending", "integer", "1000000", "Pending pair starts per pair metric."},
    {"engine.distinct_max", "integer", "100000", "Distinct values tracked per series of a `distinct` metric."},
    {"sinks", "list", "a log sink on stdout", "Where notifications go; see Sinks."},
    {"sinks[].name", "string", "", "Name referenced by rules' `notify:` (required, unique)."},
    {"sinks[].type", "string", "", "`log`, `webhook`, `alertmanager` or `kafka` (required)."},
    {"sinks[].default", "boolean", "false", "Receives notifications of rules without `notify:`."},
    {"sinks[].path", "string", "-", "log: file to append to (`-` = stdout); reopened on SIGHUP."},
    {"sinks[].url", "string", "", "webhook: endpoint; alertmanager: base URL such as http://127.0.0.1:9093."},
    {"sinks[].headers", "mapping", "{}", "webhook/alertmanager: extra HTTP headers (use `${ENV}` for tokens)."},
    {"sinks[].body", "string", "the notification JSON", "webhook: body template (e.g. a Slack payload)."},
    {"sinks[].timeout", "duration", "5s", "webhook/alertmanager: per request."},
    {"sinks[].retries", "integer", "5", "webhook/alertmanager: attempts after the first."},
    {"sinks[].backoff", "duration", "500ms", "First retry delay, doubled each retry."},
    {"sinks[].backoff_max", "duration", "30s", "Largest retry delay."},
    {"sinks[].queue", "integer", "10000", "Queued notifications; past it they are dropped and counted."},
    {"sinks[].resend", "duration", "1m", "alertmanager: re-send firing alerts this often."},
    {"sinks[].generator_url", "string", "none", "alertmanager: `generatorURL` of alerts."},
    {"sinks[].brokers", "string", "kafka.brokers", "kafka sink: bootstrap servers."},
    {"sinks[].topic", "string", "", "kafka sink: topic (required); key = fingerprint."},
    {"sinks[].properties", "mapping", "{}", "kafka sink: librdkafka producer properties."},
    {"log.level", "string", "info", "`debug`, `info`, `warn` or `error`."},
    {"log.format", "string", "text", "`text` or `json` (one JSON object per line)."},
    {"shutdown_timeout", "duration", "5s", "On SIGTERM, how long sinks may flush before exit."},
    {"http.listen", "string", "127.0.0.1:9464", "Address of the HTTP endpoints and status page (`host:port`, "
                                                "`[v6]:port`); without an `http:` section there is no HTTP."},
    {"http.reload_token_env", "string", "none", "Name of an environment variable holding a bearer token that "
                                                "`POST /-/reload` requires."},
    {"http.max_request_bytes", "integer", "16384", "Largest request (headers and body) accepted."},
    {"http.max_connections", "integer", "32", "Concurrent HTTP connections."},
    {"http.timeout", "duration", "10s", "Idle HTTP connections are closed after this."},
    {"http.api_max_series", "integer", "500", "Series per metric in `/api/v1/metrics` and the status page."},
    {"http.api_max_buckets", "integer", "60", "Recent buckets per series in `/api/v1/metrics`."},
    {"http.snapshot_max_age", "duration", "0", "`/readyz` fails when the last snapshot is older (0: no check)."},
    {"redis", "mapping", "none (no snapshots)", "Snapshots of all state to Redis; see Snapshots."},
    {"redis.address", "string", "", "`host:port` or a unix socket path (required in `redis:`). No TLS: see "
                                    "Snapshots."},
    {"redis.database", "integer", "0", "Database number (`SELECT`)."},
    {"redis.username", "string", "none", "ACL user (`AUTH user password`); use `${ENV}`."},
    {"redis.password", "string", "none", "Password; use `${ENV}`, never a literal in the file."},
    {"redis.key_prefix", "string", "pipewatch:", "Prefix of every key pipewatch writes."},
    {"redis.interval", "duration", "10s", "Time between snapshots (100ms .. 1h)."},
    {"redis.connect_timeout", "duration", "2s", "Connecting to Redis."},
    {"redis.command_timeout", "duration", "5s", "Per Redis command (a large snapshot is sent in 8 MiB "
                                                "values)."},
    {"redis.pause_after", "duration", "0", "Pause consumption when no snapshot succeeded for this long "
                                           "(0: never pause); resume after the next success."},
    {NULL, NULL, NULL, NULL},
};

void pw_config_reference(FILE *out) {
    fprintf(out, "| key | type | default | meaning |\n|---|---|---|---|\n");
    for (int i = 0; pw_config_keys[i].path; i++)
        fprintf(out, "| `%s` | %s | %s | %s |\n", pw_config_keys[i].path, pw_config_keys[i].type,
                *pw_config_keys[i].def ? pw_config_keys[i].def : "required", pw_config_keys[i].doc);
}

/* ---------- helpers ---------- */

typedef struct loader {
    pw_ydoc *d;
    pw_diag *diag;
    char *dir;                  /* directory of the config file */
} loader;

/* Expand ${VAR}; returns a malloc'd string or NULL after an error at n. */
static char *expand_env(loader *L, const yaml_node_t *n, const char *s) {
    pw_buf b;
    pw_buf_init(&b);
    pw_buf_puts(&b, "");
    for (const char *p = s; *p;) {
        if (p[0] == '$' && p[1] == '$') { pw_buf_putc(&b, '$'); p += 2; continue; }
        if (p[0] == '$' && p[1] == '{') {
            const char *end = strchr(p + 2, '}');
            char name[256];
            size_t len = end ? (size_t)(end - p - 2) : 0;
            if (!end || len == 0 || len >= sizeof name) {
                pw_diag_error(L->diag, pw_yloc_in(L->d, n, (size_t)(p - s)),
                              "bad environment reference: expected ${NAME} (write $$ for a literal $)");
                pw_buf_free(&b);
                return NULL;
            }
            memcpy(name, p + 2, len);
            name[len] = 0;
            const char *v = getenv(name);
            if (!v) {
                pw_diag_error(L->diag, pw_yloc_in(L->d, n, (size_t)(p - s)),
                              "environment variable '%s' is not set", name);
                pw_buf_free(&b);
                return NULL;
            }
            pw_buf_puts(&b, v);
            p = end + 1;
            continue;
        }
        pw_buf_putc(&b, *p++);
    }
    return b.data;
}

static int get_str(loader *L, const yaml_node_t *n, const char *what, char **out) {
    const char *s;
    if (pw_yget_str(L->d, n, what, &s) < 0) return -1;
    char *v = expand_env(L, n, s);
    if (!v) return -1;
    free(*out);
    *out = v;
    return 0;
}

static char *xstrdup(const char *s) { return s ? strdup(s) : NULL; }

static char *resolve_path(loader *L, const char *p) {
    if (p[0] == '/' || !strcmp(p, "-")) return strdup(p);
    size_t n = strlen(L->dir) + strlen(p) + 2;
    char *r = malloc(n);
    if (r) snprintf(r, n, "%s/%s", L->dir, p);
    return r;
}

/* A rule path (paths != 0) must name a file or directory: "-" means standard output for a sink's
 * path, but rules are not read from standard input (found by the config fuzz target: "-" was kept
 * as is, the one rule path not made absolute). */
static int bad_rule_path(loader *L, const yaml_node_t *n, const char *s) {
    if (strcmp(s, "-") != 0) return 0;
    pw_diag_error(L->diag, pw_yloc(L->d, n),
                  "'-' is not a rule file: rules are read from files or directories (a path absolute or "
                  "relative to the config file's directory)");
    return 1;
}

/* A list of strings (a single string accepted). */
static int get_str_list(loader *L, const yaml_node_t *n, const char *what, char ***out, int *count, int paths) {
    if (n->type == YAML_SCALAR_NODE) {
        char *s = NULL;
        if (get_str(L, n, what, &s) < 0) return -1;
        if (paths && bad_rule_path(L, n, s)) { free(s); return -1; }
        *out = calloc(1, sizeof(char *));
        (*out)[0] = paths ? resolve_path(L, s) : s;
        if (paths) free(s);
        *count = 1;
        return 0;
    }
    if (pw_yget_seq(L->d, n, "a list") < 0) return -1;
    int len = pw_yseq_len(n), bad = 0;
    *out = calloc((size_t)len + 1, sizeof(char *));
    *count = 0;
    for (int i = 0; i < len; i++) {
        yaml_node_t *it = pw_yseq_at(L->d, n, i);
        char *s = NULL;
        if (!it || get_str(L, it, what, &s) < 0) { bad = 1; continue; }
        if (paths && bad_rule_path(L, it, s)) { free(s); bad = 1; continue; }
        (*out)[(*count)++] = paths ? resolve_path(L, s) : s;
        if (paths) free(s);
    }
    return bad ? -1 : 0;
}

static int get_kv(loader *L, const yaml_node_t *n, const char *ctx, pw_kv **out, int *count) {
    if (pw_yget_map(L->d, n, "a mapping") < 0) return -1;
    pw_ymap_check_unique(L->d, n, ctx);
    int len = pw_ymap_len(n), bad = 0;
    *out = calloc((size_t)len + 1, sizeof(pw_kv));
    *count = 0;
    for (int i = 0; i < len; i++) {
        yaml_node_t *k, *v;
        if (pw_ymap_at(L->d, n, i, &k, &v) < 0 || !k || !v) { bad = 1; continue; }
        const char *ks = pw_yscalar(k), *vs;
        if (!ks) { bad = 1; continue; }
        /* numbers and booleans are fine as property values: take their text */
        if (v->type != YAML_SCALAR_NODE) {
            pw_diag_error(L->diag, pw_yloc(L->d, v), "expected a string value for '%s', got %s", ks, pw_ykind(v));
            bad = 1;
            continue;
        }
        vs = pw_yscalar(v);
        char *ev = expand_env(L, v, vs);
        if (!ev) { bad = 1; continue; }
        (*out)[*count].key = strdup(ks);
        (*out)[*count].val = ev;
        (*count)++;
    }
    return bad ? -1 : 0;
}

/* An integer in [lo, hi]; the valid range is part of the message:
 * "expected a retry count (0 to 1000), got a number '100000'". */
static int get_int(loader *L, const yaml_node_t *n, const char *what, int64_t lo, int64_t hi, int64_t *out) {
    char desc[96];
    snprintf(desc, sizeof desc, "%s (%lld to %lld)", what, (long long)lo, (long long)hi);
    return pw_yget_int(L->d, n, desc, lo, hi, out);
}

static int get_u32(loader *L, const yaml_node_t *n, const char *what, int64_t lo, int64_t hi, uint32_t *out) {
    int64_t v;
    if (get_int(L, n, what, lo, hi, &v) < 0) return -1;
    *out = (uint32_t)v;
    return 0;
}

static int get_enum(loader *L, const yaml_node_t *n, const char *key, const char *const *allowed, int *out) {
    const char *s;
    if (pw_yget_str(L->d, n, "a string", &s) < 0) return -1;
    for (int i = 0; allowed[i]; i++)
        if (!strcmp(s, allowed[i])) { *out = i; return 0; }
    char show[80], list[256] = "";
    for (int i = 0; allowed[i]; i++) {
        strcat(list, i ? ", " : "");
        strcat(list, allowed[i]);
    }
    const char *sug = pw_diag_suggest(s, allowed);
    if (sug)
        pw_diag_error(L->diag, pw_yloc(L->d, n), "unknown %s '%s' (did you mean '%s'? expected %s)", key,
                      pw_yshow(s, show, sizeof show), sug, list);
    else
        pw_diag_error(L->diag, pw_yloc(L->d, n), "unknown %s '%s' (expected %s)", key,
                      pw_yshow(s, show, sizeof show), list);
    return -1;
}

/* ---------- sections ---------- */

enum { K_BROKERS, K_TOPICS, K_GROUP, K_ASSIGN, K_PROPS, K_DLQ, K__KAFKA };
static const char *const kafka_keys[] = {"brokers", "topics", "group", "assignment", "properties",
                                         "dead_letter_topic", NULL};

static void load_kafka(loader *L, pw_config *c, yaml_node_t *n, yaml_node_t *key) {
    yaml_node_t *v[K__KAFKA];
    if (pw_yget_map(L->d, n, "a mapping") < 0) return;
    pw_ymap_check(L->d, n, "kafka", kafka_keys, NULL, v);
    if (v[K_BROKERS]) {
        if (get_str(L, v[K_BROKERS], "a broker list like host:9092", &c->brokers) == 0 && !c->brokers[0])
            pw_diag_error(L->diag, pw_yloc(L->d, v[K_BROKERS]), "brokers is empty (expected host:port[,host:port...])");
    } else {
        pw_diag_error(L->diag, pw_yloc(L->d, key), "kafka needs 'brokers' (host:port[,host:port...])");
    }
    if (v[K_TOPICS]) {
        if (get_str_list(L, v[K_TOPICS], "a topic name", &c->topics, &c->ntopics, 0) == 0) {
            if (!c->ntopics) pw_diag_error(L->diag, pw_yloc(L->d, v[K_TOPICS]), "topics is empty (expected topic names)");
            for (int i = 0; i < c->ntopics; i++)
                if (!c->topics[i][0]) pw_diag_error(L->diag, pw_yloc(L->d, v[K_TOPICS]), "a topic name is empty");
        }
    } else {
        pw_diag_error(L->diag, pw_yloc(L->d, key), "kafka needs 'topics' (a list of topic names)");
    }
    if (v[K_GROUP] && get_str(L, v[K_GROUP], "a consumer group id", &c->group) == 0 && !c->group[0])
        pw_diag_error(L->diag, pw_yloc(L->d, v[K_GROUP]), "group is empty (expected a consumer group id)");
    if (v[K_ASSIGN]) {
        static const char *const a[] = {"range", "roundrobin", NULL};
        int i;
        if (get_enum(L, v[K_ASSIGN], "assignment", a, &i) == 0) {
            free(c->assignment);
            c->assignment = strdup(a[i]);
        }
    }
    if (v[K_PROPS]) get_kv(L, v[K_PROPS], "kafka.properties", &c->kafka_props, &c->nkafka_props);
    if (v[K_DLQ]) get_str(L, v[K_DLQ], "a topic name", &c->dead_letter_topic);
}

enum { E_TYPE, E_TIME, E_ID, E_MAXSIZE, E_DEPTH, E_LATE, E_FUTURE, E__N };
static const char *const events_keys[] = {"type_field", "time_field", "id_field", "max_size", "max_depth",
                                          "allowed_lateness", "max_future", NULL};

static void load_events(loader *L, pw_config *c, yaml_node_t *n) {
    yaml_node_t *v[E__N];
    if (pw_yget_map(L->d, n, "a mapping") < 0) return;
    pw_ymap_check(L->d, n, "events", events_keys, NULL, v);
    if (v[E_TYPE]) get_str(L, v[E_TYPE], "a field path", &c->type_field);
    if (v[E_TIME]) get_str(L, v[E_TIME], "a field path", &c->time_field);
    if (v[E_ID]) get_str(L, v[E_ID], "a field path", &c->id_field);
    if (v[E_MAXSIZE]) {
        int64_t x;
        if (get_int(L, v[E_MAXSIZE], "a size in bytes", 64, 64 << 20, &x) == 0) c->max_size = (size_t)x;
    }
    if (v[E_DEPTH]) {
        int64_t x;
        if (get_int(L, v[E_DEPTH], "a nesting depth", 1, 1000, &x) == 0) c->max_depth = (int)x;
    }
    if (v[E_LATE]) pw_yget_duration(L->d, v[E_LATE], "a duration like 10m", &c->allowed_lateness_ms);
    if (v[E_FUTURE]) pw_yget_duration(L->d, v[E_FUTURE], "a duration like 1h", &c->max_future_ms);
}

enum { G_MAXSER, G_MAXPEND, G_DISTINCT, G__N };
static const char *const engine_keys[] = {"max_series", "max_pending", "distinct_max", NULL};

static void load_engine(loader *L, pw_config *c, yaml_node_t *n) {
    yaml_node_t *v[G__N];
    if (pw_yget_map(L->d, n, "a mapping") < 0) return;
    pw_ymap_check(L->d, n, "engine", engine_keys, NULL, v);
    if (v[G_MAXSER]) get_u32(L, v[G_MAXSER], "a series count", 1, 100000000, &c->max_series);
    if (v[G_MAXPEND]) get_u32(L, v[G_MAXPEND], "a count", 1, 100000000, &c->max_pending);
    if (v[G_DISTINCT]) get_u32(L, v[G_DISTINCT], "a count", 1, 100000000, &c->distinct_max);
}

enum { S_NAME, S_TYPE, S_DEFAULT, S_PATH, S_URL, S_HEADERS, S_BODY, S_TIMEOUT, S_RETRIES, S_BACKOFF,
       S_BACKOFF_MAX, S_QUEUE, S_RESEND, S_GENURL, S_BROKERS, S_TOPIC, S_PROPS, S__N };
static const char *const sink_keys[] = {"name", "type", "default", "path", "url", "headers", "body", "timeout",
                                        "retries", "backoff", "backoff_max", "queue", "resend", "generator_url",
                                        "brokers", "topic", "properties", NULL};
/* which keys each kind takes (bit per S_ key) */
#define B(k) (1u << (k))
static const unsigned kind_keys[] = {
    [PW_SINK_LOG] = B(S_PATH) | B(S_QUEUE),
    [PW_SINK_WEBHOOK] = B(S_URL) | B(S_HEADERS) | B(S_BODY) | B(S_TIMEOUT) | B(S_RETRIES) | B(S_BACKOFF) |
                        B(S_BACKOFF_MAX) | B(S_QUEUE),
    [PW_SINK_ALERTMANAGER] = B(S_URL) | B(S_HEADERS) | B(S_TIMEOUT) | B(S_RETRIES) | B(S_BACKOFF) |
                             B(S_BACKOFF_MAX) | B(S_QUEUE) | B(S_RESEND) | B(S_GENURL),
    [PW_SINK_KAFKA] = B(S_BROKERS) | B(S_TOPIC) | B(S_PROPS) | B(S_QUEUE),
};

static void load_sink(loader *L, pw_config *c, yaml_node_t *n, pw_sink_conf *s) {
    yaml_node_t *v[S__N], *k[S__N];
    static const char *const kinds[] = {"log", "webhook", "alertmanager", "kafka", NULL};
    s->timeout_ms = 5000;
    s->retries = 5;
    s->backoff_ms = 500;
    s->backoff_max_ms = 30000;
    s->queue_max = 10000;
    s->resend_ms = 60000;
    if (pw_yget_map(L->d, n, "a sink (a mapping with name and type)") < 0) return;
    pw_ymap_check(L->d, n, "sink", sink_keys, k, v);
    if (v[S_NAME]) get_str(L, v[S_NAME], "a sink name", &s->name);
    else pw_diag_error(L->diag, pw_yloc(L->d, n), "sink needs a 'name'");
    int kind = -1;
    if (v[S_TYPE]) get_enum(L, v[S_TYPE], "sink type", kinds, &kind);
    else pw_diag_error(L->diag, pw_yloc(L->d, n), "sink needs a 'type' (log, webhook, alertmanager or kafka)");
    if (kind < 0) return;
    s->kind = (pw_sink_kind)kind;
    for (int i = S_PATH; i < S__N; i++)
        if (v[i] && !(kind_keys[kind] & B(i)))
            pw_diag_error(L->diag, pw_yloc(L->d, k[i]), "a %s sink takes no '%s'", kinds[kind], sink_keys[i]);
    if (v[S_DEFAULT]) pw_yget_bool(L->d, v[S_DEFAULT], "true or false", &s->is_default);
    if (v[S_PATH] && get_str(L, v[S_PATH], "a file path or -", &s->path) == 0) {
        char *r = resolve_path(L, s->path);
        free(s->path);
        s->path = r;
    }
    if (v[S_URL]) {
        if (get_str(L, v[S_URL], "a URL", &s->url) == 0 && strncmp(s->url, "http://", 7) &&
            strncmp(s->url, "https://", 8))
            pw_diag_error(L->diag, pw_yloc(L->d, v[S_URL]), "url must start with http:// or https://");
    } else if (kind == PW_SINK_WEBHOOK || kind == PW_SINK_ALERTMANAGER) {
        pw_diag_error(L->diag, pw_yloc(L->d, n), "a %s sink needs a 'url'", kinds[kind]);
    }
    if (v[S_HEADERS]) get_kv(L, v[S_HEADERS], "headers", &s->headers, &s->nheaders);
    if (v[S_BODY] && get_str(L, v[S_BODY], "a body template", &s->body) == 0) {
        size_t off = 0;
        char msg[256];
        if (pw_template_check_body(s->body, &off, msg, sizeof msg) < 0)
            pw_diag_error(L->diag, pw_yloc_in(L->d, v[S_BODY], off), "%s", msg);
    }
    if (v[S_TIMEOUT]) pw_yget_duration(L->d, v[S_TIMEOUT], "a duration like 5s", &s->timeout_ms);
    if (v[S_RETRIES]) {
        int64_t x;
        if (get_int(L, v[S_RETRIES], "a retry count", 0, 1000, &x) == 0) s->retries = (int)x;
    }
    if (v[S_BACKOFF]) pw_yget_duration(L->d, v[S_BACKOFF], "a duration like 500ms", &s->backoff_ms);
    if (v[S_BACKOFF_MAX]) pw_yget_duration(L->d, v[S_BACKOFF_MAX], "a duration like 30s", &s->backoff_max_ms);
    if (v[S_QUEUE]) get_u32(L, v[S_QUEUE], "a queue length", 1, 10000000, &s->queue_max);
    if (v[S_RESEND]) pw_yget_duration(L->d, v[S_RESEND], "a duration like 1m", &s->resend_ms);
    if (v[S_GENURL]) get_str(L, v[S_GENURL], "a URL", &s->generator_url);
    if (v[S_BROKERS]) get_str(L, v[S_BROKERS], "a broker list", &s->brokers);
    if (v[S_TOPIC]) get_str(L, v[S_TOPIC], "a topic name", &s->topic);
    else if (kind == PW_SINK_KAFKA) pw_diag_error(L->diag, pw_yloc(L->d, n), "a kafka sink needs a 'topic'");
    if (v[S_PROPS]) get_kv(L, v[S_PROPS], "properties", &s->props, &s->nprops);
    if (kind == PW_SINK_KAFKA && !s->brokers) s->brokers = xstrdup(c->brokers);
    if (s->timeout_ms <= 0 && (kind == PW_SINK_WEBHOOK || kind == PW_SINK_ALERTMANAGER))
        pw_diag_error(L->diag, pw_yloc(L->d, v[S_TIMEOUT] ? v[S_TIMEOUT] : n), "timeout must be more than 0");
}

static void load_sinks(loader *L, pw_config *c, yaml_node_t *n) {
    if (pw_yget_seq(L->d, n, "a list of sinks") < 0) return;
    int len = pw_yseq_len(n);
    c->sinks = calloc((size_t)len + 1, sizeof *c->sinks);
    yaml_node_t **at = calloc((size_t)len + 1, sizeof *at);
    for (int i = 0; i < len; i++) {
        yaml_node_t *it = pw_yseq_at(L->d, n, i);
        if (!it) continue;
        at[c->nsinks] = it;
        load_sink(L, c, it, &c->sinks[c->nsinks++]);
    }
    for (int i = 0; i < c->nsinks; i++)
        for (int j = 0; j < i; j++)
            if (c->sinks[i].name && c->sinks[j].name && !strcmp(c->sinks[i].name, c->sinks[j].name)) {
                pw_loc first = pw_yloc(L->d, at[j]);
                pw_diag_error(L->diag, pw_yloc(L->d, at[i]), "duplicate sink name '%s' (first at %d:%d)",
                              c->sinks[i].name, first.line, first.col);
            }
    free(at);
}

enum { L_LEVEL, L_FORMAT, L__N };
static const char *const log_keys[] = {"level", "format", NULL};

static void load_log(loader *L, pw_config *c, yaml_node_t *n) {
    yaml_node_t *v[L__N];
    if (pw_yget_map(L->d, n, "a mapping") < 0) return;
    pw_ymap_check(L->d, n, "log", log_keys, NULL, v);
    static const char *const levels[] = {"debug", "info", "warn", "error", NULL};
    static const char *const formats[] = {"text", "json", NULL};
    if (v[L_LEVEL]) get_enum(L, v[L_LEVEL], "log level", levels, &c->log_level);
    if (v[L_FORMAT]) get_enum(L, v[L_FORMAT], "log format", formats, &c->log_json);
}

enum { R_ADDR, R_DB, R_USER, R_PASS, R_PREFIX, R_INTERVAL, R_CONNECT, R_COMMAND, R_PAUSE, R__N };
static const char *const redis_keys[] = {"address", "database", "username", "password", "key_prefix", "interval",
                                         "connect_timeout", "command_timeout", "pause_after", NULL};

static int is_loopback(const char *addr) {
    return strchr(addr, '/') || !strncmp(addr, "127.", 4) || !strncmp(addr, "localhost:", 10) ||
           !strncmp(addr, "[::1]:", 6);
}

static void load_redis(loader *L, pw_config *c, yaml_node_t *n, yaml_node_t *key) {
    yaml_node_t *v[R__N];
    if (pw_yget_map(L->d, n, "a mapping") < 0) return;
    pw_ymap_check(L->d, n, "redis", redis_keys, NULL, v);
    if (v[R_ADDR]) get_str(L, v[R_ADDR], "host:port or a unix socket path", &c->redis_address);
    else pw_diag_error(L->diag, pw_yloc(L->d, key), "redis needs 'address' (host:port or a unix socket path)");
    if (v[R_DB]) {
        int64_t x;
        if (get_int(L, v[R_DB], "a database number", 0, 1000000, &x) == 0) c->redis_database = (int)x;
    }
    if (v[R_USER]) get_str(L, v[R_USER], "a user name", &c->redis_username);
    if (v[R_PASS]) get_str(L, v[R_PASS], "a password (use ${ENV})", &c->redis_password);
    if (v[R_PREFIX] && get_str(L, v[R_PREFIX], "a key prefix", &c->redis_prefix) == 0 &&
        strpbrk(c->redis_prefix, "*?[]\\ "))
        pw_diag_error(L->diag, pw_yloc(L->d, v[R_PREFIX]), "key_prefix must not contain *, ?, [, ], \\ or spaces");
    struct { int k; int64_t *out; int64_t lo, hi; const char *what; } durs[] = {
        {R_INTERVAL, &c->snapshot_interval_ms, 100, PW_MS_PER_H, "interval must be from 100ms to 1h"},
        {R_CONNECT, &c->redis_connect_timeout_ms, 1, PW_MS_PER_M, "connect_timeout must be from 1ms to 1m"},
        {R_COMMAND, &c->redis_command_timeout_ms, 1, 10 * PW_MS_PER_M, "command_timeout must be from 1ms to 10m"},
        {R_PAUSE, &c->snapshot_pause_after_ms, 0, 100 * PW_MS_PER_D, "pause_after must be from 0 to 100d"},
    };
    for (size_t i = 0; i < sizeof durs / sizeof durs[0]; i++) {
        if (!v[durs[i].k]) continue;
        if (pw_yget_duration(L->d, v[durs[i].k], "a duration like 10s", durs[i].out) == 0 &&
            (*durs[i].out < durs[i].lo || *durs[i].out > durs[i].hi))
            pw_diag_error(L->diag, pw_yloc(L->d, v[durs[i].k]), "%s", durs[i].what);
    }
    if (c->redis_password && c->redis_address && !is_loopback(c->redis_address))
        pw_diag_warn(L->diag, pw_yloc(L->d, v[R_ADDR]),
                     "redis password would cross the network in clear to %s (no TLS in hiredis 0.14): "
                     "use a local TLS proxy (see README, Snapshots)", c->redis_address);
}

enum { H_LISTEN, H_TOKEN, H_MAXREQ, H_MAXCONN, H_TIMEOUT, H_SERIES, H_BUCKETS, H_SNAPAGE, H__N };
static const char *const http_keys[] = {"listen", "reload_token_env", "max_request_bytes", "max_connections",
                                        "timeout", "api_max_series", "api_max_buckets", "snapshot_max_age", NULL};

static void load_http(loader *L, pw_config *c, yaml_node_t *n) {
    yaml_node_t *v[H__N];
    free(c->http_listen);
    c->http_listen = strdup("127.0.0.1:9464");
    if (pw_yis_null(n)) return; /* `http:` alone: the defaults */
    if (pw_yget_map(L->d, n, "a mapping") < 0) return;
    pw_ymap_check(L->d, n, "http", http_keys, NULL, v);
    if (v[H_LISTEN] && get_str(L, v[H_LISTEN], "an address like 127.0.0.1:9464", &c->http_listen) == 0 &&
        (!strchr(c->http_listen, ':') || !c->http_listen[0]))
        pw_diag_error(L->diag, pw_yloc(L->d, v[H_LISTEN]), "listen must be host:port (like 127.0.0.1:9464)");
    if (v[H_TOKEN] && get_str(L, v[H_TOKEN], "an environment variable name", &c->http_reload_token_env) == 0) {
        const char *t = getenv(c->http_reload_token_env);
        if (!t || !*t)
            pw_diag_error(L->diag, pw_yloc(L->d, v[H_TOKEN]), "environment variable '%s' (the reload token) is not "
                          "set or empty", c->http_reload_token_env);
    }
    if (v[H_MAXREQ]) {
        int64_t x;
        if (get_int(L, v[H_MAXREQ], "a size in bytes", 1024, 1 << 20, &x) == 0) c->http_max_request_bytes = (size_t)x;
    }
    if (v[H_MAXCONN]) get_u32(L, v[H_MAXCONN], "a connection count", 1, 1000, &c->http_max_connections);
    if (v[H_TIMEOUT]) pw_yget_duration(L->d, v[H_TIMEOUT], "a duration like 10s", &c->http_timeout_ms);
    if (v[H_SERIES]) get_u32(L, v[H_SERIES], "a series count", 1, 1000000, &c->http_api_max_series);
    if (v[H_BUCKETS]) get_u32(L, v[H_BUCKETS], "a bucket count", 1, 10000, &c->http_api_max_buckets);
    if (v[H_SNAPAGE]) pw_yget_duration(L->d, v[H_SNAPAGE], "a duration like 1m", &c->http_snapshot_max_age_ms);
}

enum { T_KAFKA, T_EVENTS, T_CLOCK, T_EVAL, T_RULES, T_ENGINE, T_SINKS, T_LOG, T_SHUTDOWN, T_REDIS, T_HTTP, T__N };
static const char *const top_keys[] = {"kafka", "events", "clock", "evaluate_every", "rules", "engine", "sinks",
                                       "log", "shutdown_timeout", "redis", "http", NULL};

pw_config *pw_config_load(const char *file, pw_diag *diag) {
    pw_config *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->group = strdup("pipewatch");
    c->assignment = strdup("range");
    c->type_field = strdup("type");
    c->time_field = strdup("ts");
    c->id_field = strdup("id");
    c->max_size = 1 << 20;
    c->max_depth = 64;
    c->max_future_ms = PW_MS_PER_H;
    c->clock_wall = 1;
    c->evaluate_every_ms = 1000;
    c->max_series = 100000;
    c->max_pending = 1000000;
    c->distinct_max = 100000;
    c->log_level = PW_LOG_INFO;
    c->shutdown_timeout_ms = 5000;
    c->redis_prefix = strdup("pipewatch:");
    c->snapshot_interval_ms = 10000;
    c->redis_connect_timeout_ms = 2000;
    c->redis_command_timeout_ms = 5000;

    int errors0 = diag->errors;
    pw_ydoc d;
    memset(&d, 0, sizeof d);
    char *tmp = strdup(file);
    loader L = {&d, diag, strdup(dirname(tmp))};
    free(tmp);
    if (pw_ydoc_load_file(&d, file, diag) == 0) {
        yaml_node_t *root = pw_ydoc_root(&d);
        yaml_node_t *v[T__N], *k[T__N];
        if (!root) {
            pw_loc loc = {file, 1, 1};
            pw_diag_error(diag, loc, "the config is empty: it needs at least kafka and rules");
        } else if (pw_yget_map(&d, root, "a mapping of settings") == 0) {
            pw_ymap_check(&d, root, "config", top_keys, k, v);
            pw_loc top = pw_yloc(&d, root);
            if (v[T_KAFKA]) load_kafka(&L, c, v[T_KAFKA], k[T_KAFKA]);
            else pw_diag_error(diag, top, "missing 'kafka' section (brokers, topics, group)");
            if (v[T_EVENTS]) load_events(&L, c, v[T_EVENTS]);
            if (v[T_CLOCK]) {
                static const char *const clocks[] = {"event", "wall", NULL};
                get_enum(&L, v[T_CLOCK], "clock", clocks, &c->clock_wall);
            }
            if (v[T_EVAL]) {
                if (pw_yget_duration(&d, v[T_EVAL], "a duration like 1s", &c->evaluate_every_ms) == 0 &&
                    (c->evaluate_every_ms < 10 || c->evaluate_every_ms > PW_MS_PER_M))
                    pw_diag_error(diag, pw_yloc(&d, v[T_EVAL]), "evaluate_every must be from 10ms to 1m");
            }
            if (v[T_RULES]) {
                if (get_str_list(&L, v[T_RULES], "a rule file or directory", &c->rule_paths, &c->nrule_paths, 1) == 0 &&
                    !c->nrule_paths)
                    pw_diag_error(diag, pw_yloc(&d, v[T_RULES]), "rules is empty (expected rule files or directories)");
            } else {
                pw_diag_error(diag, top, "missing 'rules' (rule files or directories)");
            }
            if (v[T_ENGINE]) load_engine(&L, c, v[T_ENGINE]);
            if (v[T_SINKS]) load_sinks(&L, c, v[T_SINKS]);
            if (v[T_LOG]) load_log(&L, c, v[T_LOG]);
            if (v[T_SHUTDOWN]) pw_yget_duration(&d, v[T_SHUTDOWN], "a duration like 5s", &c->shutdown_timeout_ms);
            if (v[T_REDIS]) load_redis(&L, c, v[T_REDIS], k[T_REDIS]);
            if (v[T_HTTP]) load_http(&L, c, v[T_HTTP]);
        }
    }
    pw_ydoc_free(&d);
    free(L.dir);
    if (!c->nsinks && diag->errors == errors0) { /* default: one log sink on stdout */
        c->sinks = calloc(1, sizeof *c->sinks);
        c->sinks[0].name = strdup("log");
        c->sinks[0].kind = PW_SINK_LOG;
        c->sinks[0].is_default = 1;
        c->sinks[0].path = strdup("-");
        c->sinks[0].queue_max = 10000;
        c->nsinks = 1;
    }
    if (diag->errors > errors0) {
        pw_config_destroy(c);
        return NULL;
    }
    return c;
}

static void free_kv(pw_kv *kv, int n) {
    for (int i = 0; i < n; i++) { free(kv[i].key); free(kv[i].val); }
    free(kv);
}

static void free_strs(char **v, int n) {
    for (int i = 0; i < n; i++) free(v[i]);
    free(v);
}

void pw_config_destroy(pw_config *c) {
    if (!c) return;
    free(c->brokers);
    free_strs(c->topics, c->ntopics);
    free(c->group);
    free(c->assignment);
    free_kv(c->kafka_props, c->nkafka_props);
    free(c->dead_letter_topic);
    free(c->http_listen);
    free(c->http_reload_token_env);
    free(c->type_field);
    free(c->time_field);
    free(c->id_field);
    free_strs(c->rule_paths, c->nrule_paths);
    for (int i = 0; i < c->nsinks; i++) {
        pw_sink_conf *s = &c->sinks[i];
        free(s->name);
        free(s->path);
        free(s->url);
        free_kv(s->headers, s->nheaders);
        free(s->body);
        free(s->generator_url);
        free(s->brokers);
        free(s->topic);
        free_kv(s->props, s->nprops);
    }
    free(c->sinks);
    free(c->redis_address);
    free(c->redis_username);
    if (c->redis_password) memset(c->redis_password, 0, strlen(c->redis_password));
    free(c->redis_password);
    free(c->redis_prefix);
    free(c);
}

int pw_config_sink_index(const pw_config *c, const char *name) {
    for (int i = 0; i < c->nsinks; i++)
        if (c->sinks[i].name && !strcmp(c->sinks[i].name, name)) return i;
    return -1;
}

int pw_config_check_rules(const pw_config *c, const pw_ruleset *rs, pw_diag *diag) {
    int errors = 0;
    const char *names[65];
    int n = 0;
    for (int i = 0; i < c->nsinks && n < 64; i++) names[n++] = c->sinks[i].name;
    names[n] = NULL;
    for (int i = 0; i < rs->nrules; i++) {
        const pw_rule_def *r = &rs->rules[i];
        for (int j = 0; j < r->nnotify; j++) {
            if (pw_config_sink_index(c, r->notify[j]) >= 0) continue;
            const char *sug = pw_diag_suggest(r->notify[j], names);
            if (sug)
                pw_diag_error(diag, r->loc, "rule '%s' notifies unknown sink '%s' (did you mean '%s'?)", r->name,
                              r->notify[j], sug);
            else
                pw_diag_error(diag, r->loc, "rule '%s' notifies unknown sink '%s' (configured sinks: see sinks:)",
                              r->name, r->notify[j]);
            errors++;
        }
    }
    return errors;
}
