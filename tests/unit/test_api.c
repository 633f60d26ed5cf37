/* test_api.c -- the HTTP endpoints' bodies (api.c), rendered from a rule set and an engine in memory.
 *
 * One fixture: leads and won deals by origin, their ratio `conversion`, and a metric grouped by two
 * awkward paths (`utm.campaign`, `metric`). Events at 2026-11-02 10:01..10:05 leave:
 *   leads{origin=social} = 4, won{origin=social} = 1, conversion{origin=social} = 0.25 (rule
 *   conversion_low, below 0.5, critical: firing), many_leads (above 2 for 1h: pending on social),
 *   one lead whose origin holds a quote, a backslash and a newline (label escaping).
 * Checks: exact exposition lines, the exposition's structure (every sample after its family's HELP and
 * TYPE, each family once), label value escaping and label name sanitizing (tables), the JSON documents
 * parsed with cJSON (alerts sorted firing first, series with their recent buckets, rules with counts by
 * state, status), readiness reasons (table), the latency histogram's buckets (table).
 */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine_fixture.h"
#include "api.h"
#include "buf.h"
#include "engine.h"
#include "event.h"
#include "ruleset.h"
#include "sink.h"

static const char *RULES =
    "metrics:\n"
    "  - {name: leads, help: 'Leads by origin', events: [lead.created], by: [origin], window: 1h,"
    " resolution: 10m}\n"
    "  - {name: won, events: [deal.won], by: [origin], window: 1h, resolution: 10m}\n"
    "  - {name: conversion, ratio: {numerator: won, denominator: leads}}\n"
    "  - {name: visits, events: [page.viewed], by: [utm.campaign, metric], window: 1h}\n"
    "rules:\n"
    "  - {name: conversion_low, metric: conversion, match: {origin: social}, below: 0.5, severity: critical,"
    " labels: {team: growth}}\n"
    "  - {name: many_leads, metric: leads, above: 2, for: 1h, severity: info}\n"
    "  - {name: lead_flood, metric: leads, above: 100}\n";

static const char *EVENTS[] = {
    "{\"type\":\"lead.created\",\"ts\":\"2026-11-02T10:01:00Z\",\"origin\":\"social\"}",
    "{\"type\":\"lead.created\",\"ts\":\"2026-11-02T10:02:00Z\",\"origin\":\"social\"}",
    "{\"type\":\"lead.created\",\"ts\":\"2026-11-02T10:03:00Z\",\"origin\":\"social\"}",
    "{\"type\":\"lead.created\",\"ts\":\"2026-11-02T10:04:00Z\",\"origin\":\"social\"}",
    "{\"type\":\"lead.created\",\"ts\":\"2026-11-02T10:04:30Z\",\"origin\":\"a\\\"b\\\\c\\nd\"}",
    "{\"type\":\"page.viewed\",\"ts\":\"2026-11-02T10:04:40Z\",\"utm\":{\"campaign\":\"x\"},\"metric\":"
    "\"y\"}",
    "{\"type\":\"deal.won\",\"ts\":\"2026-11-02T10:05:00Z\",\"origin\":\"social\"}",
};

static const char *reason_names[] = {NULL, "not_json", "late"};
static const char *reason_name(int i) { return reason_names[i]; }

typedef struct fixture {
    pw_ruleset *rs;
    pw_decoder *dec;
    pw_engine *eng;
    pw_sink *sink;
    pw_latency_hist lat;
    uint64_t rejected[3];
    pw_source_partition_stats parts[2];
    pw_api_view v;
    pw_buf out;
} fixture;

static fixture F;

static void noop_notify(const pw_notification *n, void *ud) { (void)n; (void)ud; }

static void setup(void) {
    F.rs = tfx_load_rules(RULES);
    pw_decoder_conf dc = {F.rs->type_slot, F.rs->time_slot, F.rs->id_slot, 4096, 16};
    F.dec = pw_decoder_new(F.rs->fields, &dc);
    pw_engine_opts o = {0};
    F.eng = pw_engine_new(F.rs, &o, noop_notify, NULL);
    cr_assert(F.dec && F.eng);
    for (size_t i = 0; i < sizeof EVENTS / sizeof EVENTS[0]; i++) {
        pw_event ev;
        cr_assert_eq(pw_decoder_decode(F.dec, EVENTS[i], strlen(EVENTS[i]), &ev), PW_EV_OK, "%s", EVENTS[i]);
        pw_engine_event(F.eng, &ev);
    }
    pw_engine_evaluate_all(F.eng);

    pw_sink_conf sc = {0};
    sc.name = "log";
    sc.kind = PW_SINK_LOG;
    sc.path = "/dev/null";
    char err[256];
    F.sink = pw_sink_new(&sc, err, sizeof err);
    cr_assert(F.sink, "%s", err);

    F.rejected[1] = 3;
    F.rejected[2] = 1;
    F.parts[0] = (pw_source_partition_stats){"crm", 0, 95, 100, 95};
    F.parts[1] = (pw_source_partition_stats){"crm", 1, -1, -1, 0};
    pw_latency_observe(&F.lat, 3);
    pw_latency_observe(&F.lat, 40);
    pw_latency_observe(&F.lat, 999999);

    memset(&F.v, 0, sizeof F.v);
    F.v.version = "1.2.3";
    F.v.now_ms = 1793613600000; /* 2026-11-02T10:00:00Z + 0 */
    F.v.start_ms = 1793613000000;
    F.v.rs = F.rs;
    F.v.eng = F.eng;
    F.v.has_source = 1;
    F.v.source.consumed = 95;
    F.v.source.assigned = 2;
    F.v.partitions = F.parts;
    F.v.npartitions = 2;
    F.v.rejected = F.rejected;
    F.v.nrejected = 3;
    F.v.reason_name = reason_name;
    F.v.events_applied = 7;
    F.v.sinks = &F.sink;
    F.v.nsinks = 1;
    F.v.reloads = 2;
    F.v.reload_failures = 1;
    F.v.last_reload_ok_ms = 1793613300000;
    F.v.last_reload_ok = 0;
    F.v.last_reload_result = "rules/a.yaml:3:7: unknown aggregate 'p99'";
    F.v.latency = &F.lat;
    pw_buf_init(&F.out);
}

static void teardown(void) {
    pw_buf_free(&F.out);
    pw_sink_destroy(F.sink);
    pw_engine_destroy(F.eng);
    pw_decoder_destroy(F.dec);
    pw_ruleset_destroy(F.rs);
}

TestSuite(api, .init = setup, .fini = teardown);

static int has_line(const char *text, const char *line) {
    size_t n = strlen(line);
    for (const char *p = text; (p = strstr(p, line)); p++)
        if ((p == text || p[-1] == '\n') && p[n] == '\n') return 1;
    return 0;
}

/* ---------- /metrics ---------- */

Test(api, metrics_exact_lines) {
    pw_api_metrics(&F.v, &F.out);
    static const char *must[] = {
        "# HELP pipewatch_metric_value Current value of each series of each rule-set metric at stream time "
        "(undefined values are omitted).",
        "# TYPE pipewatch_metric_value gauge",
        "pipewatch_metric_value{metric=\"leads\",origin=\"social\"} 4",
        "pipewatch_metric_value{metric=\"won\",origin=\"social\"} 1",
        "pipewatch_metric_value{metric=\"conversion\",origin=\"social\"} 0.25",
        /* quote, backslash and newline escaped */
        "pipewatch_metric_value{metric=\"leads\",origin=\"a\\\"b\\\\c\\nd\"} 1",
        /* label names: utm.campaign sanitized, `metric` renamed */
        "pipewatch_metric_value{metric=\"visits\",utm_campaign=\"x\",exported_metric=\"y\"} 1",
        "pipewatch_metric_window_events{metric=\"conversion\",origin=\"social\"} 4",
        "pipewatch_alerts{rule=\"conversion_low\",severity=\"critical\",state=\"firing\"} 1",
        "pipewatch_alerts{rule=\"conversion_low\",severity=\"critical\",state=\"pending\"} 0",
        "pipewatch_alerts{rule=\"many_leads\",severity=\"info\",state=\"pending\"} 1",
        "pipewatch_alerts{rule=\"lead_flood\",severity=\"warning\",state=\"firing\"} 0",
        "pipewatch_build_info{version=\"1.2.3\"} 1",
        "pipewatch_ready 1",
        "pipewatch_rules_loaded 3",
        "pipewatch_events_rejected_total{reason=\"not_json\"} 3",
        "pipewatch_events_rejected_total{reason=\"late\"} 1",
        "pipewatch_events_applied_total 7",
        "pipewatch_kafka_messages_total{topic=\"crm\",partition=\"0\"} 95",
        "pipewatch_kafka_consumer_lag{topic=\"crm\",partition=\"0\"} 5",
        "pipewatch_kafka_partitions_assigned 2",
        "pipewatch_metric_series{metric=\"leads\"} 2",
        "pipewatch_metric_series{metric=\"conversion\"} 2",
        "pipewatch_metric_events_total{metric=\"leads\"} 5",
        "pipewatch_rule_evaluations_total " /* value checked below */,
        "pipewatch_sink_notifications_total{sink=\"log\",kind=\"log\",result=\"sent\"} 0",
        "pipewatch_sink_notifications_total{sink=\"log\",kind=\"log\",result=\"dropped\"} 0",
        "pipewatch_processing_latency_seconds_bucket{le=\"0.001\"} 0",
        "pipewatch_processing_latency_seconds_bucket{le=\"0.005\"} 1",
        "pipewatch_processing_latency_seconds_bucket{le=\"0.05\"} 2",
        "pipewatch_processing_latency_seconds_bucket{le=\"300\"} 2",
        "pipewatch_processing_latency_seconds_bucket{le=\"+Inf\"} 3",
        "pipewatch_processing_latency_seconds_sum 1000.042",
        "pipewatch_processing_latency_seconds_count 3",
        "pipewatch_reloads_total 2",
        "pipewatch_reload_failures_total 1",
        "pipewatch_last_reload_success 0",
        "pipewatch_last_reload_success_timestamp_seconds 1793613300",
        "pipewatch_snapshot_enabled 0",
    };
    for (size_t i = 0; i < sizeof must / sizeof must[0]; i++) {
        if (must[i][strlen(must[i]) - 1] == ' ') {
            cr_expect(strstr(F.out.data, must[i]), "missing a line starting '%s'", must[i]);
            continue;
        }
        cr_expect(has_line(F.out.data, must[i]), "missing line: %s", must[i]);
    }
    /* undefined values are omitted, never NaN; unknown lag is omitted; a NULL reason is skipped */
    cr_expect(!strstr(F.out.data, "NaN"));
    cr_expect(!strstr(F.out.data, "partition=\"1\"} -"));
    cr_expect(!strstr(F.out.data, "pipewatch_kafka_consumer_lag{topic=\"crm\",partition=\"1\"}"));
    cr_expect(!strstr(F.out.data, "reason=\"\""));
    /* the ratio has no events of its own */
    cr_expect(!strstr(F.out.data, "pipewatch_metric_events_total{metric=\"conversion\"}"));
}

/* Structure of the exposition: every sample belongs to a family declared just before by HELP and TYPE
 * (histogram samples by their _bucket/_sum/_count suffix), a family is declared once, names are valid. */
Test(api, metrics_exposition_structure) {
    pw_api_metrics(&F.v, &F.out);
    char *text = strdup(F.out.data);
    char fam[128] = "", type[32] = "", help_for[128] = "";
    char seen[200][128];
    int nseen = 0, samples = 0;
    cr_assert(F.out.len > 0 && F.out.data[F.out.len - 1] == '\n', "ends with a newline");
    for (char *save = NULL, *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        if (strncmp(l, "# HELP ", 7) == 0) {
            cr_assert_eq(sscanf(l + 7, "%127s", help_for), 1);
            continue;
        }
        if (strncmp(l, "# TYPE ", 7) == 0) {
            cr_assert_eq(sscanf(l + 7, "%127s %31s", fam, type), 2, "%s", l);
            cr_expect_str_eq(help_for, fam, "TYPE %s not right after its HELP", fam);
            for (int i = 0; i < nseen; i++) cr_expect_str_neq(seen[i], fam, "family %s declared twice", fam);
            cr_assert(nseen < 200);
            strcpy(seen[nseen++], fam);
            cr_expect(strcmp(type, "counter") == 0 || strcmp(type, "gauge") == 0 ||
                      strcmp(type, "histogram") == 0);
            continue;
        }
        cr_assert_neq(l[0], '#', "unknown comment: %s", l);
        size_t n = strcspn(l, "{ ");
        char name[128];
        cr_assert(n < sizeof name);
        memcpy(name, l, n);
        name[n] = 0;
        if (strcmp(type, "histogram") == 0) {
            size_t fl = strlen(fam);
            cr_expect(strncmp(name, fam, fl) == 0 &&
                          (!strcmp(name + fl, "_bucket") || !strcmp(name + fl, "_sum") ||
                           !strcmp(name + fl, "_count")),
                      "%s outside its histogram %s", name, fam);
        } else {
            cr_expect_str_eq(name, fam, "sample %s under family %s", name, fam);
        }
        for (size_t i = 0; i < n; i++)
            cr_expect(name[i] == '_' || (name[i] >= 'a' && name[i] <= 'z') ||
                      (i && name[i] >= '0' && name[i] <= '9'));
        if (strcmp(type, "counter") == 0)
            cr_expect(strstr(name, "_total"), "counter %s without _total", name);
        const char *val = strrchr(l, ' ');
        cr_assert(val, "%s", l);
        char *end;
        double x = strtod(val + 1, &end);
        cr_expect(*end == 0 && !isnan(x), "bad value in: %s", l);
        samples++;
    }
    cr_expect(samples > 40);
    free(text);
}

Test(api, prom_label_value_escaping) {
    static const struct { const char *in, *out; } rows[] = {
        {"plain", "plain"},
        {"a\"b", "a\\\"b"},
        {"back\\slash", "back\\\\slash"},
        {"two\nlines", "two\\nlines"},
        {"\\n", "\\\\n"},          /* a literal backslash-n is not a newline */
        {"tab\there", "tab\there"}, /* only \, " and LF are escaped */
        {"h\xc3\xa9llo", "h\xc3\xa9llo"},
        {"", ""},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        pw_buf_reset(&F.out);
        pw_api_prom_escape(&F.out, rows[i].in);
        cr_expect_str_eq(F.out.data, rows[i].out, "row %zu", i);
    }
}

Test(api, prom_label_name_sanitizing) {
    static const struct { const char *in, *out; } rows[] = {
        {"origin", "origin"},
        {"contact.email", "contact_email"},
        {"utm-source", "utm_source"},
        {"2nd", "_2nd"},
        {"__name__", "x__name__"},
        {"Caps_OK9", "Caps_OK9"},
        {"h\xc3\xa9", "h__"},
        {"", "_"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        pw_buf_reset(&F.out);
        pw_api_prom_label_name(&F.out, rows[i].in);
        cr_expect_str_eq(F.out.data, rows[i].out, "row %zu", i);
    }
}

/* ---------- JSON ---------- */

static cJSON *parse(void) {
    cJSON *j = cJSON_Parse(F.out.data);
    cr_assert(j, "not JSON: %s", F.out.data);
    return j;
}

Test(api, alerts_firing_first) {
    pw_api_alerts(&F.v, &F.out);
    cJSON *j = parse();
    cr_expect_eq(cJSON_GetObjectItem(j, "firing")->valueint, 1);
    cr_expect_eq(cJSON_GetObjectItem(j, "pending")->valueint, 1);
    cJSON *a = cJSON_GetObjectItem(j, "alerts");
    cr_assert_eq(cJSON_GetArraySize(a), 2);
    cJSON *f = cJSON_GetArrayItem(a, 0), *p = cJSON_GetArrayItem(a, 1);
    cr_expect_str_eq(cJSON_GetObjectItem(f, "rule")->valuestring, "conversion_low");
    cr_expect_str_eq(cJSON_GetObjectItem(f, "state")->valuestring, "firing");
    cr_expect_str_eq(cJSON_GetObjectItem(f, "severity")->valuestring, "critical");
    cr_expect_str_eq(cJSON_GetObjectItem(f, "metric")->valuestring, "conversion");
    cr_expect_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(f, "labels"), "origin")->valuestring, "social");
    cr_expect_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(f, "rule_labels"), "team")->valuestring,
                     "growth");
    cr_expect_float_eq(cJSON_GetObjectItem(f, "value")->valuedouble, 0.25, 1e-12);
    cr_expect_float_eq(cJSON_GetObjectItem(f, "since")->valuedouble, 1793613660000.0,
                       0.5); /* 10:01: 0 won of 1 lead is below already */
    cJSON *cond = cJSON_GetObjectItem(f, "condition");
    cr_expect_str_eq(cJSON_GetObjectItem(cond, "op")->valuestring, "below");
    cr_expect_float_eq(cJSON_GetObjectItem(cond, "threshold")->valuedouble, 0.5, 1e-12);
    cr_expect_str_eq(cJSON_GetObjectItem(p, "rule")->valuestring, "many_leads");
    cr_expect_str_eq(cJSON_GetObjectItem(p, "state")->valuestring, "pending");
    cr_expect(cJSON_IsNull(cJSON_GetObjectItem(p, "fired_at")));
    cJSON_Delete(j);
}

static cJSON *find_by(cJSON *arr, const char *key, const char *val) {
    cJSON *it;
    cJSON_ArrayForEach(it, arr) {
        cJSON *k = cJSON_GetObjectItem(it, key);
        if (cJSON_IsString(k) && strcmp(k->valuestring, val) == 0) return it;
    }
    return NULL;
}

static cJSON *series_with(cJSON *metric, const char *label, const char *val) {
    cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(metric, "series")) {
        cJSON *l = cJSON_GetObjectItem(cJSON_GetObjectItem(it, "labels"), label);
        if (cJSON_IsString(l) && strcmp(l->valuestring, val) == 0) return it;
    }
    return NULL;
}

Test(api, series_with_recent_buckets) {
    pw_api_series(&F.v, &F.out);
    cJSON *j = parse();
    cJSON *ms = cJSON_GetObjectItem(j, "metrics");
    cr_assert_eq(cJSON_GetArraySize(ms), 4, "every metric, in rule-set order");
    cJSON *leads = find_by(ms, "name", "leads");
    cr_assert(leads);
    cr_expect_str_eq(cJSON_GetObjectItem(leads, "help")->valuestring, "Leads by origin");
    cr_expect_eq(cJSON_GetObjectItem(leads, "resolution_ms")->valuedouble, 600000.0);
    cr_expect_float_eq(cJSON_GetObjectItem(leads, "buckets_start_ms")->valuedouble, 1793610600000.0, 0.5);
    cJSON *s = series_with(leads, "origin", "social");
    cr_assert(s);
    cr_expect_eq(cJSON_GetObjectItem(s, "value")->valuedouble, 4.0);
    cr_expect_eq(cJSON_GetObjectItem(s, "count")->valuedouble, 4.0);
    cJSON *b = cJSON_GetObjectItem(s, "buckets");
    cr_assert_eq(cJSON_GetArraySize(b), 6, "1h / 10m");
    for (int i = 0; i < 5; i++) cr_expect_eq(cJSON_GetArrayItem(b, i)->valuedouble, 0.0, "bucket %d", i);
    cr_expect_eq(cJSON_GetArrayItem(b, 5)->valuedouble, 4.0, "the newest bucket holds all four");
    cJSON *st = cJSON_GetObjectItem(s, "states");
    cr_expect_str_eq(cJSON_GetArrayItem(st, 0)->valuestring, "pending");  /* many_leads */
    cr_expect_str_eq(cJSON_GetArrayItem(st, 1)->valuestring, "inactive"); /* lead_flood */
    cr_assert(series_with(leads, "origin", "a\"b\\c\nd"), "label values round-trip through JSON");

    /* a ratio's buckets: numerator bucket / denominator bucket, null where the denominator is empty */
    cJSON *conv = find_by(ms, "name", "conversion");
    cr_assert(conv);
    cr_expect(cJSON_IsNull(cJSON_GetObjectItem(conv, "aggregate")));
    cJSON *cb = cJSON_GetObjectItem(series_with(conv, "origin", "social"), "buckets");
    cr_assert_eq(cJSON_GetArraySize(cb), 6);
    for (int i = 0; i < 5; i++) cr_expect(cJSON_IsNull(cJSON_GetArrayItem(cb, i)), "bucket %d", i);
    cr_expect_float_eq(cJSON_GetArrayItem(cb, 5)->valuedouble, 0.25, 1e-12);
    /* no won series for the odd origin: its numerator counts 0 */
    cJSON *ob = cJSON_GetObjectItem(series_with(conv, "origin", "a\"b\\c\nd"), "buckets");
    cr_expect_eq(cJSON_GetArrayItem(ob, 5)->valuedouble, 0.0);
    cr_expect(cJSON_IsFalse(cJSON_GetObjectItem(leads, "truncated")));
    /* visits: default resolution window/60 -> 60 buckets */
    cJSON *vis = find_by(ms, "name", "visits");
    cr_expect_eq(cJSON_GetArraySize(cJSON_GetObjectItem(
                     cJSON_GetArrayItem(cJSON_GetObjectItem(vis, "series"), 0), "buckets")),
                 60);
    cJSON_Delete(j);
}

Test(api, series_caps) {
    F.v.max_series_per_metric = 1;
    F.v.max_buckets = 3;
    pw_api_series(&F.v, &F.out);
    cJSON *j = parse();
    cJSON *leads = find_by(cJSON_GetObjectItem(j, "metrics"), "name", "leads");
    cr_expect_eq(cJSON_GetArraySize(cJSON_GetObjectItem(leads, "series")), 1);
    cr_expect(cJSON_IsTrue(cJSON_GetObjectItem(leads, "truncated")));
    cr_expect_eq(cJSON_GetObjectItem(leads, "series_total")->valuedouble, 2.0);
    cJSON *b = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(leads, "series"), 0), "buckets");
    cr_expect_eq(cJSON_GetArraySize(b), 3, "the newest 3 buckets");
    cr_expect_eq(cJSON_GetArrayItem(b, 2)->valuedouble, 4.0);
    cJSON_Delete(j);
}

Test(api, rules_with_counts) {
    pw_api_rules(&F.v, &F.out);
    cJSON *j = parse();
    cJSON *rs = cJSON_GetObjectItem(j, "rules");
    cr_assert_eq(cJSON_GetArraySize(rs), 3);
    static const struct { const char *name, *metric, *op; double series, pending, firing; } rows[] = {
        {"conversion_low", "conversion", "below", 1, 0, 1}, /* match: origin=social */
        {"many_leads", "leads", "above", 2, 1, 0},
        {"lead_flood", "leads", "above", 2, 0, 0},
    };
    for (size_t i = 0; i < 3; i++) {
        cJSON *r = find_by(rs, "name", rows[i].name);
        cr_assert(r, "%s", rows[i].name);
        cr_expect_str_eq(cJSON_GetObjectItem(r, "metric")->valuestring, rows[i].metric);
        cr_expect_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(r, "condition"), "op")->valuestring,
                         rows[i].op);
        cr_expect_eq(cJSON_GetObjectItem(r, "series")->valuedouble, rows[i].series, "%s", rows[i].name);
        cr_expect_eq(cJSON_GetObjectItem(r, "pending")->valuedouble, rows[i].pending, "%s", rows[i].name);
        cr_expect_eq(cJSON_GetObjectItem(r, "firing")->valuedouble, rows[i].firing, "%s", rows[i].name);
    }
    cr_expect_str_eq(cJSON_GetObjectItem(find_by(rs, "name", "many_leads"), "for")->valuestring, "1h");
    cJSON_Delete(j);
}

Test(api, status_document) {
    pw_api_status(&F.v, &F.out);
    cJSON *j = parse();
    cr_expect(cJSON_IsTrue(cJSON_GetObjectItem(j, "ready")));
    cr_expect_str_eq(cJSON_GetObjectItem(j, "version")->valuestring, "1.2.3");
    cr_expect_eq(cJSON_GetObjectItem(j, "rejected_total")->valuedouble, 4.0);
    cr_expect_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "rejected"), "not_json")->valuedouble, 3.0);
    cr_expect_eq(cJSON_GetObjectItem(j, "events_applied")->valuedouble, 7.0);
    cJSON *k = cJSON_GetObjectItem(j, "kafka");
    cr_expect_eq(cJSON_GetObjectItem(k, "lag")->valuedouble, 5.0, "known partitions only");
    cr_expect(cJSON_IsNull(
        cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(k, "partitions"), 1), "lag")));
    cJSON *a = cJSON_GetObjectItem(j, "alerts");
    cr_expect_eq(cJSON_GetObjectItem(a, "firing")->valuedouble, 1.0);
    cr_expect_eq(cJSON_GetObjectItem(a, "pending")->valuedouble, 1.0);
    cJSON *r = cJSON_GetObjectItem(j, "reload");
    cr_expect(cJSON_IsFalse(cJSON_GetObjectItem(r, "last_ok")));
    cr_expect_str_eq(cJSON_GetObjectItem(r, "last_result")->valuestring,
                     "rules/a.yaml:3:7: unknown aggregate 'p99'");
    cr_expect(cJSON_IsFalse(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "snapshot"), "available")));
    cJSON *l = cJSON_GetObjectItem(j, "latency");
    cr_expect_eq(cJSON_GetObjectItem(l, "p50_ms")->valuedouble, 50.0, "upper bound of the median's bucket");
    cr_expect(cJSON_IsNull(cJSON_GetObjectItem(l, "p99_ms")), "past the last bound");
    cr_expect_str_eq(
        cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "sinks"), 0), "name")->valuestring,
        "log");
    cJSON_Delete(j);
}

Test(api, empty_view_renders_valid_documents) {
    pw_api_view v = {0};
    void (*fns[])(const pw_api_view *, pw_buf *) = {pw_api_status, pw_api_alerts, pw_api_series,
                                                    pw_api_rules};
    for (size_t i = 0; i < 4; i++) {
        pw_buf_reset(&F.out);
        fns[i](&v, &F.out);
        cJSON *j = parse();
        cJSON_Delete(j);
    }
    pw_buf_reset(&F.out);
    pw_api_metrics(&v, &F.out);
    cr_expect(has_line(F.out.data, "pipewatch_ready 0"));
    cr_expect(has_line(F.out.data, "pipewatch_build_info{version=\"unknown\"} 1"));
}

/* ---------- readiness ---------- */

Test(api, readiness_reasons) {
    static const struct {
        int rules, source, assigned, snap;
        int64_t snap_age_ms;
        int ready;
        const char *text;
    } rows[] = {
        {1, 1, 2, 0, 0, 1, "ready\n"},
        {0, 1, 2, 0, 0, 0, "not ready: rules not loaded\n"},
        {1, 0, 0, 0, 0, 0, "not ready: no Kafka consumer\n"},
        {1, 1, 0, 0, 0, 0, "not ready: no partitions assigned\n"},
        {0, 1, 0, 0, 0, 0, "not ready: rules not loaded; no partitions assigned\n"},
        {1, 1, 1, 1, 30000, 1, "ready\n"},                          /* snapshot 30 s old, limit 60 s */
        {1, 1, 1, 1, 90000, 0, "not ready: last snapshot too old\n"},
        {1, 1, 1, 1, -1, 0, "not ready: last snapshot too old\n"}, /* never written */
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        pw_api_view v = F.v;
        if (!rows[i].rules) { v.rs = NULL; v.eng = NULL; }
        v.has_source = rows[i].source;
        v.source.assigned = rows[i].assigned;
        v.snap_enabled = rows[i].snap;
        v.snap_max_age_ms = 60000;
        v.snap_last_ok_ms = rows[i].snap_age_ms < 0 ? 0 : v.now_ms - rows[i].snap_age_ms;
        pw_buf_reset(&F.out);
        cr_expect_eq(pw_api_ready(&v, &F.out), rows[i].ready, "row %zu", i);
        cr_expect_str_eq(F.out.data, rows[i].text, "row %zu", i);
    }
}

/* ---------- latency histogram ---------- */

Test(api, latency_buckets) {
    static const struct { double ms; int bucket; } rows[] = {
        {0, 0}, {-250, 0} /* clock skew */, {1, 0} /* le is inclusive */, {1.5, 1}, {5, 1}, {99.9, 5},
        {100, 5}, {300000, 14}, {300001, PW_LATENCY_NBUCKETS} /* +Inf */, {NAN, 0},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        pw_latency_hist h = {0};
        pw_latency_observe(&h, rows[i].ms);
        cr_expect_eq(h.count, 1);
        cr_expect_eq(h.buckets[rows[i].bucket], 1, "row %zu: %g ms", i, rows[i].ms);
    }
    for (int i = 1; i < PW_LATENCY_NBUCKETS; i++)
        cr_expect(pw_latency_bounds_ms[i] > pw_latency_bounds_ms[i - 1]);
}
