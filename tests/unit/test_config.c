/* test_config.c -- the daemon's config loader: what it accepts, and every mistake at FILE:LINE:COL.
 * Rows read like the config reference in the README. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

static char path[256];

static pw_config *load(const char *text, pw_diag *d) {
    snprintf(path, sizeof path, "/tmp/pw-test-config-%d.yaml", (int)getpid());
    FILE *f = fopen(path, "w");
    cr_assert(f);
    fputs(text, f);
    fclose(f);
    pw_diag_init(d);
    pw_config *c = pw_config_load(path, d);
    unlink(path);
    return c;
}

#define BASE "kafka: {brokers: \"127.0.0.1:9092\", topics: [crm]}\nrules: [rules]\n"

Test(config, defaults) {
    pw_diag d;
    pw_config *c = load(BASE, &d);
    cr_assert(c, "a minimal config loads");
    cr_assert_str_eq(c->group, "pipewatch");
    cr_assert_str_eq(c->assignment, "range");
    cr_assert_str_eq(c->type_field, "type");
    cr_assert_str_eq(c->time_field, "ts");
    cr_assert_eq(c->max_size, 1u << 20);
    cr_assert_eq(c->clock_wall, 1);
    cr_assert_eq(c->evaluate_every_ms, 1000);
    cr_assert_eq(c->max_series, 100000u);
    cr_assert_eq(c->nsinks, 1, "without sinks: one default log sink");
    cr_assert_eq(c->sinks[0].kind, PW_SINK_LOG);
    cr_assert(c->sinks[0].is_default);
    cr_assert_eq(c->nrule_paths, 1);
    cr_assert(strstr(c->rule_paths[0], "/tmp/rules"), "rule paths are relative to the config file: %s", c->rule_paths[0]);
    pw_config_destroy(c);
    pw_diag_free(&d);
}

Test(config, environment_expansion) {
    setenv("PW_TEST_TOKEN", "s3cret", 1);
    pw_diag d;
    pw_config *c = load(BASE "sinks:\n  - {name: w, type: webhook, url: \"https://h/x\", headers: {Authorization: \"Bearer ${PW_TEST_TOKEN}\"}}\n"
                             "  - {name: l, type: log, path: \"cost $$5.log\"}\n", &d);
    cr_assert(c);
    cr_assert_str_eq(c->sinks[0].headers[0].val, "Bearer s3cret");
    cr_assert(strstr(c->sinks[1].path, "cost $5.log"), "$$ is a literal $");
    pw_config_destroy(c);
    pw_diag_free(&d);
}

typedef struct reject_row {
    const char *yaml;
    const char *where;   /* "LINE:COL" */
    const char *msg;     /* substring */
} reject_row;

static const reject_row rejects[] = {
    {"rules: [r]\n", "1:1", "missing 'kafka' section"},
    {"kafka: {brokers: b:1, topics: [t]}\n", "1:1", "missing 'rules'"},
    {"kafka: {topics: [t]}\nrules: [r]\n", "1:1", "kafka needs 'brokers'"},
    {"kafka: {brokers: b:1, topics: [t]}\nrules: [r, \"-\"]\n", "2:12", "'-' is not a rule file"},
    {"kafka: {brokers: b:1, topics: [t]}\nrules: \"-\"\n", "2:8", "'-' is not a rule file"},
    {"kafka: {brokers: \"\", topics: [t]}\nrules: [r]\n", "1:18", "brokers is empty"},
    {"kafka: {brokers: b:1, topics: []}\nrules: [r]\n", "1:31", "topics is empty"},
    {"kafka: {brokers: b:1, topics: [t], group: \"\"}\nrules: [r]\n", "1:43", "group is empty"},
    {"kafka: {brokers: b:1, topics: [t], assignment: cooperative-sticky}\nrules: [r]\n", "1:48",
     "unknown assignment 'cooperative-sticky'"},
    {"kafka: {brokers: b:1, topics: [t], brokrs: x}\nrules: [r]\n", "1:36", "did you mean 'brokers'"},
    {BASE "clock: walll\n", "3:8", "did you mean 'wall'"},
    {BASE "evaluate_every: 5ms\n", "3:17", "evaluate_every must be from 10ms to 1m"},
    {BASE "evaluate_every: -1s\n", "3:17", "negative duration"},
    {BASE "events: {max_size: 10}\n", "3:20", ""},
    {BASE "engine: {max_series: 0}\n", "3:22", "expected a series count (1 to 100000000), got a number '0'"},
    {BASE "sinks:\n  - {name: a, type: webhook, url: \"http://x\", retries: 100000}\n", "4:56",
     "expected a retry count (0 to 1000), got a number '100000'"},
    {BASE "log: {level: verbose}\n", "3:14", "unknown log level 'verbose'"},
    {BASE "rules: []\n", "3:1", "duplicate key 'rules'"},
    {BASE "sinks:\n  - {type: log}\n", "4:5", "sink needs a 'name'"},
    {BASE "sinks:\n  - {name: a, type: slack}\n", "4:21", "unknown sink type 'slack'"},
    {BASE "sinks:\n  - {name: a, type: webhook}\n", "4:5", "a webhook sink needs a 'url'"},
    {BASE "sinks:\n  - {name: a, type: webhook, url: \"ftp://x\"}\n", "4:35", "url must start with http"},
    {BASE "sinks:\n  - {name: a, type: log, url: \"http://x\"}\n", "4:26", "a log sink takes no 'url'"},
    {BASE "sinks:\n  - {name: a, type: kafka}\n", "4:5", "a kafka sink needs a 'topic'"},
    {BASE "sinks:\n  - {name: a, type: log}\n  - {name: a, type: log}\n", "5:5", "duplicate sink name 'a' (first at 4:5)"},
    {BASE "sinks:\n  - {name: a, type: webhook, url: \"http://x\", body: \"{{ valeu }}\"}\n", "4:54", "valeu"},
    {BASE "sinks:\n  - {name: a, type: webhook, url: \"http://x\", headers: {X: \"${PW_TEST_UNSET_VAR}\"}}\n", "4:61",
     "environment variable 'PW_TEST_UNSET_VAR' is not set"},
    {BASE "kafak: {}\n", "3:1", "did you mean 'kafka'"},
};

Test(config, every_mistake_is_located) {
    unsetenv("PW_TEST_UNSET_VAR");
    for (size_t i = 0; i < sizeof rejects / sizeof rejects[0]; i++) {
        pw_diag d;
        pw_config *c = load(rejects[i].yaml, &d);
        cr_expect_null(c, "row %zu must be rejected:\n%s", i, rejects[i].yaml);
        char want[320];
        snprintf(want, sizeof want, "%s:%s: ", path, rejects[i].where);
        int found = 0;
        for (int j = 0; j < d.n; j++)
            if (!strncmp(d.v[j].text, want, strlen(want)) && strstr(d.v[j].text, rejects[i].msg)) found = 1;
        if (!found)
            for (int j = 0; j < d.n; j++) fprintf(stderr, "  row %zu got: %s\n", i, d.v[j].text);
        cr_expect(found, "row %zu: expected '%s' with '%s'", i, rejects[i].where, rejects[i].msg);
        pw_config_destroy(c);
        pw_diag_free(&d);
    }
}

Test(config, check_rules_names_unknown_sinks) {
    pw_diag d;
    pw_config *c = load(BASE "sinks:\n  - {name: ops-webhook, type: log}\n", &d);
    cr_assert(c);
    pw_diag_free(&d);
    pw_rule_def r = {0};
    char *notify[] = {"ops-webhok"};
    r.name = "x";
    r.notify = notify;
    r.nnotify = 1;
    r.loc.file = "rules.yaml";
    r.loc.line = 3;
    r.loc.col = 11;
    pw_ruleset rs = {0};
    rs.rules = &r;
    rs.nrules = 1;
    pw_diag_init(&d);
    cr_assert_eq(pw_config_check_rules(c, &rs, &d), 1);
    cr_assert(strstr(d.v[0].text, "rules.yaml:3:11: rule 'x' notifies unknown sink 'ops-webhok' (did you mean 'ops-webhook'?)"),
              "%s", d.v[0].text);
    pw_diag_free(&d);
    pw_config_destroy(c);
}
