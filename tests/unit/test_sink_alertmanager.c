/* test_sink_alertmanager.c -- the alertmanager sink against a recording HTTP
 * receiver (exact payloads, re-sends, batching, bounds) and against the real
 * Prometheus Alertmanager from Debian (prometheus-alertmanager), started here
 * on a free loopback port with clustering off and killed at the end (also
 * when the test fails: .fini, and PR_SET_PDEATHSIG if the test dies). The
 * real-Alertmanager test is skipped when the binary is not installed.
 */
#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "../tools/http_receiver.h"
#include "../tools/sink_fixture.h"
#include "sink.h"

static pw_sink *am_sink(const char *base, int64_t resend_ms, uint32_t queue_max) {
    pw_sink_conf c = {.name = "am", .kind = PW_SINK_ALERTMANAGER, .url = (char *)base, .timeout_ms = 2000,
                      .retries = 2, .backoff_ms = 5, .backoff_max_ms = 10, .queue_max = queue_max,
                      .resend_ms = resend_ms, .generator_url = "https://grafana.example/d/signups"};
    char err[256];
    pw_sink *s = pw_sink_new(&c, err, sizeof err);
    cr_assert_not_null(s, "%s", err);
    return s;
}

static cJSON *body_json(pw_rx *rx, int i) {
    char *b = pw_rx_body(rx, i);
    cr_assert_not_null(b, "no request %d", i);
    cJSON *j = cJSON_Parse(b);
    cr_assert(cJSON_IsArray(j), "request %d is not a JSON array: %s", i, b);
    free(b);
    return j;
}

static const char *jstr(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int64_t jtime(const cJSON *o, const char *k) {
    const char *s = jstr(o, k);
    int64_t t = -1;
    if (!s || pw_time_parse_rfc3339(s, strlen(s), &t) < 0) return -1;
    return t;
}

/* ---------- against a recording receiver ---------- */

Test(sink_alertmanager, alert_format) {
    pw_rx *rx = pw_rx_start();
    char base[128];
    snprintf(base, sizeof base, "http://127.0.0.1:%d/", pw_rx_port(rx));
    pw_sink *s = am_sink(base, 60000, 100);
    cr_assert_eq(pw_sink_start(s), 0);
    pw_metric_def m = fx_metric();
    pw_rule_def r = fx_rule("signups_low");
    const char *v[] = {"web", "DE"};
    pw_notification n = fx_notification(&r, &m, v, 1, 3);
    int64_t t0 = pw_time_now_ms();
    pw_sink_submit(s, &n);
    cr_assert(fx_wait_done(s, 1, 5000));
    pw_sink_stats st;
    pw_sink_stats_get(s, &st);
    cr_expect_eq(st.sent, 1);
    pw_sink_stop(s, pw_time_mono_ms() + 1000);
    pw_sink_destroy(s);

    char *path = pw_rx_path(rx, 0), *ct = pw_rx_header(rx, 0, "Content-Type");
    cr_expect_str_eq(path, "/api/v2/alerts");
    cr_expect_str_eq(ct, "application/json");
    free(path);
    free(ct);
    cJSON *arr = body_json(rx, 0);
    cr_assert_eq(cJSON_GetArraySize(arr), 1);
    cJSON *a = cJSON_GetArrayItem(arr, 0);
    cJSON *labels = cJSON_GetObjectItem(a, "labels"), *ann = cJSON_GetObjectItem(a, "annotations");
    /* every label, with dotted names made valid for Alertmanager */
    static const char *const want_labels[][2] = {{"alertname", "signups_low"}, {"severity", "critical"},
                                                 {"metric", "signup_rate"}, {"origin", "web"},
                                                 {"payload_country", "DE"}, {"team", "growth"}};
    cr_expect_eq(cJSON_GetArraySize(labels), 6);
    for (int i = 0; i < 6; i++) {
        const char *got = jstr(labels, want_labels[i][0]);
        cr_expect(got && !strcmp(got, want_labels[i][1]), "label %s = %s", want_labels[i][0],
                  got ? got : "(none)");
    }
    cr_expect_str_eq(jstr(ann, "summary"), "Signups from web at 3");
    cr_expect_str_eq(jstr(ann, "runbook_url"), "https://wiki/signups");
    cr_expect_eq(jtime(a, "startsAt"), n.active_since);
    int64_t ends = jtime(a, "endsAt");
    cr_expect(ends >= t0 + 180000 - 1000 && ends <= pw_time_now_ms() + 180000,
              "firing endsAt should be now + 3 * resend, got %lld", (long long)(ends - t0));
    cr_expect_str_eq(jstr(a, "generatorURL"), "https://grafana.example/d/signups");
    cJSON_Delete(arr);
    pw_rx_stop(rx);
}

Test(sink_alertmanager, label_clashes_and_empty_values) {
    pw_rx *rx = pw_rx_start();
    char base[128];
    snprintf(base, sizeof base, "http://127.0.0.1:%d/am/", pw_rx_port(rx));
    pw_sink *s = am_sink(base, 60000, 100);
    pw_sink_start(s);
    pw_metric_def m = fx_metric();
    pw_rule_def r = fx_rule("signups_low");
    pw_kv clash[] = {{"severity", "page"}, {"payload_country", "XX"}, {"9lives", "yes"}};
    r.labels = clash;
    r.nlabels = 3;
    const char *v[] = {"", "DE"};
    pw_notification n = fx_notification(&r, &m, v, 1, 3);
    pw_sink_submit(s, &n);
    cr_assert(fx_wait_done(s, 1, 5000));
    pw_sink_stop(s, pw_time_mono_ms() + 1000);
    pw_sink_destroy(s);
    char *path = pw_rx_path(rx, 0);
    cr_expect_str_eq(path, "/am/api/v2/alerts");
    free(path);
    cJSON *arr = body_json(rx, 0);
    cJSON *labels = cJSON_GetObjectItem(cJSON_GetArrayItem(arr, 0), "labels");
    cr_expect_str_eq(jstr(labels, "severity"), "critical");      /* ours comes first */
    cr_expect_str_eq(jstr(labels, "payload_country"), "DE");     /* the series label comes first */
    cr_expect_null(jstr(labels, "origin"));                      /* empty value = absent */
    cr_expect_str_eq(jstr(labels, "_9lives"), "yes");            /* a name cannot start with a digit */
    cr_expect_eq(cJSON_GetArraySize(labels), 5);
    cJSON_Delete(arr);
    pw_rx_stop(rx);
}

static int count_alerts(pw_rx *rx, int i) {
    cJSON *arr = body_json(rx, i);
    int n = cJSON_GetArraySize(arr);
    cJSON_Delete(arr);
    return n;
}

Test(sink_alertmanager, resends_firing_until_resolved) {
    pw_rx *rx = pw_rx_start();
    char base[128];
    snprintf(base, sizeof base, "http://127.0.0.1:%d", pw_rx_port(rx));
    pw_sink *s = am_sink(base, 150, 100);
    pw_sink_start(s);
    pw_metric_def m = fx_metric();
    pw_rule_def r = fx_rule("signups_low");
    const char *va[] = {"web", "DE"}, *vb[] = {"app", "FR"};
    pw_notification a = fx_notification(&r, &m, va, 1, 3), b = fx_notification(&r, &m, vb, 1, 4);
    pw_sink_submit(s, &a);
    pw_sink_submit(s, &b);
    cr_assert(fx_wait_done(s, 2, 5000));
    int before = pw_rx_count(rx);
    cr_assert(pw_rx_wait(rx, before + 3, 3000), "no re-sends every 150 ms");
    int last = pw_rx_count(rx) - 1;
    cr_expect_eq(count_alerts(rx, last), 2, "a re-send carries every firing alert");
    pw_sink_stats st;
    pw_sink_stats_get(s, &st);
    cr_expect_eq(st.sent, 2, "re-sends are not counted as notifications");

    /* resolve a: sent once with endsAt = at, then only b is re-sent */
    pw_notification ra = fx_notification(&r, &m, va, 0, 12);
    ra.at = pw_time_now_ms() - 5000;
    int mark = pw_rx_count(rx);
    pw_sink_submit(s, &ra);
    cr_assert(fx_wait_done(s, 3, 5000));
    int found = 0;
    for (int i = mark; i < pw_rx_count(rx) && !found; i++) {
        cJSON *arr = body_json(rx, i);
        cJSON *it;
        cJSON_ArrayForEach(it, arr) {
            if (jtime(it, "endsAt") == ra.at &&
                !strcmp(jstr(cJSON_GetObjectItem(it, "labels"), "origin"), "web")) found = 1;
        }
        cJSON_Delete(arr);
    }
    cr_expect(found, "no resolved alert with endsAt = at");
    mark = pw_rx_count(rx);
    cr_assert(pw_rx_wait(rx, mark + 2, 3000));
    cJSON *arr = body_json(rx, mark + 1);
    cr_expect_eq(cJSON_GetArraySize(arr), 1);
    cr_expect_str_eq(jstr(cJSON_GetObjectItem(cJSON_GetArrayItem(arr, 0), "labels"), "origin"), "app");
    cJSON_Delete(arr);
    pw_sink_stop(s, pw_time_mono_ms() + 1000);
    pw_sink_destroy(s);
    pw_rx_stop(rx);
}

Test(sink_alertmanager, queued_alerts_go_in_one_post) {
    pw_rx *rx = pw_rx_start();
    char base[128];
    snprintf(base, sizeof base, "http://127.0.0.1:%d", pw_rx_port(rx));
    pw_sink *s = am_sink(base, 60000, 100);
    pw_metric_def m = fx_metric();
    pw_rule_def r = fx_rule("signups_low");
    static const char *origins[] = {"a", "b", "c", "d", "e"};
    for (int i = 0; i < 5; i++) { /* queued before the thread runs */
        const char *v[] = {origins[i], "DE"};
        pw_notification n = fx_notification(&r, &m, v, 1, i);
        pw_sink_submit(s, &n);
    }
    pw_sink_start(s);
    cr_assert(fx_wait_done(s, 5, 5000));
    cr_expect_eq(pw_rx_count(rx), 1);
    cr_expect_eq(count_alerts(rx, 0), 5);
    pw_sink_stop(s, pw_time_mono_ms() + 1000);
    pw_sink_destroy(s);
    pw_rx_stop(rx);
}

Test(sink_alertmanager, firing_table_is_bounded) {
    pw_rx *rx = pw_rx_start();
    char base[128];
    snprintf(base, sizeof base, "http://127.0.0.1:%d", pw_rx_port(rx));
    pw_sink *s = am_sink(base, 400, 1); /* table: 1 * 10 alerts */
    fx_capture cap;
    fx_capture_begin(&cap);
    pw_sink_start(s);
    pw_metric_def m = fx_metric();
    pw_rule_def r = fx_rule("signups_low");
    char names[12][8];
    for (int i = 0; i < 12; i++) {
        snprintf(names[i], sizeof names[i], "o%d", i);
        const char *v[] = {names[i], "DE"};
        pw_notification n = fx_notification(&r, &m, v, 1, i);
        pw_sink_submit(s, &n);
        cr_assert(fx_wait_done(s, (uint64_t)i + 1, 5000));
    }
    pw_sink_stats st;
    pw_sink_stats_get(s, &st);
    cr_expect_eq(st.sent, 12, "every alert is still sent once");
    cr_expect_eq(st.untracked, 2);
    int mark = pw_rx_count(rx);
    cr_assert(pw_rx_wait(rx, mark + 1, 3000));
    cr_expect_eq(count_alerts(rx, mark), 10);
    pw_sink_stop(s, pw_time_mono_ms() + 1000);
    char *log = fx_capture_end(&cap);
    cr_expect(strstr(log, "firing table full (10 alerts)") != NULL, "%s", log);
    free(log);
    pw_sink_destroy(s);
    pw_rx_stop(rx);
}

Test(sink_alertmanager, bad_request_is_not_retried) {
    pw_rx *rx = pw_rx_start();
    int st400[] = {400};
    pw_rx_set_statuses(rx, st400, 1);
    pw_rx_set_reply(rx, NULL, "invalid label set");
    char base[128];
    snprintf(base, sizeof base, "http://127.0.0.1:%d", pw_rx_port(rx));
    pw_sink *s = am_sink(base, 60000, 100);
    fx_capture cap;
    fx_capture_begin(&cap);
    pw_sink_start(s);
    pw_metric_def m = fx_metric();
    pw_rule_def r = fx_rule("signups_low");
    const char *v[] = {"web", "DE"};
    pw_notification n = fx_notification(&r, &m, v, 1, 3);
    pw_sink_submit(s, &n);
    cr_assert(fx_wait_done(s, 1, 5000));
    pw_sink_stop(s, pw_time_mono_ms() + 1000);
    char *log = fx_capture_end(&cap);
    pw_sink_stats st;
    pw_sink_stats_get(s, &st);
    cr_expect_eq(st.failed, 1);
    cr_expect_eq(pw_rx_count(rx), 1);
    cr_expect(strstr(log, "HTTP 400: invalid label set") != NULL, "%s", log);
    free(log);
    pw_sink_destroy(s);
    pw_rx_stop(rx);
}

/* ---------- against the real Alertmanager ---------- */

static pid_t g_am_pid = -1;
static char g_am_dir[64];

static int free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || getsockname(fd, (struct sockaddr *)&a, &al) < 0) {
        close(fd);
        return -1;
    }
    close(fd);
    return ntohs(a.sin_port);
}

static size_t to_buf(char *p, size_t sz, size_t nm, void *ud) {
    pw_buf_append(ud, p, sz * nm);
    return sz * nm;
}

/* GET url; the body in out; returns the HTTP status (0 if no answer). */
static long http_get(const char *url, pw_buf *out) {
    CURL *e = curl_easy_init();
    pw_buf_reset(out);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, to_buf);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 2000L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    long status = 0;
    if (curl_easy_perform(e) == CURLE_OK) curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(e);
    return status;
}

static const char *am_binary(void) {
    static const char *const cands[] = {"/usr/bin/prometheus-alertmanager", "/usr/local/bin/alertmanager",
                                        "/usr/bin/alertmanager", NULL};
    for (int i = 0; cands[i]; i++)
        if (access(cands[i], X_OK) == 0) return cands[i];
    return NULL;
}

static void am_kill(void) {
    if (g_am_pid > 0) {
        kill(g_am_pid, SIGKILL);
        waitpid(g_am_pid, NULL, 0);
        g_am_pid = -1;
    }
    if (g_am_dir[0]) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_am_dir);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_am_dir);
        g_am_dir[0] = 0;
    }
}

/* Start Alertmanager on a free port; returns the port, or -1. */
static int am_launch(const char *bin) {
    strcpy(g_am_dir, "/tmp/pw_am_XXXXXX");
    if (!mkdtemp(g_am_dir)) return -1;
    char cfg[128], logp[128];
    snprintf(cfg, sizeof cfg, "%s/am.yml", g_am_dir);
    snprintf(logp, sizeof logp, "%s/am.log", g_am_dir);
    FILE *f = fopen(cfg, "w");
    if (!f) return -1;
    fputs("route:\n  receiver: \"null\"\nreceivers:\n  - name: \"null\"\n", f);
    fclose(f);
    int port = free_port();
    char a_cfg[160], a_store[160], a_web[64];
    snprintf(a_cfg, sizeof a_cfg, "--config.file=%s", cfg);
    snprintf(a_store, sizeof a_store, "--storage.path=%s", g_am_dir);
    snprintf(a_web, sizeof a_web, "--web.listen-address=127.0.0.1:%d", port);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* dies with the test process, whatever happens */
        if (getppid() != parent) _exit(127);
        int fd = open(logp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) { dup2(fd, 1); dup2(fd, 2); close(fd); }
        execl(bin, bin, a_cfg, a_store, a_web, "--cluster.listen-address=", "--log.level=warn", (char *)NULL);
        _exit(127);
    }
    g_am_pid = pid;
    char url[96];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/-/ready", port);
    pw_buf b;
    pw_buf_init(&b);
    long status = 0;
    for (int i = 0; i < 200 && status != 200; i++) {
        if (waitpid(pid, NULL, WNOHANG) == pid) { g_am_pid = -1; break; }
        fx_sleep_ms(50);
        status = http_get(url, &b);
    }
    pw_buf_free(&b);
    return status == 200 ? port : -1;
}

/* The alerts Alertmanager reports for alertname=rule (active ones). */
static cJSON *am_alerts(int port, const char *rule) {
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/api/v2/alerts?filter=alertname%%3D%%22%s%%22", port, rule);
    pw_buf b;
    pw_buf_init(&b);
    long st = http_get(url, &b);
    cr_assert_eq(st, 200, "GET /api/v2/alerts: %ld %s", st, b.data ? b.data : "");
    cJSON *j = cJSON_Parse(b.data);
    pw_buf_free(&b);
    cr_assert(cJSON_IsArray(j));
    return j;
}

Test(sink_alertmanager, real_alertmanager_fires_and_resolves, .fini = am_kill, .timeout = 60) {
    const char *bin = am_binary();
    if (!bin && getenv("CI") && !strcmp(getenv("CI"), "true")) cr_assert_fail("prometheus-alertmanager is required in CI");
    if (!bin) cr_skip_test("prometheus-alertmanager is not installed");
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int port = am_launch(bin);
    cr_assert(port > 0, "Alertmanager did not become ready (log in %s)", g_am_dir);
    char base[64];
    snprintf(base, sizeof base, "http://127.0.0.1:%d", port);
    pw_sink *s = am_sink(base, 60000, 100);
    fx_capture cap;
    fx_capture_begin(&cap);
    pw_sink_start(s);
    pw_metric_def m = fx_metric();
    pw_rule_def r = fx_rule("pw_test_signups_low");
    const char *v[] = {"web \"quoted\"", "DE"};
    pw_notification n = fx_notification(&r, &m, v, 1, 3);
    pw_sink_submit(s, &n);
    cr_assert(fx_wait_done(s, 1, 10000));
    pw_sink_stats st;
    pw_sink_stats_get(s, &st);
    char *log = fx_capture_end(&cap);
    cr_assert_eq(st.sent, 1, "not accepted by Alertmanager: %s", log);
    free(log);

    cJSON *arr = am_alerts(port, "pw_test_signups_low");
    cr_assert_eq(cJSON_GetArraySize(arr), 1);
    cJSON *a = cJSON_GetArrayItem(arr, 0);
    cJSON *labels = cJSON_GetObjectItem(a, "labels"), *ann = cJSON_GetObjectItem(a, "annotations");
    cr_expect_str_eq(jstr(labels, "severity"), "critical");
    cr_expect_str_eq(jstr(labels, "metric"), "signup_rate");
    cr_expect_str_eq(jstr(labels, "origin"), "web \"quoted\"");
    cr_expect_str_eq(jstr(labels, "payload_country"), "DE");
    cr_expect_str_eq(jstr(labels, "team"), "growth");
    cr_expect_str_eq(jstr(ann, "summary"), "Signups from web \"quoted\" at 3");
    cr_expect_str_eq(jstr(cJSON_GetObjectItem(a, "status"), "state"), "active");
    cr_expect_eq(jtime(a, "startsAt"), n.active_since);
    cr_expect(jtime(a, "endsAt") > pw_time_now_ms(), "a firing alert ends in the future");
    cJSON_Delete(arr);

    pw_notification res = fx_notification(&r, &m, v, 0, 12);
    pw_sink_submit(s, &res);
    cr_assert(fx_wait_done(s, 2, 10000));
    fx_sleep_ms(100); /* endsAt = at is now in the past */
    arr = am_alerts(port, "pw_test_signups_low");
    int active = 0;
    cJSON *it;
    cJSON_ArrayForEach(it, arr) if (jtime(it, "endsAt") > pw_time_now_ms()) active++;
    cr_expect_eq(active, 0, "the alert is still active after resolve");
    cJSON_Delete(arr);
    pw_sink_stop(s, pw_time_mono_ms() + 2000);
    pw_sink_destroy(s);
}
