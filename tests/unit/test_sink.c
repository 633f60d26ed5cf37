/* test_sink.c -- the generic sink machinery, the log sink and the webhook sink.
 *
 * Real behaviour only: the log sink writes real files (and /dev/full for a
 * full disk); the webhook sink talks HTTP to a receiver on 127.0.0.1
 * (tests/tools/http_receiver.c) that can answer any status or hang.
 * Alertmanager and Kafka sinks: test_sink_alertmanager.c, test_sink_kafka.c.
 */
#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tools/http_receiver.h"
#include "../tools/sink_fixture.h"
#include "log.h"
#include "sink.h"
#include "snapshot.h"

/* ---------- configuration: must reject / must accept ---------- */

static pw_kv bad_name_hdr[] = {{"X Bad", "v"}};
static pw_kv crlf_hdr[] = {{"X-Token", "tok-secret\r\nX-Evil: 1"}};
static pw_kv unknown_prop[] = {{"no.such.property", "1"}};
static pw_kv secret_prop[] = {{"acks", "hunter2-not-a-number"}};
static pw_kv ok_hdrs[] = {{"Authorization", "Bearer abc"}, {"X-Empty", ""}};
static pw_kv ok_props[] = {{"acks", "all"}, {"linger.ms", "5"}};

typedef struct conf_row {
    const char *what;
    pw_sink_conf c;
    const char *expect;    /* must appear in the error */
    const char *forbidden; /* must not appear (a secret) */
} conf_row;

static const conf_row must_reject[] = {
    {"no name", {.kind = PW_SINK_LOG}, "needs a name", NULL},
    {"log file in a missing directory", {.name = "l", .kind = PW_SINK_LOG, .path = "/nonexistent/dir/x.log"},
     "cannot open /nonexistent/dir/x.log for appending: No such file or directory", NULL},
    {"webhook without url", {.name = "w", .kind = PW_SINK_WEBHOOK}, "a url is required", NULL},
    {"webhook ftp url", {.name = "w", .kind = PW_SINK_WEBHOOK, .url = "ftp://example.com/x"},
     "http:// or https://", NULL},
    {"webhook url without host", {.name = "w", .kind = PW_SINK_WEBHOOK, .url = "http://"}, "url", NULL},
    {"webhook bad header name",
     {.name = "w", .kind = PW_SINK_WEBHOOK, .url = "http://h/x", .headers = bad_name_hdr, .nheaders = 1},
     "header 'X Bad': not a valid header name", NULL},
    {"webhook header value with CRLF",
     {.name = "w", .kind = PW_SINK_WEBHOOK, .url = "http://h/x", .headers = crlf_hdr, .nheaders = 1},
     "header 'X-Token': the value must not contain line breaks", "tok-secret"},
    {"webhook bad body template",
     {.name = "w", .kind = PW_SINK_WEBHOOK, .url = "http://h/x", .body = "{\"text\": \"{{ rule \"}"},
     "body template, at byte 11", NULL},
    {"negative timeout", {.name = "w", .kind = PW_SINK_WEBHOOK, .url = "http://h/x", .timeout_ms = -1},
     "timeout must be", NULL},
    {"too many retries", {.name = "w", .kind = PW_SINK_WEBHOOK, .url = "http://h/x", .retries = 5000},
     "retries must be", NULL},
    {"backoff_max below backoff",
     {.name = "w", .kind = PW_SINK_WEBHOOK, .url = "http://h/x", .backoff_ms = 1000, .backoff_max_ms = 10},
     "backoff_max must be at least backoff", NULL},
    {"alertmanager without url", {.name = "a", .kind = PW_SINK_ALERTMANAGER}, "a url is required", NULL},
    {"alertmanager bad generator_url",
     {.name = "a", .kind = PW_SINK_ALERTMANAGER, .url = "http://am:9093", .generator_url = "ftp://x"},
     "generator_url must start with http:// or https://", NULL},
    {"kafka without topic", {.name = "k", .kind = PW_SINK_KAFKA, .brokers = "127.0.0.1:9092"},
     "a topic is required", NULL},
    {"kafka bad topic", {.name = "k", .kind = PW_SINK_KAFKA, .brokers = "b:9092", .topic = "a b"},
     "topic 'a b' is not a valid Kafka topic name", NULL},
    {"kafka without brokers", {.name = "k", .kind = PW_SINK_KAFKA, .topic = "t"}, "brokers are required",
     NULL},
    {"kafka unknown property",
     {.name = "k", .kind = PW_SINK_KAFKA, .brokers = "b:9092", .topic = "t", .props = unknown_prop,
      .nprops = 1},
     "property 'no.such.property': unknown to librdkafka", NULL},
    {"kafka bad property value (not echoed)",
     {.name = "k", .kind = PW_SINK_KAFKA, .brokers = "b:9092", .topic = "t", .props = secret_prop,
      .nprops = 1},
     "property 'acks': invalid value", "hunter2"},
    {"every problem at once",
     {.name = "w", .kind = PW_SINK_WEBHOOK, .headers = bad_name_hdr, .nheaders = 1, .retries = 5000},
     "retries must be between 0 and 1000; a url is required; header 'X Bad': not a valid header name", NULL},
};

Test(sink_conf, must_reject) {
    for (size_t i = 0; i < sizeof must_reject / sizeof must_reject[0]; i++) {
        const conf_row *r = &must_reject[i];
        char err[512] = "";
        pw_sink *s = pw_sink_new(&r->c, err, sizeof err);
        cr_expect_null(s, "%s: accepted", r->what);
        pw_sink_destroy(s);
        cr_expect(strstr(err, r->expect) != NULL, "%s: error '%s' lacks '%s'", r->what, err, r->expect);
        if (r->forbidden)
            cr_expect(strstr(err, r->forbidden) == NULL, "%s: error '%s' leaks a secret", r->what, err);
    }
}

Test(sink_conf, must_accept) {
    char path[] = "/tmp/pw_sink_acceptXXXXXX";
    int fd = mkstemp(path);
    close(fd);
    const pw_sink_conf rows[] = {
        {.name = "stdout", .kind = PW_SINK_LOG},
        {.name = "dash", .kind = PW_SINK_LOG, .path = "-"},
        {.name = "file", .kind = PW_SINK_LOG, .path = path},
        {.name = "hook", .kind = PW_SINK_WEBHOOK, .url = "https://hooks.example.com/services/T0/B0/XYZ"},
        {.name = "hook2", .kind = PW_SINK_WEBHOOK, .url = "http://u:p@[::1]:8080/x?token=1",
         .headers = ok_hdrs, .nheaders = 2, .body = "{\"text\": \"{{ annotations.summary }}\"}",
         .retries = 0},
        {.name = "am", .kind = PW_SINK_ALERTMANAGER, .url = "http://127.0.0.1:9093/",
         .generator_url = "https://grafana/d/x"},
        {.name = "k", .kind = PW_SINK_KAFKA, .brokers = "127.0.0.1:9092", .topic = "pipewatch.alerts",
         .props = ok_props, .nprops = 2},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char err[512] = "";
        pw_sink *s = pw_sink_new(&rows[i], err, sizeof err);
        cr_expect_not_null(s, "%s: rejected: %s", rows[i].name, err);
        if (s) {
            cr_expect_str_eq(pw_sink_name(s), rows[i].name);
            cr_expect_eq(pw_sink_kind_of(s), rows[i].kind);
        }
        pw_sink_destroy(s);
    }
    unlink(path);
}

Test(sink_conf, kind_names) {
    cr_expect_str_eq(pw_sink_kind_name(PW_SINK_LOG), "log");
    cr_expect_str_eq(pw_sink_kind_name(PW_SINK_WEBHOOK), "webhook");
    cr_expect_str_eq(pw_sink_kind_name(PW_SINK_ALERTMANAGER), "alertmanager");
    cr_expect_str_eq(pw_sink_kind_name(PW_SINK_KAFKA), "kafka");
    cr_expect_str_eq(pw_sink_kind_name((pw_sink_kind)42), "unknown");
}

Test(sink_conf, destroy_accepts_null_and_unstarted) {
    pw_sink_destroy(NULL);
    pw_sink_conf c = {.name = "l", .kind = PW_SINK_LOG, .path = "/dev/null"};
    pw_sink *s = pw_sink_new(&c, NULL, 0);
    cr_assert_not_null(s);
    /* queued before start, never delivered: failed at destroy, nothing leaks */
    pw_metric_def m = fx_metric();
    pw_rule_def r = fx_rule("r");
    const char *v[] = {"web", "DE"};
    pw_notification n = fx_notification(&r, &m, v, 1, 3);
    pw_sink_submit(s, &n);
    pw_sink_stats st;
    pw_sink_stats_get(s, &st);
    cr_expect_eq(st.submitted, 1);
    cr_expect_eq(st.queued, 1);
    pw_sink_stop(s, pw_time_mono_ms());
    pw_sink_stats_get(s, &st);
    cr_expect_eq(st.failed, 1);
    cr_expect_eq(st.queued, 0);
    pw_sink_destroy(s);
}

/* ---------- log sink ---------- */

static char *expected_json(const pw_notification *n) {
    pw_buf b;
    pw_buf_init(&b);
    pw_notification_json(n, &b);
    pw_buf_putc(&b, '\n');
    return b.data;
}

Test(sink_log, appends_json_lines_to_a_file) {
    char path[] = "/tmp/pw_sink_logXXXXXX";
    int fd = mkstemp(path);
    cr_assert(write(fd, "old line\n", 9) == 9);
    close(fd);
    pw_sink_conf c = {.name = "file", .kind = PW_SINK_LOG, .path = path};
    char err[256];
    pw_sink *s = pw_sink_new(&c, err, sizeof err);
    cr_assert_not_null(s, "%s", err);
    cr_assert_eq(pw_sink_start(s), 0);
    pw_metric_def m = fx_metric();
    pw_rule_def r = fx_rule("signups_low");
    const char *v1[] = {"web", "DE"}, *v2[] = {"app \"beta\"", "FR\nX"};
    pw_notification n1 = fx_notification(&r, &m, v1, 1, 3), n2 = fx_notification(&r, &m, v2, 0, 12);
    pw_sink_submit(s, &n1);
    pw_sink_submit(s, &n2);
    pw_sink_stop(s, pw_time_mono_ms() + 5000);
    pw_sink_stats st;
    pw_sink_stats_get(s, &st);
    cr_expect_eq(st.submitted, 2);
    cr_expect_eq(st.sent, 2);
    cr_expect_eq(st.failed, 0);
    pw_sink_destroy(s);

    char *got = fx_read_file(path), *e1 = expected_json(&n1), *e2 = expected_json(&n2);
    char *want = malloc(strlen(e1) + strlen(e2) + 16);
    sprintf(want, "old line\n%s%s", e1, e2);
    cr_expect_str_eq(got, want);
    /* each line is a JSON object on its own */
    char *line2 = strchr(got, '\n') + 1;
    cJSON *j = cJSON_Parse(strtok(line2, "\n"));
    cr_expect_not_null(j);
    cr_expect_str_eq(cJSON_GetObjectItem(j, "state")->valuestring, "firing");
    cJSON_Delete(j);
    free(got);
    free(e1);
    free(e2);
    free(want);
    unlink(path);
}

Test(sink_log, reopen_after_rotation) {
    char path[] = "/tmp/pw_sink_rotXXXXXX";
    int fd = mkstemp(path);
    close(fd);
    char rotated[64];
    snprintf(rotated, sizeof rotated, "%s.1", path);
    pw_sink_conf c = {.name = "file", .kind = PW_SINK_LOG, .path = path};
    pw_sink *s = pw_sink_new(&c, NULL, 0);
    cr_assert_not_null(s);
    cr_assert_eq(pw_sink_start(s), 0);
    pw_metric_def m = fx_metric();
    pw_rule_def r1 = fx_rule("before"), r2 = fx_rule("after");
    const char *v[] = {"web", "DE"};
    pw_notification n1 = fx_notification(&r1, &m, v, 1, 3), n2 = fx_notification(&r2, &m, v, 1, 3);
    pw_sink_submit(s, &n1);
    cr_assert(fx_wait_done(s, 1, 5000));
    cr_assert_eq(rename(path, rotated), 0); /* logrotate's "create" mode */
    pw_sink_reopen(s);
    pw_sink_submit(s, &n2);
    pw_sink_stop(s, pw_time_mono_ms() + 5000);
    pw_sink_destroy(s);
    char *old = fx_read_file(rotated), *cur = fx_read_file(path);
    cr_assert_not_null(cur, "the log file was not recreated");
    cr_expect(strstr(old, "\"rule\":\"before\"") && !strstr(old, "\"rule\":\"after\""), "rotated: %s", old);
    cr_expect(strstr(cur, "\"rule\":\"after\"") && !strstr(cur, "\"rule\":\"before\""), "current: %s", cur);
    free(old);
    free(cur);
    unlink(path);
    unlink(rotated);
}

Test(sink_log, disk_full_counts_failed_and_logs_rate_limited) {
    pw_sink_conf c = {.name = "full", .kind = PW_SINK_LOG, .path = "/dev/full"};
    pw_sink *s = pw_sink_new(&c, NULL, 0);
    cr_assert_not_null(s);
    fx_capture cap;
    fx_capture_begin(&cap);
    cr_assert_eq(pw_sink_start(s), 0);
    pw_metric_def m = fx_metric();
    pw_rule_def r = fx_rule("r");
    const char *v[] = {"web", "DE"};
    pw_notification n = fx_notification(&r, &m, v, 1, 3);
    for (int i = 0; i < 50; i++) pw_sink_submit(s, &n);
    cr_expect(fx_wait_done(s, 50, 5000));
    pw_sink_stop(s, pw_time_mono_ms() + 1000);
    char *log = fx_capture_end(&cap);
    pw_sink_stats st;
    pw_sink_stats_get(s, &st);
    pw_sink_destroy(s);
    cr_expect_eq(st.submitted, 50);
    cr_expect_eq(st.failed, 50);
    cr_expect_eq(st.sent, 0);
    int lines = fx_count_lines(log, "No space left on device");
    cr_expect(lines >= 1 && lines <= 5, "expected 1..5 rate-limited lines, got %d:\n%s", lines, log);
    cr_expect(strstr(log, "write /dev/full") != NULL, "%s", log);
    free(log);
}

Test(sink_log, stdout_by_default) {
    char path[] = "/tmp/pw_sink_stdoutXXXXXX";
    int fd = mkstemp(path);
    fflush(stdout);
    int saved = dup(1);
    dup2(fd, 1);
    close(fd);
    pw_sink_conf c = {.name = "out", .kind = PW_SINK_LOG, .path = "-"};
    pw_sink *s = pw_sink_new(&c, NULL, 0);
    cr_assert_not_null(s);
    cr_assert_eq(pw_sink_start(s), 0);
    pw_metric_def m = fx_metric();
    pw_rule_def r = fx_rule("r");
    const char *v[] = {"web", "DE"};
    pw_notification n = fx_notification(&r, &m, v, 1, 3);
    pw_sink_submit(s, &n);
    pw_sink_stop(s, pw_time_mono_ms() + 5000);
    pw_sink_destroy(s);
    dup2(saved, 1);
    close(saved);
    char *got = fx_read_file(path), *want = expected_json(&n);
    cr_expect_str_eq(got, want);
    free(got);
    free(want);
    unlink(path);
}

Test(sink_log, submit_after_stop_is_dropped) {
    pw_sink_conf c = {.name = "l", .kind = PW_SINK_LOG, .path = "/dev/null"};
    pw_sink *s = pw_sink_new(&c, NULL, 0);
    cr_assert_eq(pw_sink_start(s), 0);
    pw_sink_stop(s, pw_time_mono_ms() + 1000);
    pw_metric_def m = fx_metric();
    pw_rule_def r = fx_rule("r");
    const char *v[] = {"web", "DE"};
    pw_notification n = fx_notification(&r, &m, v, 1, 3);
    fx_capture cap;
    fx_capture_begin(&cap);
    pw_sink_submit(s, &n);
    char *log = fx_capture_end(&cap);
    pw_sink_stats st;
    pw_sink_stats_get(s, &st);
    cr_expect_eq(st.dropped, 1);
    cr_expect_eq(st.submitted, 0);
    cr_expect(strstr(log, "log l: stopped: dropped the firing notification of rule 'r'\n") != NULL, "%s",
              log);
    free(log);
    pw_sink_destroy(s);
}

/* ---------- webhook sink ---------- */

static pw_sink_conf hook_conf(char *url, int port, const char *path) {
    sprintf(url, "http://127.0.0.1:%d%s", port, path);
    pw_sink_conf c = {.name = "hook", .kind = PW_SINK_WEBHOOK, .url = url, .timeout_ms = 2000, .retries = 3,
                      .backoff_ms = 5, .backoff_max_ms = 20, .queue_max = 100};
    return c;
}

Test(sink_webhook, posts_the_notification_json_with_headers) {
    pw_rx *rx = pw_rx_start();
    cr_assert_not_null(rx);
    char url[128];
    pw_sink_conf c = hook_conf(url, pw_rx_port(rx), "/hook");
    pw_kv hdrs[] = {{"X-Token", "abc123"}, {"X-Team", "growth"}};
    c.headers = hdrs;
    c.nheaders = 2;
    char err[256];
    pw_sink *s = pw_sink_new(&c, err, sizeof err);
    cr_assert_not_null(s, "%s", err);
    cr_assert_eq(pw_sink_start(s), 0);
    pw_metric_def m = fx_metric();
    pw_rule_def r = fx_rule("signups_low");
    const char *v[] = {"web", "DE"};
    pw_notification n = fx_notification(&r, &m, v, 1, 3);
    pw_sink_submit(s, &n);
    cr_assert(fx_wait_done(s, 1, 5000));
    pw_sink_stop(s, pw_time_mono_ms() + 1000);
    pw_sink_stats st;
    pw_sink_stats_get(s, &st);
    cr_expect_eq(st.sent, 1);
    cr_expect_eq(st.retries, 0);
    pw_sink_destroy(s);

    cr_assert_eq(pw_rx_count(rx), 1);
    char *method = pw_rx_method(rx, 0), *path = pw_rx_path(rx, 0), *body = pw_rx_body(rx, 0);
    char *ct = pw_rx_header(rx, 0, "Content-Type"), *tok = pw_rx_header(rx, 0, "x-token");
    char *team = pw_rx_header(rx, 0, "X-Team"), *expect = pw_rx_header(rx, 0, "Expect");
    pw_buf want;
    pw_buf_init(&want);
    pw_notification_json(&n, &want);
    cr_expect_str_eq(method, "POST");
    cr_expect_str_eq(path, "/hook");
    cr_expect_str_eq(body, want.data);
    cr_expect_str_eq(ct, "application/json");
    cr_expect_str_eq(tok, "abc123");
    cr_expect_str_eq(team, "growth");
    cr_expect_null(expect);
    free(method); free(path); free(body); free(ct); free(tok); free(team); free(expect);
    pw_buf_free(&want);
    pw_rx_stop(rx);
}

/* status sequence -> requests made, sent, failed, retries (retries = 3) */
typedef struct status_row {
    const char *what;
    int statuses[5];
    int nstatuses;
    int requests, sent, failed, retries;
} status_row;

static const status_row status_rows[] = {
    {"200 at once", {200}, 1, 1, 1, 0, 0},
    {"204 is success", {204}, 1, 1, 1, 0, 0},
    {"500 retried 3 times then failed", {500}, 1, 4, 0, 1, 3},
    {"503 then 200", {503, 200}, 2, 2, 1, 0, 1},
    {"502, 500, then 201", {502, 500, 201}, 3, 3, 1, 0, 2},
    {"400 is not retried", {400}, 1, 1, 0, 1, 0},
    {"401 is not retried", {401}, 1, 1, 0, 1, 0},
    {"404 is not retried", {404}, 1, 1, 0, 1, 0},
    {"408 is retried", {408, 200}, 2, 2, 1, 0, 1},
    {"429 is retried", {429, 429, 200}, 3, 3, 1, 0, 2},
    {"a redirect is a failure", {302}, 1, 1, 0, 1, 0},
};

Test(sink_webhook, status_codes_decide_retries) {
    pw_metric_def m = fx_metric();
    pw_rule_def r = fx_rule("r");
    const char *v[] = {"web", "DE"};
    pw_notification n = fx_notification(&r, &m, v, 1, 3);
    for (size_t i = 0; i < sizeof status_rows / sizeof status_rows[0]; i++) {
        const status_row *row = &status_rows[i];
        pw_rx *rx = pw_rx_start();
        pw_rx_set_statuses(rx, row->statuses, row->nstatuses);
        char url[128];
        pw_sink_conf c = hook_conf(url, pw_rx_port(rx), "/x");
        pw_sink *s = pw_sink_new(&c, NULL, 0);
        cr_assert_not_null(s);
        fx_capture cap;
        fx_capture_begin(&cap);
        pw_sink_start(s);
        pw_sink_submit(s, &n);
        int done = fx_wait_done(s, 1, 5000);
        pw_sink_stop(s, pw_time_mono_ms() + 1000);
        char *log = fx_capture_end(&cap);
        pw_sink_stats st;
        pw_sink_stats_get(s, &st);
        cr_expect(done, "%s: not finished", row->what);
        cr_expect_eq(pw_rx_count(rx), row->requests, "%s: %d requests", row->what, pw_rx_count(rx));
        cr_expect_eq(st.sent, (uint64_t)row->sent, "%s: sent %llu", row->what, (unsigned long long)st.sent);
        cr_expect_eq(st.failed, (uint64_t)row->failed, "%s: failed", row->what);
        cr_expect_eq(st.retries, (uint64_t)row->retries, "%s: retries %llu", row->what,
                     (unsigned long long)st.retries);
        if (row->failed)
            cr_expect(strstr(log, "failed") != NULL, "%s: failure not logged: %s", row->what, log);
        free(log);
        pw_sink_destroy(s);
        pw_rx_stop(rx);
    }
}

Test(sink_webhook, connection_refused_is_retried_then_failed) {
    pw_rx *rx = pw_rx_start();
    int port = pw_rx_port(rx);
    pw_rx_stop(rx); /* nothing listens there now */
    char url[128];
    pw_sink_conf c = hook_conf(url, port, "/x");
    pw_sink *s = pw_sink_new(&c, NULL, 0);
    fx_capture cap;
    fx_capture_begin(&cap);
    pw_sink_start(s);
    pw_metric_def m = fx_metric();
    pw_rule_def r = fx_rule("r");
    const char *v[] = {"web", "DE"};
    pw_notification n = fx_notification(&r, &m, v, 1, 3);
    pw_sink_submit(s, &n);
    cr_expect(fx_wait_done(s, 1, 5000));
    pw_sink_stop(s, pw_time_mono_ms() + 1000);
    char *log = fx_capture_end(&cap);
    pw_sink_stats st;
    pw_sink_stats_get(s, &st);
    cr_expect_eq(st.failed, 1);
    cr_expect_eq(st.retries, 3);
    cr_expect(strstr(log, "after 4 attempts") != NULL, "%s", log);
    free(log);
    pw_sink_destroy(s);
}

Test(sink_webhook, hanging_receiver_never_blocks_submit) {
    pw_rx *rx = pw_rx_start();
    pw_rx_set_hang(rx, 1);
    char url[128];
    pw_sink_conf c = hook_conf(url, pw_rx_port(rx), "/slow");
    c.timeout_ms = 300;
    c.queue_max = 20;
    c.retries = 10;
    c.backoff_ms = 50;
    c.backoff_max_ms = 100;
    pw_sink *s = pw_sink_new(&c, NULL, 0);
    cr_assert_not_null(s);
    fx_capture cap;
    fx_capture_begin(&cap);
    pw_sink_start(s);
    pw_metric_def m = fx_metric();
    pw_rule_def r = fx_rule("r");
    const char *v[] = {"web", "DE"};
    pw_notification n = fx_notification(&r, &m, v, 1, 3);
    int64_t t0 = pw_time_mono_ms();
    for (int i = 0; i < 10 * 20; i++) pw_sink_submit(s, &n);
    int64_t took = pw_time_mono_ms() - t0;
    pw_sink_stats st;
    pw_sink_stats_get(s, &st);
    cr_expect(took < 1500, "200 submits took %lld ms", (long long)took);
    cr_expect_eq(st.submitted, 20);
    cr_expect_eq(st.dropped, 180);
    /* the first request hangs until the timeout, then is retried */
    cr_expect(pw_rx_wait(rx, 2, 3000), "no retry after the timeout");
    int64_t t1 = pw_time_mono_ms();
    pw_sink_stop(s, t1 + 400);
    int64_t stop_took = pw_time_mono_ms() - t1;
    char *log = fx_capture_end(&cap);
    pw_sink_stats_get(s, &st);
    cr_expect(stop_took < 2500, "stop took %lld ms for a 400 ms deadline", (long long)stop_took);
    cr_expect_eq(st.sent, 0);
    cr_expect_eq(st.failed, 20);
    cr_expect_eq(st.queued, 0);
    cr_expect(strstr(log, "queue full (20)") != NULL, "%s", log);
    cr_expect(strstr(log, "timed out") != NULL, "%s", log);
    cr_expect(fx_count_lines(log, "dropped the firing") <= 5, "drops not rate-limited:\n%s", log);
    free(log);
    pw_sink_destroy(s);
    pw_rx_stop(rx);
}

Test(sink_webhook, stop_interrupts_a_long_backoff) {
    pw_rx *rx = pw_rx_start();
    int st500[] = {500};
    pw_rx_set_statuses(rx, st500, 1);
    char url[128];
    pw_sink_conf c = hook_conf(url, pw_rx_port(rx), "/x");
    c.backoff_ms = 60000;
    c.backoff_max_ms = 60000;
    pw_sink *s = pw_sink_new(&c, NULL, 0);
    fx_capture cap;
    fx_capture_begin(&cap);
    pw_sink_start(s);
    pw_metric_def m = fx_metric();
    pw_rule_def r = fx_rule("r");
    const char *v[] = {"web", "DE"};
    pw_notification n = fx_notification(&r, &m, v, 1, 3);
    pw_sink_submit(s, &n);
    cr_assert(pw_rx_wait(rx, 1, 3000));
    fx_sleep_ms(50); /* now in the 30..60 s backoff */
    int64_t t0 = pw_time_mono_ms();
    pw_sink_stop(s, t0 + 5000);
    int64_t took = pw_time_mono_ms() - t0;
    char *log = fx_capture_end(&cap);
    pw_sink_stats st;
    pw_sink_stats_get(s, &st);
    cr_expect(took < 5000, "stop waited %lld ms in a backoff that ends after the deadline", (long long)took);
    cr_expect_eq(st.failed, 1);
    cr_expect_eq(pw_rx_count(rx), 1);
    free(log);
    pw_sink_destroy(s);
    pw_rx_stop(rx);
}

Test(sink_webhook, honours_retry_after_up_to_backoff_max) {
    pw_rx *rx = pw_rx_start();
    int sts[] = {429, 200};
    pw_rx_set_statuses(rx, sts, 2);
    pw_rx_set_reply(rx, "Retry-After: 1\r\n", "slow down");
    char url[128];
    pw_sink_conf c = hook_conf(url, pw_rx_port(rx), "/x");
    c.backoff_ms = 10;
    c.backoff_max_ms = 5000;
    pw_sink *s = pw_sink_new(&c, NULL, 0);
    fx_capture cap;
    fx_capture_begin(&cap);
    pw_sink_start(s);
    pw_metric_def m = fx_metric();
    pw_rule_def r = fx_rule("r");
    const char *v[] = {"web", "DE"};
    pw_notification n = fx_notification(&r, &m, v, 1, 3);
    pw_sink_submit(s, &n);
    cr_expect(fx_wait_done(s, 1, 5000));
    pw_sink_stop(s, pw_time_mono_ms() + 1000);
    free(fx_capture_end(&cap));
    cr_assert_eq(pw_rx_count(rx), 2);
    int64_t gap = pw_rx_time(rx, 1) - pw_rx_time(rx, 0);
    cr_expect(gap >= 950, "retried after %lld ms despite Retry-After: 1", (long long)gap);
    pw_sink_destroy(s);
    pw_rx_stop(rx);
}

Test(sink_webhook, slack_body_template_escapes_labels) {
    pw_rx *rx = pw_rx_start();
    char url[128];
    pw_sink_conf c = hook_conf(url, pw_rx_port(rx), "/services/T0/B0/secretpath");
    c.body = "{\"text\": \"[{{ state }}] {{ rule }}: {{ annotations.summary }} ({{ labels.origin }})\", "
             "\"attachments\": [{{ json }}]}";
    char err[256];
    pw_sink *s = pw_sink_new(&c, err, sizeof err);
    cr_assert_not_null(s, "%s", err);
    pw_sink_start(s);
    pw_metric_def m = fx_metric();
    pw_rule_def r = fx_rule("signups_low");
    const char *v[] = {"app \"beta\"\nline2", "DE"};
    pw_notification n = fx_notification(&r, &m, v, 1, 3);
    pw_sink_submit(s, &n);
    cr_assert(fx_wait_done(s, 1, 5000));
    pw_sink_stop(s, pw_time_mono_ms() + 1000);
    pw_sink_destroy(s);
    char *body = pw_rx_body(rx, 0);
    cJSON *j = cJSON_Parse(body);
    cr_assert_not_null(j, "not JSON: %s", body);
    cJSON *text = cJSON_GetObjectItem(j, "text");
    cr_assert(cJSON_IsString(text));
    cr_expect_str_eq(text->valuestring,
                     "[firing] signups_low: Signups from app \"beta\"\nline2 at 3 (app \"beta\"\nline2)");
    cJSON *att = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "attachments"), 0);
    cr_expect_str_eq(cJSON_GetObjectItem(att, "rule")->valuestring, "signups_low");
    cr_expect_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(att, "labels"), "origin")->valuestring,
                     "app \"beta\"\nline2");
    cJSON_Delete(j);
    free(body);
    pw_rx_stop(rx);
}

/* Secrets in a header, in the URL's userinfo/query/path: none may reach the log,
 * whatever goes wrong (a 500 with the token echoed back, a 401, a refused
 * connection), while the log still names the endpoint. */
Test(sink_webhook, secrets_never_logged) {
    pw_rx *rx = pw_rx_start();
    int sts[] = {500, 401};
    pw_rx_set_statuses(rx, sts, 2);
    pw_rx_set_reply(rx, NULL, "bad token Bearer hdr-SECRET-1 for user u-SECRET-2 (query q-SECRET-3)");
    char url[256];
    snprintf(url, sizeof url,
             "http://u-SECRET-2:p-SECRET-4@127.0.0.1:%d/hooks/p-SECRET-5?token=q-SECRET-3#f-SECRET-6",
             pw_rx_port(rx));
    pw_kv hdrs[] = {{"Authorization", "Bearer hdr-SECRET-1"}};
    pw_sink_conf c = {.name = "hook", .kind = PW_SINK_WEBHOOK, .url = url, .headers = hdrs, .nheaders = 1,
                      .timeout_ms = 1000, .retries = 1, .backoff_ms = 5, .backoff_max_ms = 10};
    fx_capture cap;
    fx_capture_begin(&cap);
    pw_sink *s = pw_sink_new(&c, NULL, 0);
    cr_assert_not_null(s);
    pw_sink_start(s);
    pw_metric_def m = fx_metric();
    pw_rule_def r = fx_rule("r");
    const char *v[] = {"web", "DE"};
    pw_notification n = fx_notification(&r, &m, v, 1, 3);
    pw_sink_submit(s, &n);
    cr_expect(fx_wait_done(s, 1, 5000));
    pw_sink_stop(s, pw_time_mono_ms() + 1000);
    pw_sink_destroy(s);
    /* the same secrets against a closed port (libcurl's own error text) */
    int port = pw_rx_port(rx);
    pw_rx_stop(rx);
    (void)port;
    s = pw_sink_new(&c, NULL, 0);
    pw_sink_start(s);
    pw_sink_submit(s, &n);
    cr_expect(fx_wait_done(s, 1, 5000));
    pw_sink_stop(s, pw_time_mono_ms() + 1000);
    pw_sink_destroy(s);
    char *log = fx_capture_end(&cap);
    cr_expect(strstr(log, "SECRET") == NULL, "a secret was logged:\n%s", log);
    char shown[64];
    snprintf(shown, sizeof shown, "http://127.0.0.1:%d/hooks/...", port);
    cr_expect(strstr(log, shown) != NULL, "the endpoint %s is not named:\n%s", shown, log);
    cr_expect(strstr(log, "HTTP 500") && strstr(log, "HTTP 401"), "%s", log);
    free(log);
}

static void count_note(const pw_snap_note *n, void *ud) { (void)n; (void)ud; }

Test(sink_webhook, undelivered_at_stop_counted_failed_and_kept_for_the_snapshot) {
    pw_rx *rx = pw_rx_start();
    pw_rx_set_hang(rx, 1);
    char url[128];
    pw_sink_conf c = hook_conf(url, pw_rx_port(rx), "/x");
    c.timeout_ms = 10000;
    pw_sink *s = pw_sink_new(&c, NULL, 0);
    fx_capture cap;
    fx_capture_begin(&cap);
    pw_sink_start(s);
    pw_metric_def m = fx_metric();
    pw_rule_def r = fx_rule("r");
    const char *v[] = {"web", "DE"};
    pw_notification n = fx_notification(&r, &m, v, 1, 3);
    for (int i = 0; i < 5; i++) pw_sink_submit(s, &n);
    cr_assert(pw_rx_wait(rx, 1, 3000));
    int64_t t0 = pw_time_mono_ms();
    pw_sink_stop(s, t0 + 200); /* a 10 s request in flight is abandoned at the deadline */
    int64_t took = pw_time_mono_ms() - t0;
    char *log = fx_capture_end(&cap);
    pw_sink_stats st;
    pw_sink_stats_get(s, &st);
    cr_expect(took < 5000, "stop took %lld ms", (long long)took);
    cr_expect_eq(st.failed, 5);
    cr_expect_eq(st.queued, 0);
    /* the abandoned request goes back to the queue: all 5 stay for the final snapshot (destroy frees them) */
    cr_expect(strstr(log, "stopped with 5 notifications undelivered") != NULL, "%s", log);
    cr_expect_eq(pw_sink_outbox_foreach(s, count_note, NULL), 5);
    free(log);
    pw_sink_destroy(s);
    pw_rx_stop(rx);
}

/* ---------- the outbox (snapshots) ---------- */

typedef struct notes {
    pw_snap_note v[32];
    char *data[32];
    int n;
} notes;

static void keep_note(const pw_snap_note *n, void *ud) {
    notes *ns = ud;
    cr_assert_lt(ns->n, 32);
    ns->v[ns->n] = *n;
    ns->data[ns->n] = strndup(n->data, n->len);
    ns->v[ns->n].data = ns->data[ns->n];
    ns->n++;
}

/* Five notifications of distinct series to a hanging receiver: the first is being delivered, four wait.
 * The outbox holds all five, oldest first, with the bytes the sink sends; requeued into a fresh sink of
 * the same kind whose receiver answers, they arrive in the same order with the same bodies. */
Test(sink_outbox, queued_and_inflight_then_requeued_in_order) {
    pw_rx *rx = pw_rx_start();
    pw_rx_set_hang(rx, 1);
    char url[128];
    pw_sink_conf c = hook_conf(url, pw_rx_port(rx), "/x");
    c.timeout_ms = 10000;
    pw_sink *s = pw_sink_new(&c, NULL, 0);
    fx_capture cap;
    fx_capture_begin(&cap);
    pw_sink_start(s);
    pw_metric_def m = fx_metric();
    pw_rule_def r = fx_rule("r");
    const char *countries[] = {"DE", "FR", "IT", "ES", "PL"};
    uint64_t fps[5];
    for (int i = 0; i < 5; i++) {
        const char *v[] = {"web", countries[i]};
        pw_notification n = fx_notification(&r, &m, v, i != 3, 3 + i);
        fps[i] = n.fingerprint;
        pw_sink_submit(s, &n);
    }
    cr_assert(pw_rx_wait(rx, 1, 3000), "the first notification is not being delivered");
    notes ns = {0};
    pw_sink_outbox_hold(s);
    uint32_t seen = pw_sink_outbox_foreach(s, keep_note, &ns);
    pw_sink_outbox_release(s);
    cr_assert_eq(seen, 5);
    cr_assert_eq(ns.n, 5);
    char *first = pw_rx_body(rx, 0);
    cr_assert_str_eq(ns.data[0], first, "the in-flight notification comes first, as sent");
    free(first);
    for (int i = 0; i < 5; i++) {
        cr_expect_eq(ns.v[i].fingerprint, fps[i], "note %d", i);
        cr_expect_eq(ns.v[i].firing, i != 3, "note %d", i);
        cr_expect(strstr(ns.data[i], countries[i]) != NULL, "note %d: %s", i, ns.data[i]);
    }
    pw_sink_stop(s, pw_time_mono_ms() + 200);
    pw_sink_destroy(s);
    pw_rx_stop(rx);

    pw_rx *rx2 = pw_rx_start();
    pw_sink_conf c2 = hook_conf(url, pw_rx_port(rx2), "/x");
    pw_sink *s2 = pw_sink_new(&c2, NULL, 0);
    pw_sink_start(s2);
    for (int i = 0; i < 5; i++) cr_assert_eq(pw_sink_requeue(s2, &ns.v[i]), 0);
    cr_assert(fx_wait_done(s2, 5, 5000));
    pw_sink_stats st;
    pw_sink_stats_get(s2, &st);
    cr_expect_eq(st.sent, 5);
    cr_expect_eq(st.submitted, 5);
    for (int i = 0; i < 5; i++) {
        char *b = pw_rx_body(rx2, i);
        cr_expect_str_eq(b, ns.data[i], "request %d", i);
        free(b);
    }
    pw_sink_stop(s2, pw_time_mono_ms() + 1000);
    cr_expect_eq(pw_sink_outbox_foreach(s2, count_note, NULL), 0, "delivered notifications left the outbox");
    free(fx_capture_end(&cap));
    pw_sink_destroy(s2);
    pw_rx_stop(rx2);
    for (int i = 0; i < 5; i++) free(ns.data[i]);
}

/* Requeue honours the bound: past queue_max the note is dropped and counted. */
Test(sink_outbox, requeue_past_the_queue_bound_is_counted_dropped) {
    pw_rx *rx = pw_rx_start();
    pw_rx_set_hang(rx, 1);
    char url[128];
    pw_sink_conf c = hook_conf(url, pw_rx_port(rx), "/x");
    c.queue_max = 3;
    c.timeout_ms = 10000;
    pw_sink *s = pw_sink_new(&c, NULL, 0);
    fx_capture cap;
    fx_capture_begin(&cap);
    pw_sink_start(s);
    pw_snap_note n = {.fingerprint = 7, .at = 1, .firing = 1, .data = "{}", .len = 2};
    int ok = 0;
    for (int i = 0; i < 5; i++) ok += pw_sink_requeue(s, &n) == 0;
    pw_sink_stats st;
    pw_sink_stats_get(s, &st);
    cr_expect_eq(ok, 3);
    cr_expect_eq(st.dropped, 2);
    pw_sink_stop(s, pw_time_mono_ms() + 100);
    free(fx_capture_end(&cap));
    pw_sink_destroy(s);
    pw_rx_stop(rx);
}
