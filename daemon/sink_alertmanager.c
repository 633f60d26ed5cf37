/* sink_alertmanager.c -- notifications as alerts in Prometheus Alertmanager (API v2).
 *
 * Alertmanager expects what Prometheus does: every firing alert is POSTed to
 * /api/v2/alerts again and again (here every `resend`, default 1 m) with an
 * endsAt a few re-sends ahead (now + 3 * resend), and a resolved alert is sent
 * once with endsAt = the time it resolved. If pipewatch dies, its alerts
 * resolve by themselves once their endsAt passes, instead of firing forever.
 *
 * Design: render (main thread) turns a notification into the Alertmanager
 * JSON object without its endsAt and closing brace:
 *   {"labels":{"alertname":RULE,"severity":..,"metric":..,<series labels>,
 *    <rule labels>},"annotations":{..expanded..},"startsAt":ACTIVE_SINCE
 *    [,"generatorURL":..]
 * The sink thread completes it with endsAt when sending, and keeps a table
 * fingerprint -> object of the alerts now firing (open addressing, linear
 * probing, backward-shift deletion; its own memory, no rule set pointers).
 * A batch of queued notifications goes out as one POST (a JSON array, up to
 * 256 alerts); the periodic tick re-sends the whole table in POSTs of up to
 * 500 alerts, one attempt each (the next re-send is the retry).
 *
 * Label names: Alertmanager 0.25 accepts only [a-zA-Z_][a-zA-Z0-9_]* and
 * rejects a whole POST (400) for one bad name, while our series labels are
 * event paths like "payload.country". Names are therefore sanitised the way
 * Prometheus does (every other character becomes '_', a leading digit gets a
 * '_' prefix); on a clash the first label wins (alertname, severity and
 * metric come first); labels with an empty value are left out (Alertmanager
 * treats them as absent). Annotation names are sanitised the same way.
 *
 * Bounds: the firing table holds at most queue_max * 10 alerts; a firing alert
 * past that is still sent once, but not re-sent, and counted in
 * stats.untracked (logged rate-limited). Stats count notifications: re-sends
 * are not counted as sent; a failed re-send is logged (rate-limited).
 *
 * Snapshots: the table is not stored (it could not be read consistently: only
 * this thread touches it, without the queue lock); queued notifications are in
 * the snapshot's outbox like any sink's, and after a restore the daemon
 * submits every restored firing alert again as a repeat (server.c), which
 * rebuilds the table and re-sends them at once. Limits: one Alertmanager URL per
 * sink (for an HA pair, configure one sink per instance, as Prometheus does).
 */
#include <curl/curl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sink_int.h"
#include "timeutil.h"

#define BATCH_MAX 256
#define RESEND_CHUNK 500

typedef struct am_entry {
    uint64_t fp;
    char *alert;   /* NULL = empty slot; else the open object (no endsAt, no '}') */
    size_t len;
} am_entry;

typedef struct am_sink {
    pw_sink_http *http;
    pw_buf scratch, names;   /* main thread: annotations, sanitised names */
    pw_buf body;             /* sink thread: the POST body */
    am_entry *tab;
    size_t cap, n, max;      /* cap: power of two; n <= max */
    int64_t next_resend;     /* monotonic ms; 0 = not scheduled */
} am_sink;


/* ---------- the firing table ---------- */

static size_t slot_of(uint64_t fp, size_t cap) {
    fp ^= fp >> 33; /* murmur3 finaliser: the fingerprint is FNV, weak in its low bits */
    fp *= 0xff51afd7ed558ccdULL;
    fp ^= fp >> 33;
    return (size_t)fp & (cap - 1);
}

static long tab_find(const am_sink *a, uint64_t fp) {
    if (!a->cap) return -1;
    for (size_t i = slot_of(fp, a->cap);; i = (i + 1) & (a->cap - 1)) {
        if (!a->tab[i].alert) return -1;
        if (a->tab[i].fp == fp) return (long)i;
    }
}

static int tab_grow(am_sink *a) {
    size_t cap = a->cap ? a->cap * 2 : 64;
    am_entry *t = calloc(cap, sizeof *t);
    if (!t) return -1;
    for (size_t i = 0; i < a->cap; i++) {
        if (!a->tab[i].alert) continue;
        size_t j = slot_of(a->tab[i].fp, cap);
        while (t[j].alert) j = (j + 1) & (cap - 1);
        t[j] = a->tab[i];
    }
    free(a->tab);
    a->tab = t;
    a->cap = cap;
    return 0;
}

/* Insert or replace; 0, or -1 if the table is full (or out of memory). */
static int tab_put(am_sink *a, uint64_t fp, const char *alert, size_t len) {
    long i = tab_find(a, fp);
    if (i < 0) {
        if (a->n >= a->max) return -1;
        if ((a->n + 1) * 2 > a->cap && tab_grow(a) < 0) return -1; /* load factor <= 1/2 */
    }
    char *copy = malloc(len + 1);
    if (!copy) return -1;
    memcpy(copy, alert, len);
    copy[len] = 0;
    if (i >= 0) {
        free(a->tab[i].alert);
        a->tab[i].alert = copy;
        a->tab[i].len = len;
        return 0;
    }
    size_t j = slot_of(fp, a->cap);
    while (a->tab[j].alert) j = (j + 1) & (a->cap - 1);
    a->tab[j] = (am_entry){fp, copy, len};
    a->n++;
    return 0;
}

static void tab_del(am_sink *a, uint64_t fp) {
    long f = tab_find(a, fp);
    if (f < 0) return;
    size_t i = (size_t)f, mask = a->cap - 1;
    free(a->tab[i].alert);
    a->tab[i].alert = NULL;
    a->n--;
    /* backward-shift: move later members of the probe run into the hole */
    for (size_t j = (i + 1) & mask; a->tab[j].alert; j = (j + 1) & mask) {
        size_t home = slot_of(a->tab[j].fp, a->cap);
        /* entry j may move to i iff its home is not cyclically in (i, j] */
        int stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (stays) continue;
        a->tab[i] = a->tab[j];
        a->tab[j].alert = NULL;
        i = j;
    }
}

/* ---------- render (main thread) ---------- */

/* Append the sanitised form of name to a->names (NUL-terminated); return its
 * offset, or (size_t)-1 if that name was already used in this object. */
static size_t sane_name(am_sink *a, const char *name, size_t *offs, int *nused) {
    size_t off = a->names.len;
    if (name[0] >= '0' && name[0] <= '9') pw_buf_putc(&a->names, '_');
    for (const char *p = name; *p; p++) {
        char c = *p;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
        pw_buf_putc(&a->names, ok ? c : '_');
    }
    if (a->names.len == off) pw_buf_putc(&a->names, '_'); /* empty name */
    pw_buf_putc(&a->names, 0);
    for (int i = 0; i < *nused; i++)
        if (!strcmp(a->names.data + offs[i], a->names.data + off)) {
            a->names.len = off;
            a->names.data[off] = 0;
            return (size_t)-1;
        }
    offs[(*nused)++] = off;
    return off;
}

static void put_pair(am_sink *a, pw_buf *out, const char *name, const char *val, size_t *offs, int *nused,
                     int *first) {
    if (!val || !val[0]) return;
    size_t off = sane_name(a, name, offs, nused);
    if (off == (size_t)-1) return;
    if (!*first) pw_buf_putc(out, ',');
    *first = 0;
    const char *nm = a->names.data + off;
    pw_buf_json_str(out, nm, strlen(nm));
    pw_buf_putc(out, ':');
    pw_buf_json_str(out, val, strlen(val));
}

static void am_render(pw_sink *s, const pw_notification *n, pw_buf *out) {
    am_sink *a = s->impl;
    pw_sink_view v;
    pw_sink_view_fill(&v, n, &a->scratch);
    size_t offs[3 + 2 * PW_SINK_MAX_LABELS];
    int nused = 0, first = 1;
    pw_buf_reset(&a->names);
    pw_buf_puts(out, "{\"labels\":{");
    put_pair(a, out, "alertname", v.tv.rule, offs, &nused, &first);
    put_pair(a, out, "severity", v.tv.severity, offs, &nused, &first);
    put_pair(a, out, "metric", v.tv.metric, offs, &nused, &first);
    for (int i = 0; i < v.nlabels; i++) put_pair(a, out, v.lnames[i], v.lvals[i], offs, &nused, &first);
    pw_buf_puts(out, "},\"annotations\":{");
    nused = 0;
    first = 1;
    pw_buf_reset(&a->names);
    for (int i = 0; i < v.nann; i++) put_pair(a, out, v.anames[i], v.avals[i], offs, &nused, &first);
    pw_buf_puts(out, "},\"startsAt\":\"");
    pw_buf_puts(out, v.active_since);
    pw_buf_putc(out, '"');
    if (s->conf.generator_url) {
        pw_buf_puts(out, ",\"generatorURL\":");
        pw_buf_json_str(out, s->conf.generator_url, strlen(s->conf.generator_url));
    }
}

/* ---------- delivery (sink thread) ---------- */

static void close_alert(pw_buf *b, const char *open, size_t len, int64_t ends_at) {
    char ts[40];
    pw_buf_append(b, open, len);
    pw_buf_puts(b, ",\"endsAt\":\"");
    pw_buf_puts(b, pw_time_format_s(ends_at, ts, sizeof ts));
    pw_buf_puts(b, "\"}");
}

static int64_t firing_ends_at(pw_sink *s) { return pw_time_now_ms() + 3 * s->conf.resend_ms; }

static pw_sink_result am_deliver(pw_sink *s, pw_sink_item *it, int n, pw_sink_attempt *at) {
    am_sink *a = s->impl;
    if (at->attempt == 0) {
        for (int i = 0; i < n; i++) {
            if (!it[i].firing) { tab_del(a, it[i].fingerprint); continue; }
            if (tab_put(a, it[i].fingerprint, it[i].data, it[i].len) < 0) {
                atomic_fetch_add(&s->untracked, 1);
                pw_sink_warn_limited(s, "firing table full (%zu alerts): an alert is sent once but not "
                                     "re-sent", a->max);
            }
        }
    }
    int64_t ends = firing_ends_at(s);
    pw_buf_reset(&a->body);
    pw_buf_putc(&a->body, '[');
    for (int i = 0; i < n; i++) {
        if (i) pw_buf_putc(&a->body, ',');
        close_alert(&a->body, it[i].data, it[i].len, it[i].firing ? ends : it[i].at);
    }
    pw_buf_putc(&a->body, ']');
    pw_sink_result r = pw_sink_http_post(a->http, s, a->body.data, a->body.len, at);
    if (a->body.cap > 4u << 20) pw_buf_free(&a->body);
    return r;
}

static int64_t am_tick(pw_sink *s, int64_t now) {
    am_sink *a = s->impl;
    if (a->next_resend == 0 || now < a->next_resend) {
        if (a->next_resend == 0) a->next_resend = now + s->conf.resend_ms;
        return a->next_resend;
    }
    int64_t ends = firing_ends_at(s);
    size_t i = 0;
    while (i < a->cap && a->n > 0) {
        int k = 0;
        pw_buf_reset(&a->body);
        pw_buf_putc(&a->body, '[');
        for (; i < a->cap && k < RESEND_CHUNK; i++) {
            if (!a->tab[i].alert) continue;
            if (k++) pw_buf_putc(&a->body, ',');
            close_alert(&a->body, a->tab[i].alert, a->tab[i].len, ends);
        }
        pw_buf_putc(&a->body, ']');
        if (!k) break;
        pw_sink_attempt at;
        memset(&at, 0, sizeof at);
        if (pw_sink_http_post(a->http, s, a->body.data, a->body.len, &at) != PW_SINK_SENT) {
            pw_sink_warn_limited(s, "re-sending %d firing alert%s: %s", k, k == 1 ? "" : "s", at.why);
            break; /* the next re-send is the retry */
        }
        if (pw_sink_stopping(s)) break;
    }
    if (a->body.cap > 4u << 20) pw_buf_free(&a->body);
    a->next_resend = pw_time_mono_ms() + s->conf.resend_ms;
    return a->next_resend;
}

/* ---------- setup ---------- */

/* base URL + "/api/v2/alerts" (path joined, query kept); NULL if unparsable
 * (pw_sink_http_new then reports the URL problem). */
static char *endpoint_of(const char *base) {
    CURLU *u = curl_url();
    char *path = NULL, *full = NULL, *res = NULL;
    if (!u || !base || curl_url_set(u, CURLUPART_URL, base, 0) != CURLUE_OK) goto out;
    if (curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK) goto out;
    size_t n = strlen(path);
    while (n && path[n - 1] == '/') n--;
    char *np = malloc(n + sizeof "/api/v2/alerts");
    if (!np) goto out;
    memcpy(np, path, n);
    memcpy(np + n, "/api/v2/alerts", sizeof "/api/v2/alerts");
    CURLUcode rc = curl_url_set(u, CURLUPART_PATH, np, 0);
    free(np);
    if (rc != CURLUE_OK || curl_url_get(u, CURLUPART_URL, &full, 0) != CURLUE_OK) goto out;
    res = strdup(full);
out:
    curl_free(path);
    curl_free(full);
    curl_url_cleanup(u);
    return res;
}

static int am_init(pw_sink *s, pw_buf *err) {
    am_sink *a = calloc(1, sizeof *a);
    if (!a) return -1;
    s->impl = a;
    pw_buf_init(&a->scratch);
    pw_buf_init(&a->names);
    pw_buf_init(&a->body);
    a->max = (size_t)s->conf.queue_max * 10;
    int bad = 0;
    if (s->conf.generator_url &&
        strncmp(s->conf.generator_url, "http://", 7) && strncmp(s->conf.generator_url, "https://", 8)) {
        pw_sink_problem(err, "generator_url must start with http:// or https://");
        bad = 1;
    }
    char *ep = endpoint_of(s->conf.url); /* NULL: the URL is bad, and pw_sink_http_new says why */
    a->http = pw_sink_http_new(ep ? ep : s->conf.url, s->conf.headers, s->conf.nheaders, err);
    if (ep) {
        memset(ep, 0, strlen(ep));
        free(ep);
    }
    return a->http && !bad ? 0 : -1;
}

static void am_fini(pw_sink *s) {
    am_sink *a = s->impl;
    if (!a) return;
    pw_sink_http_destroy(a->http);
    for (size_t i = 0; i < a->cap; i++) free(a->tab[i].alert);
    free(a->tab);
    pw_buf_free(&a->scratch);
    pw_buf_free(&a->names);
    pw_buf_free(&a->body);
    free(a);
    s->impl = NULL;
}

static void am_wake(pw_sink *s) {
    am_sink *a = s->impl;
    if (a) pw_sink_http_wake(a->http);
}

const pw_sink_ops pw_sink_alertmanager_ops = {
    .kind = PW_SINK_ALERTMANAGER,
    .batch_max = BATCH_MAX,
    .init = am_init,
    .render = am_render,
    .deliver = am_deliver,
    .tick = am_tick,
    .wake = am_wake,
    .fini = am_fini,
};
