/* sink_fixture.h -- shared bits of the sink tests (header-only, test code).
 *
 * A metric grouped by two labels (one is a dotted event path, as real rules
 * have), a rule with a rule label and an annotation template, a notification
 * builder, capture of the daemon's log (fd 2) into a temp file, and polling
 * of sink counters.
 */
#ifndef PW_SINK_FIXTURE_H
#define PW_SINK_FIXTURE_H

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "alert.h"
#include "sink.h"
#include "timeutil.h"

static char *fx_by[] = {"origin", "payload.country"};
static pw_kv fx_rule_labels[] = {{"team", "growth"}};
static pw_kv fx_annotations[] = {
    {"summary", "Signups from {{ labels.origin }} at {{ value }}"},
    {"runbook.url", "https://wiki/signups"},
};

static inline pw_metric_def fx_metric(void) {
    pw_metric_def m;
    memset(&m, 0, sizeof m);
    m.name = "signup_rate";
    m.by = fx_by;
    m.nby = 2;
    return m;
}

static inline pw_rule_def fx_rule(const char *name) {
    pw_rule_def r;
    memset(&r, 0, sizeof r);
    r.name = (char *)name;
    r.cond = PW_COND_BELOW;
    r.threshold = 10;
    r.severity = PW_SEV_CRITICAL;
    r.labels = fx_rule_labels;
    r.nlabels = 1;
    r.annotations = fx_annotations;
    r.nannotations = 2;
    return r;
}

/* A notification for (origin, country); vals must live as long as n is used. */
static inline pw_notification fx_notification(const pw_rule_def *r, const pw_metric_def *m, const char **vals,
                                       int firing, double value) {
    pw_notification n;
    memset(&n, 0, sizeof n);
    n.rule = r;
    n.metric = m;
    n.firing = firing;
    n.label_vals = vals;
    n.value = value;
    n.threshold = 10;
    n.at = pw_time_now_ms();
    n.active_since = n.at - 60000;
    n.fingerprint = pw_alert_fingerprint(r, m, vals);
    return n;
}

/* ---- capture of fd 2 (pw_log writes there) ---- */
typedef struct fx_capture {
    int saved;
    char path[64];
} fx_capture;

static inline void fx_capture_begin(fx_capture *c) {
    strcpy(c->path, "/tmp/pw_sink_log_XXXXXX");
    int fd = mkstemp(c->path);
    fflush(stderr);
    c->saved = dup(2);
    dup2(fd, 2);
    close(fd);
}

static inline char *fx_read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    size_t got = fread(s, 1, (size_t)n, f);
    s[got] = 0;
    fclose(f);
    return s;
}

/* Restores fd 2; returns what was logged (malloc'd). */
static inline char *fx_capture_end(fx_capture *c) {
    fflush(stderr);
    dup2(c->saved, 2);
    close(c->saved);
    char *s = fx_read_file(c->path);
    unlink(c->path);
    return s ? s : strdup("");
}

static inline int fx_count_lines(const char *s, const char *needle) {
    int n = 0;
    for (const char *p = s; (p = strstr(p, needle)) != NULL; p += strlen(needle)) n++;
    return n;
}

static inline void fx_sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Wait until the sink has finished (sent + failed) at least n, up to timeout. */
static inline int fx_wait_done(pw_sink *s, uint64_t n, int timeout_ms) {
    int64_t until = pw_time_mono_ms() + timeout_ms;
    pw_sink_stats st;
    do {
        pw_sink_stats_get(s, &st);
        if (st.sent + st.failed >= n) return 1;
        fx_sleep_ms(5);
    } while (pw_time_mono_ms() < until);
    return 0;
}

#endif
