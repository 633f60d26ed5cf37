/* alert.c -- rule conditions, the alert state machine, notification JSON.
 *
 * Design: the state of one (rule, series) is 37 bytes of plain data (pw_alert),
 * so the engine can keep it inline, snapshot it byte-for-byte, and restore it.
 * Transitions follow the README ("Alert states"); every transition is driven
 * by an evaluation at a time the caller chooses (event time in replay, stream
 * or wall time in the daemon), which keeps this module deterministic.
 * Limits: one notification per transition; delivery, retries and dedup are
 * the sinks' business.
 */
#include "alert.h"

#include <math.h>
#include <string.h>

#include "template.h"
#include "timeutil.h"

const char *pw_alert_state_name(pw_alert_state s) {
    switch (s) {
    case PW_ALERT_PENDING: return "pending";
    case PW_ALERT_FIRING: return "firing";
    default: return "inactive";
    }
}

int pw_alert_condition(const pw_rule_def *r, const pw_alert_input *in, int64_t t, int firing) {
    if (r->cond == PW_COND_ABSENT) return in->has_last && t - in->last_ts >= r->absent_ms;
    if (!in->defined || isnan(in->value)) return 0;
    if (r->min_count > 0 && in->count < (uint64_t)r->min_count) return 0;
    double v = in->value;
    switch (r->cond) {
    case PW_COND_ABOVE: return v > (firing && r->has_clear ? r->clear : r->threshold);
    case PW_COND_BELOW: return v < (firing && r->has_clear ? r->clear : r->threshold);
    case PW_COND_OUTSIDE: return v < r->lo || v > r->hi;
    default: return 0;
    }
}

pw_alert_action pw_alert_step(pw_alert *a, const pw_rule_def *r, const pw_alert_input *in, int64_t t) {
    switch ((pw_alert_state)a->state) {
    case PW_ALERT_INACTIVE:
        if (!pw_alert_condition(r, in, t, 0)) return PW_ALERT_NONE;
        a->since = t;
        if (!a->seq) a->born = t;
        if (r->for_ms > 0) { a->state = PW_ALERT_PENDING; return PW_ALERT_NONE; }
        a->state = PW_ALERT_FIRING;
        a->fired_at = a->last_notified = t;
        a->seq++;
        return PW_ALERT_FIRE;
    case PW_ALERT_PENDING:
        if (!pw_alert_condition(r, in, t, 0)) {
            uint32_t seq = a->seq;
            int64_t born = a->born;
            memset(a, 0, sizeof *a);
            if (seq) { a->seq = seq; a->born = born; }
            return PW_ALERT_NONE;
        }
        if (t - a->since < r->for_ms) return PW_ALERT_NONE;
        a->state = PW_ALERT_FIRING;
        a->fired_at = a->last_notified = t;
        a->seq++;
        return PW_ALERT_FIRE;
    case PW_ALERT_FIRING:
        if (!pw_alert_condition(r, in, t, 1)) { /* caller reads `a`, then clears all but seq */
            a->seq++;
            return PW_ALERT_RESOLVE;
        }
        if (r->repeat_ms > 0 && t - a->last_notified >= r->repeat_ms) {
            a->last_notified = t;
            a->seq++;
            return PW_ALERT_REPEAT;
        }
        return PW_ALERT_NONE;
    }
    return PW_ALERT_NONE;
}

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++) { h ^= s[i]; h *= 1099511628211ULL; }
    return h;
}

uint64_t pw_alert_fingerprint(const pw_rule_def *r, const pw_metric_def *m, const char *const *label_vals) {
    uint64_t h = 14695981039346656037ULL;
    h = fnv(h, r->name, strlen(r->name) + 1);
    for (int i = 0; i < m->nby; i++) {
        h = fnv(h, m->by[i], strlen(m->by[i]) + 1);
        h = fnv(h, label_vals[i], strlen(label_vals[i]) + 1);
    }
    return h;
}

void pw_notification_json(const pw_notification *n, pw_buf *out) {
    const pw_rule_def *r = n->rule;
    const pw_metric_def *m = n->metric;
    const char *names[64], *vals[64];
    int nl = 0;
    for (int i = 0; i < m->nby && nl < 64; i++, nl++) { names[nl] = m->by[i]; vals[nl] = n->label_vals[i]; }
    for (int i = 0; i < r->nlabels && nl < 64; i++, nl++) { names[nl] = r->labels[i].key; vals[nl] = r->labels[i].val; }

    pw_buf_puts(out, "{\"rule\":");
    pw_buf_json_str(out, r->name, strlen(r->name));
    pw_buf_puts(out, n->firing ? ",\"state\":\"firing\"" : ",\"state\":\"resolved\"");
    pw_buf_puts(out, ",\"severity\":\"");
    pw_buf_puts(out, pw_severity_name(r->severity));
    pw_buf_puts(out, "\",\"metric\":");
    pw_buf_json_str(out, m->name, strlen(m->name));
    pw_buf_puts(out, ",\"labels\":{");
    for (int i = 0; i < nl; i++) {
        if (i) pw_buf_putc(out, ',');
        pw_buf_json_str(out, names[i], strlen(names[i]));
        pw_buf_putc(out, ':');
        pw_buf_json_str(out, vals[i], strlen(vals[i]));
    }
    pw_buf_puts(out, "},\"value\":");
    pw_buf_json_num(out, n->value);
    pw_buf_puts(out, ",\"threshold\":");
    pw_buf_json_num(out, n->threshold);
    pw_buf_puts(out, ",\"at\":\"");
    pw_time_format(n->at, out);
    pw_buf_puts(out, "\",\"active_since\":\"");
    pw_time_format(n->active_since, out);
    pw_buf_puts(out, "\",\"annotations\":{");
    pw_template_vars tv = {
        .rule = r->name, .metric = m->name, .severity = pw_severity_name(r->severity),
        .state = n->firing ? "firing" : "resolved", .value = n->value, .threshold = n->threshold,
        .label_names = names, .label_values = vals, .nlabels = nl,
    };
    pw_buf tmp;
    pw_buf_init(&tmp);
    for (int i = 0; i < r->nannotations; i++) {
        if (i) pw_buf_putc(out, ',');
        pw_buf_json_str(out, r->annotations[i].key, strlen(r->annotations[i].key));
        pw_buf_putc(out, ':');
        pw_buf_reset(&tmp);
        pw_template_expand(r->annotations[i].val, &tv, &tmp);
        pw_buf_json_str(out, tmp.data ? tmp.data : "", tmp.len);
    }
    pw_buf_free(&tmp);
    pw_buf_printf(out, "},\"fingerprint\":\"%016llx\"}", (unsigned long long)n->fingerprint);
}
