/* fuzz_config.c -- libFuzzer target for the daemon config loader (daemon/config.c).
 *
 * pw_config_load() takes a path, so each input is written once to a
 * per-process file on tmpfs (fuzz_common.h). The environment variables that
 * config/pipewatch.yaml references are set at start-up so that the seed
 * loads and the fuzzer starts from a valid config; ${OTHER} references reach
 * the "not set" error path.
 *
 * Invariants checked (config.h):
 *   - NULL if and only if the diag gained an error; the diag prints;
 *   - a loaded config: brokers and field names set; at least one sink, every
 *     sink named and found by pw_config_sink_index() at its own index (names
 *     are unique); webhook/alertmanager sinks have an http(s) URL and a
 *     positive timeout; rule paths are absolute (resolved against the
 *     config's directory, itself absolute here); numeric settings within the
 *     ranges config.c enforces;
 *   - pw_config_check_rules() against a fixed rule set runs clean under the
 *     sanitizers.
 * Same libyaml coverage caveat as fuzz_rules.c (README.md).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "diag.h"
#include "fuzz_common.h"
#include "ruleset.h"

static FILE *devnull;
static int verbose;
static pw_ruleset *rules;

static const char rules_yaml[] = "metrics:\n"
                                 "  - {name: leads, events: [lead.created], aggregate: count, window: 1h}\n"
                                 "rules:\n"
                                 "  - {name: a, metric: leads, above: 1, notify: [log, ops-webhook]}\n"
                                 "  - {name: b, metric: leads, below: 1, notify: [alerts-topic]}\n"
                                 "  - {name: c, metric: leads, above: 5}\n";

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    devnull = fopen("/dev/null", "w");
    FUZZ_CHECK(devnull != NULL, "open /dev/null");
    verbose = getenv("PW_FUZZ_VERBOSE") && *getenv("PW_FUZZ_VERBOSE") == '1';
    setenv("PIPEWATCH_KAFKA_BROKERS", "kafka-1:9092,kafka-2:9092", 1);
    setenv("PIPEWATCH_SLACK_WEBHOOK_URL", "https://hooks.example.com/T0/B0/x", 1);
    setenv("PIPEWATCH_KAFKA_PASSWORD", "fuzz-secret", 1);
    pw_config_reference(devnull);

    /* a fixed rule set for pw_config_check_rules (loaded once, from the same tmp file) */
    const char *path = fuzz_tmp_path("config", ".yaml");
    fuzz_write_file(path, (const uint8_t *)rules_yaml, sizeof rules_yaml - 1);
    pw_diag d;
    pw_diag_init(&d);
    const char *paths[] = {path};
    rules = pw_ruleset_load(paths, 1, NULL, &d);
    if (!rules) pw_diag_print(&d, stderr);
    FUZZ_CHECK(rules != NULL, "fixed rule set does not load");
    pw_diag_free(&d);
    return 0;
}

static int is_http(const char *u) {
    return u && (strncmp(u, "http://", 7) == 0 || strncmp(u, "https://", 8) == 0);
}

static void check_config(const pw_config *c) {
    FUZZ_CHECK(c->brokers && c->group && c->assignment, "kafka strings");
    FUZZ_CHECK(!strcmp(c->assignment, "range") || !strcmp(c->assignment, "roundrobin"), "assignment");
    for (int i = 0; i < c->ntopics; i++) FUZZ_CHECK(c->topics[i] != NULL, "topic %d", i);
    for (int i = 0; i < c->nkafka_props; i++) FUZZ_CHECK(c->kafka_props[i].key && c->kafka_props[i].val, "prop");
    FUZZ_CHECK(c->type_field && c->time_field && c->id_field, "event fields");
    FUZZ_CHECK(c->max_size >= 64 && c->max_size <= (64u << 20), "max_size %zu", c->max_size);
    FUZZ_CHECK(c->max_depth >= 1 && c->max_depth <= 1000, "max_depth %d", c->max_depth);
    FUZZ_CHECK(c->evaluate_every_ms >= 10 && c->evaluate_every_ms <= 60000, "evaluate_every %lld",
               (long long)c->evaluate_every_ms);
    FUZZ_CHECK(c->allowed_lateness_ms >= 0 && c->max_future_ms >= 0 && c->shutdown_timeout_ms >= 0, "durations");
    FUZZ_CHECK(c->max_series >= 1 && c->max_pending >= 1 && c->distinct_max >= 1, "engine limits");
    for (int i = 0; i < c->nrule_paths; i++)
        FUZZ_CHECK(c->rule_paths[i] && c->rule_paths[i][0] == '/', "rule path %d not absolute", i);
    FUZZ_CHECK(c->nsinks >= 1, "no sinks");
    for (int i = 0; i < c->nsinks; i++) {
        const pw_sink_conf *s = &c->sinks[i];
        FUZZ_CHECK(s->name != NULL, "sink %d has no name", i);
        FUZZ_CHECK(pw_config_sink_index(c, s->name) == i, "sink '%s' not found at %d", s->name, i);
        FUZZ_CHECK(s->kind >= PW_SINK_LOG && s->kind <= PW_SINK_KAFKA, "sink kind %d", (int)s->kind);
        if (s->kind == PW_SINK_WEBHOOK || s->kind == PW_SINK_ALERTMANAGER)
            FUZZ_CHECK(is_http(s->url) && s->timeout_ms > 0, "sink '%s': url/timeout", s->name);
        if (s->kind == PW_SINK_KAFKA) FUZZ_CHECK(s->topic && s->brokers, "sink '%s': kafka topic/brokers", s->name);
        if (s->path) FUZZ_CHECK(s->path[0] == '/' || !strcmp(s->path, "-"), "sink '%s': path", s->name);
        for (int j = 0; j < s->nheaders; j++) FUZZ_CHECK(s->headers[j].key && s->headers[j].val, "header");
    }
    FUZZ_CHECK(pw_config_sink_index(c, "no such sink \x01") == -1, "sink index of an unknown name");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_tmp_path("config", ".yaml");
    fuzz_write_file(path, data, size);
    pw_diag diag;
    pw_diag_init(&diag);
    pw_config *c = pw_config_load(path, &diag);
    FUZZ_CHECK((c == NULL) == (diag.errors > 0), "load returned %p with %d errors", (void *)c, diag.errors);
    FUZZ_CHECK(diag.n <= PW_DIAG_MAX, "diag holds %d entries", diag.n);
    if (c) {
        check_config(c);
        int before = diag.errors;
        int n = pw_config_check_rules(c, rules, &diag);
        FUZZ_CHECK(n >= 0 && diag.errors == before + n, "check_rules returned %d, diag gained %d", n,
                   diag.errors - before);
    }
    pw_diag_print(&diag, verbose ? stderr : devnull);
    pw_config_destroy(c);
    pw_diag_free(&diag);
    return 0;
}
