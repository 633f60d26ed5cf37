/* sink_webhook.c -- HTTP POST of notifications (libcurl), and the HTTP client
 * the alertmanager sink shares.
 *
 * Design: each sink owns one libcurl easy handle driven through a multi
 * handle by its own thread. The multi interface is used only so that a
 * request in flight can be interrupted: pw_sink_stop calls curl_multi_wakeup,
 * and the poll loop abandons the request once the stop deadline has passed
 * (with the easy interface a hanging receiver would hold shutdown for the
 * whole timeout). Keeping the easy handle keeps the connection alive between
 * posts. Redirects are not followed (a 3xx is a configuration error, reported
 * as failed), and only http/https are allowed.
 *
 * Outcomes: 2xx sent; 408, 429, 5xx and transport errors (refused, reset,
 * timeout, DNS) are retried by sink.c with backoff, honouring Retry-After up
 * to backoff_max; any other status fails at once: a 400 will not get better.
 *
 * Secrets: header values and the URL's userinfo, query, fragment and all but
 * the first path segment (Slack, Teams and Discord put their token in the
 * path) are never logged. Messages show "scheme://host:port/first-segment/..."
 * and every text that comes from elsewhere (libcurl's error buffer, the start
 * of a response body) is scrubbed of those secret strings before it is logged.
 *
 * Body: NULL -> the notification JSON; else a template expanded with
 * pw_template_expand_json (validated in pw_sink_new with
 * pw_template_check_body), so Slack/Teams payloads need no code.
 *
 * Limits: no client certificates or proxy settings beyond libcurl's
 * environment variables (http_proxy, ...); a response body is read and
 * discarded except its first 512 bytes, kept for error messages.
 */
#include <curl/curl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sink_int.h"
#include "timeutil.h"

#ifndef PW_VERSION
#define PW_VERSION "dev"
#endif

#define MAX_HEADERS 100
#define MIN_SECRET 3 /* shorter strings are not scrubbed (they would blank out ordinary text) */

struct pw_sink_http {
    CURLM *multi;
    CURL *easy;
    struct curl_slist *hdrs;
    char *url;                /* full, may hold secrets: never logged */
    char safe[200];           /* what messages show (long host names are cut) */
    char **secrets;           /* strings scrubbed from any logged text */
    int nsecrets;
    char errbuf[CURL_ERROR_SIZE];
    char resp[512];           /* start of the response body */
    size_t resp_len;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_OK;
static void curl_init_once(void) { curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }


static void add_secret(pw_sink_http *h, const char *s) {
    if (!s || strlen(s) < MIN_SECRET) return;
    char **v = realloc(h->secrets, (size_t)(h->nsecrets + 1) * sizeof *v);
    if (!v) return;
    h->secrets = v;
    v[h->nsecrets] = strdup(s);
    if (v[h->nsecrets]) h->nsecrets++;
}

/* Also each word of s (split at any of seps) that is long enough to be a token. */
static void add_words(pw_sink_http *h, const char *s, const char *seps) {
    for (const char *p = s; *p;) {
        size_t n = strcspn(p, seps);
        if (n >= 4 && n < 4096) {
            char w[4096];
            memcpy(w, p, n);
            w[n] = 0;
            add_secret(h, w);
        }
        p += n;
        if (*p) p++;
    }
}

/* Overwrite every occurrence of every secret in msg with '*'. */
static void scrub(const pw_sink_http *h, char *msg) {
    for (int i = 0; i < h->nsecrets; i++) {
        size_t n = strlen(h->secrets[i]);
        for (char *p = strstr(msg, h->secrets[i]); p; p = strstr(p + n, h->secrets[i])) memset(p, '*', n);
    }
}

static int is_tchar(unsigned char c) { /* RFC 9110 token characters */
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

static int valid_header_name(const char *k) {
    if (!k || !k[0]) return 0;
    for (const unsigned char *p = (const unsigned char *)k; *p; p++)
        if (!is_tchar(*p)) return 0;
    return 1;
}

static size_t on_body(char *p, size_t sz, size_t nm, void *ud) {
    pw_sink_http *h = ud;
    size_t n = sz * nm, room = sizeof h->resp - 1 - h->resp_len;
    size_t k = n < room ? n : room;
    memcpy(h->resp + h->resp_len, p, k);
    h->resp_len += k;
    h->resp[h->resp_len] = 0;
    return n;
}

/* Parse url, fill h->safe and the secrets; problems into err (never the URL itself). */
static int parse_url(pw_sink_http *h, const char *url, pw_buf *err) {
    CURLU *u = curl_url();
    if (!u) return -1;
    char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL, *part = NULL;
    int rc = -1;
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK) {
        pw_sink_problem(err, "url is not a valid http:// or https:// URL");
        goto out;
    }
    if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        (strcasecmp(scheme, "http") && strcasecmp(scheme, "https"))) {
        pw_sink_problem(err, "url must start with http:// or https://");
        goto out;
    }
    if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !host[0]) {
        pw_sink_problem(err, "url has no host");
        goto out;
    }
    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT);
    curl_url_get(u, CURLUPART_PATH, &path, 0);
    static const CURLUPart secret_parts[] = {CURLUPART_USER, CURLUPART_PASSWORD, CURLUPART_OPTIONS,
                                             CURLUPART_QUERY, CURLUPART_FRAGMENT};
    for (size_t i = 0; i < sizeof secret_parts / sizeof secret_parts[0]; i++) {
        if (curl_url_get(u, secret_parts[i], &part, 0) == CURLUE_OK) {
            add_secret(h, part);
            if (secret_parts[i] == CURLUPART_QUERY) add_words(h, part, "&="); /* each name and value */
        }
        curl_free(part);
        part = NULL;
    }
    /* the first path segment is shown; the rest may be a token */
    const char *p = path && path[0] == '/' ? path + 1 : "";
    const char *slash = strchr(p, '/');
    int first = slash ? (int)(slash - p) : (int)strlen(p);
    int more = slash && slash[1];
    if (more) add_secret(h, slash + 1);
    if (first > 64) { add_secret(h, p); first = 0; more = 1; } /* a long single segment looks like a token */
    snprintf(h->safe, sizeof h->safe, "%s://%s%s%s/%.*s%s", scheme, host, port ? ":" : "", port ? port : "",
             first, p, more ? (first ? "/..." : "...") : "");
    rc = 0;
out:
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_free(path);
    curl_url_cleanup(u);
    return rc;
}

pw_sink_http *pw_sink_http_new(const char *url, const pw_kv *headers, int nheaders, pw_buf *err) {
    pthread_once(&curl_once, curl_init_once);
    if (curl_init_rc != CURLE_OK) { pw_sink_problem(err, "cannot initialise libcurl"); return NULL; }
    pw_sink_http *h = calloc(1, sizeof *h);
    if (!h) return NULL;
    int bad = 1;
    if (!url || !url[0]) pw_sink_problem(err, "a url is required");
    else bad = parse_url(h, url, err) < 0;
    int has_ct = 0;
    if (nheaders > MAX_HEADERS) { pw_sink_problem(err, "too many headers (at most %d)", MAX_HEADERS); bad = 1; }
    for (int i = 0; i < nheaders && i < MAX_HEADERS; i++) {
        const char *k = headers[i].key, *v = headers[i].val ? headers[i].val : "";
        if (!valid_header_name(k)) {
            /* show the name only if it is printable; never the value */
            int printable = k != NULL;
            for (const char *c = k; c && *c; c++)
                if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f) printable = 0;
            if (printable && strlen(k) < 64)
                pw_sink_problem(err, "header '%s': not a valid header name (letters, digits and "
                        "!#$%%&'*+-.^_`|~)", k);
            else pw_sink_problem(err, "header #%d: not a valid header name", i + 1);
            bad = 1;
            continue;
        }
        if (strpbrk(v, "\r\n")) {
            pw_sink_problem(err, "header '%s': the value must not contain line breaks", k);
            bad = 1;
            continue;
        }
        add_secret(h, v);
        add_words(h, v, " \t,;"); /* "Bearer TOKEN": a server may echo just the token */
        if (!strcasecmp(k, "Content-Type")) has_ct = 1;
    }
    if (bad) { pw_sink_http_destroy(h); return NULL; }

    pw_buf line;
    pw_buf_init(&line);
    for (int i = 0; i < nheaders; i++) {
        const char *v = headers[i].val ? headers[i].val : "";
        pw_buf_reset(&line);
        /* "Name;" is libcurl's way to send a header with an empty value */
        if (v[0]) pw_buf_printf(&line, "%s: %s", headers[i].key, v);
        else pw_buf_printf(&line, "%s;", headers[i].key);
        struct curl_slist *l = curl_slist_append(h->hdrs, line.data);
        if (l) h->hdrs = l;
    }
    pw_buf_free(&line);
    if (!has_ct) {
        struct curl_slist *l = curl_slist_append(h->hdrs, "Content-Type: application/json");
        if (l) h->hdrs = l;
    }
    /* no "Expect: 100-continue" round trip for bodies over 1 KiB */
    struct curl_slist *l = curl_slist_append(h->hdrs, "Expect:");
    if (l) h->hdrs = l;

    h->url = strdup(url);
    h->multi = curl_multi_init();
    h->easy = curl_easy_init();
    if (!h->url || !h->multi || !h->easy) {
        pw_sink_problem(err, "cannot create an HTTP client (out of memory)");
        pw_sink_http_destroy(h);
        return NULL;
    }
    CURL *e = h->easy;
    curl_easy_setopt(e, CURLOPT_URL, h->url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h->hdrs);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, h->errbuf);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, h);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "pipewatch/" PW_VERSION);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
#endif
    return h;
}

void pw_sink_http_destroy(pw_sink_http *h) {
    if (!h) return;
    if (h->easy) curl_easy_cleanup(h->easy);
    if (h->multi) curl_multi_cleanup(h->multi);
    curl_slist_free_all(h->hdrs);
    for (int i = 0; i < h->nsecrets; i++) {
        memset(h->secrets[i], 0, strlen(h->secrets[i]));
        free(h->secrets[i]);
    }
    free(h->secrets);
    if (h->url) {
        memset(h->url, 0, strlen(h->url));
        free(h->url);
    }
    free(h);
}

void pw_sink_http_wake(pw_sink_http *h) {
    if (h && h->multi) curl_multi_wakeup(h->multi);
}

const char *pw_sink_http_safe_url(const pw_sink_http *h) { return h->safe; }

/* The start of a response body as one printable line, scrubbed. */
static void resp_snippet(pw_sink_http *h, char *out, size_t outlen) {
    size_t j = 0;
    int space = 0;
    for (size_t i = 0; i < h->resp_len && j + 4 < outlen && j < 200; i++) {
        unsigned char c = (unsigned char)h->resp[i];
        if (c < 0x20 || c >= 0x7f) { space = 1; continue; }
        if (space && j) out[j++] = ' ';
        space = 0;
        out[j++] = (char)c;
    }
    if (h->resp_len > 200 && j + 4 < outlen) { memcpy(out + j, "...", 3); j += 3; }
    out[j] = 0;
    scrub(h, out);
}

static int permanent_curl_error(CURLcode rc) {
    switch (rc) {
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_NOT_BUILT_IN:
    case CURLE_BAD_FUNCTION_ARGUMENT:
    case CURLE_TOO_MANY_REDIRECTS:
        return 1;
    default:
        return 0;
    }
}

pw_sink_result pw_sink_http_post(pw_sink_http *h, pw_sink *s, const char *body, size_t len,
                                 pw_sink_attempt *a) {
    CURL *e = h->easy;
    h->errbuf[0] = 0;
    h->resp_len = 0;
    h->resp[0] = 0;
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)s->conf.timeout_ms);
    if (curl_multi_add_handle(h->multi, e) != CURLM_OK) {
        snprintf(a->why, sizeof a->why, "POST %s: cannot start the request", h->safe);
        return PW_SINK_RETRY;
    }
    int running = 1, abandoned = 0;
    while (running) {
        if (curl_multi_perform(h->multi, &running) != CURLM_OK) break;
        if (!running) break;
        int64_t now = pw_time_mono_ms(), dl = pw_sink_deadline(s);
        if (now >= dl) { abandoned = 1; break; }
        int64_t wait = dl - now < 1000 ? dl - now : 1000;
        curl_multi_poll(h->multi, NULL, 0, (int)wait, NULL);
    }
    CURLcode rc = CURLE_OK;
    int done = 0, left;
    CURLMsg *m;
    while ((m = curl_multi_info_read(h->multi, &left)) != NULL)
        if (m->msg == CURLMSG_DONE) { rc = m->data.result; done = 1; }
    curl_multi_remove_handle(h->multi, e);

    if (abandoned || !done) {
        snprintf(a->why, sizeof a->why, "POST %s: %s", h->safe,
                 abandoned ? "abandoned at the stop deadline" : "request did not complete");
        a->abandoned = abandoned;
        return abandoned ? PW_SINK_FAILED : PW_SINK_RETRY;
    }
    if (rc != CURLE_OK) {
        char msg[CURL_ERROR_SIZE + 8];
        snprintf(msg, sizeof msg, "%s", h->errbuf[0] ? h->errbuf : curl_easy_strerror(rc));
        scrub(h, msg);
        snprintf(a->why, sizeof a->why, "POST %s: %s", h->safe, msg);
        return permanent_curl_error(rc) ? PW_SINK_FAILED : PW_SINK_RETRY;
    }
    long status = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 200 && status < 300) return PW_SINK_SENT;
    char snip[256];
    resp_snippet(h, snip, sizeof snip);
    snprintf(a->why, sizeof a->why, "POST %s: HTTP %ld%s%s", h->safe, status, snip[0] ? ": " : "", snip);
    if (status == 408 || status == 429 || status >= 500) {
        curl_off_t ra = 0;
        if (curl_easy_getinfo(e, CURLINFO_RETRY_AFTER, &ra) == CURLE_OK && ra > 0)
            a->retry_after_ms = ra > 86400 ? 86400000 : (int64_t)ra * 1000;
        return PW_SINK_RETRY;
    }
    return PW_SINK_FAILED;
}

/* ---------- the webhook sink ---------- */

typedef struct webhook {
    pw_sink_http *http;
    pw_buf json, scratch;  /* main thread render scratch */
} webhook;

static int webhook_init(pw_sink *s, pw_buf *err) {
    webhook *w = calloc(1, sizeof *w);
    if (!w) return -1;
    s->impl = w;
    pw_buf_init(&w->json);
    pw_buf_init(&w->scratch);
    w->http = pw_sink_http_new(s->conf.url, s->conf.headers, s->conf.nheaders, err);
    if (s->conf.body) {
        size_t off = 0;
        char msg[256] = "";
        if (pw_template_check_body(s->conf.body, &off, msg, sizeof msg) < 0) {
            pw_sink_problem(err, "body template, at byte %zu: %s", off + 1, msg[0] ? msg : "invalid");
            return -1;
        }
    }
    return w->http ? 0 : -1;
}

static void webhook_fini(pw_sink *s) {
    webhook *w = s->impl;
    if (!w) return;
    pw_sink_http_destroy(w->http);
    pw_buf_free(&w->json);
    pw_buf_free(&w->scratch);
    free(w);
    s->impl = NULL;
}

static void webhook_render(pw_sink *s, const pw_notification *n, pw_buf *out) {
    webhook *w = s->impl;
    if (!s->conf.body) { pw_notification_json(n, out); return; }
    pw_sink_view v;
    pw_sink_view_fill(&v, n, &w->scratch);
    pw_buf_reset(&w->json);
    pw_notification_json(n, &w->json);
    v.tv.json = w->json.data;
    pw_template_expand_json(s->conf.body, &v.tv, out);
}

static pw_sink_result webhook_deliver(pw_sink *s, pw_sink_item *it, int n, pw_sink_attempt *a) {
    webhook *w = s->impl;
    (void)n; /* batch_max is 1: one POST per notification */
    return pw_sink_http_post(w->http, s, it->data, it->len, a);
}

static void webhook_wake(pw_sink *s) {
    webhook *w = s->impl;
    if (w) pw_sink_http_wake(w->http);
}

const pw_sink_ops pw_sink_webhook_ops = {
    .kind = PW_SINK_WEBHOOK,
    .batch_max = 1,
    .init = webhook_init,
    .render = webhook_render,
    .deliver = webhook_deliver,
    .wake = webhook_wake,
    .fini = webhook_fini,
};
