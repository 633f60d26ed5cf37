/* http.c -- libmicrohttpd in the daemon's own loop: routing, limits, the reload token.
 *
 * Design: we create, bind and listen on the socket ourselves (so an error
 * names the address and errno, and port 0 can be read back with
 * getsockname) and hand it to libmicrohttpd with MHD_OPTION_LISTEN_SOCKET,
 * in "external select" mode: no MHD thread. pw_http_run() calls MHD_run(),
 * which polls the sockets with a zero timeout, a few times in a row so that
 * one loop iteration usually takes a request from accept to response.
 * Handlers render with api.c into one pw_buf reused across requests, and
 * MHD copies the bytes into its response (one copy per request; a /metrics
 * body of a few MB costs a few ms).
 *
 * Limits: headers are bounded by MHD's per-connection memory pool
 * (MHD_OPTION_CONNECTION_MEMORY_LIMIT = max_request_bytes + 4 KB for our
 * response headers): past it MHD answers 431 itself, except for a request
 * line longer than the pool, which 0.9.75 leaves unanswered until the idle
 * timeout closes the connection (tested; bounded by max_connections).
 * Bodies: a Content-Length above the limit is answered 413 before the body
 * is read; a chunked body is discarded as it
 * arrives and answered 413 once it passes the limit, and the connection is
 * closed if it goes on past 16 times the limit. Nothing buffers a body.
 *
 * The reload token is read from the environment once, at creation, compared
 * in constant time, and never logged or echoed. It guards POST /-/reload
 * only: the GET endpoints are read-only and meant for localhost scrapers.
 * Limits: no TLS, no keep-alive tuning, no gzip of /metrics.
 */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "log.h"
#include "status_page.h" /* generated from status_page.html by daemon/embed.cmake at build time */

struct pw_http {
    struct MHD_Daemon *d;
    int fd;
    int port;
    size_t max_req;
    char *token;            /* NULL = reload unguarded */
    pw_http_view_fn view;
    pw_http_reload_fn reload;
    void *ud;
    pw_buf out;             /* reused for every response body */
    unsigned long requests;
};

/* Per-request state between MHD's calls of the access handler. */
typedef struct req {
    size_t body;            /* body bytes seen */
    int too_large;
} req;

typedef enum route_id {
    R_PAGE, R_METRICS, R_HEALTHZ, R_READYZ, R_STATUS, R_ALERTS, R_SERIES, R_RULES, R_RELOAD
} route_id;

static const struct route { const char *path; route_id id; int post; } routes[] = {
    {"/", R_PAGE, 0},
    {"/metrics", R_METRICS, 0},
    {"/healthz", R_HEALTHZ, 0},
    {"/readyz", R_READYZ, 0},
    {"/api/v1/status", R_STATUS, 0},
    {"/api/v1/alerts", R_ALERTS, 0},
    {"/api/v1/metrics", R_SERIES, 0},
    {"/api/v1/rules", R_RULES, 0},
    {"/-/reload", R_RELOAD, 1},
};

#define CT_TEXT "text/plain; charset=utf-8"
#define CT_JSON "application/json"
#define CT_PROM "text/plain; version=0.0.4; charset=utf-8"
#define CT_HTML "text/html; charset=utf-8"

/* The page needs nothing from elsewhere: forbid it, so an injected string cannot load anything. */
#define PAGE_CSP                                                                                             \
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "                            \
    "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

static enum MHD_Result respond(struct MHD_Connection *c, unsigned status, const char *ctype, const void *body,
                               size_t len, int persistent, const char *allow) {
    struct MHD_Response *r = MHD_create_response_from_buffer(
        len, (void *)(uintptr_t)body, persistent ? MHD_RESPMEM_PERSISTENT : MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    if (allow) MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
    if (strcmp(ctype, CT_HTML) == 0) MHD_add_response_header(r, "Content-Security-Policy", PAGE_CSP);
    if (status == MHD_HTTP_UNAUTHORIZED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"pipewatch\"");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result text(struct MHD_Connection *c, unsigned status, const char *s, const char *allow) {
    return respond(c, status, CT_TEXT, s, strlen(s), 1, allow);
}

/* Constant-time for equal lengths; the length itself is not secret enough to hide. */
static int token_ok(const pw_http *h, struct MHD_Connection *c) {
    const char *a = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!a || strncasecmp(a, "Bearer ", 7) != 0) return 0;
    a += 7;
    while (*a == ' ') a++;
    size_t n = strlen(a), m = strlen(h->token);
    if (n != m) return 0;
    unsigned char diff = 0;
    for (size_t i = 0; i < n; i++) diff |= (unsigned char)(a[i] ^ h->token[i]);
    return diff == 0;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *upload, size_t *upload_size, void **con_cls) {
    pw_http *h = cls;
    req *q = *con_cls;
    if (!q) { /* first call: headers only */
        q = calloc(1, sizeof *q);
        if (!q) return MHD_NO;
        *con_cls = q;
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > h->max_req) {
            h->requests++;
            return text(c, 413 /* Content Too Large */, "request body too large\n", NULL);
        }
        return MHD_YES;
    }
    if (*upload_size) { /* body data: count and discard */
        q->body += *upload_size;
        *upload_size = 0;
        if (q->body > h->max_req) q->too_large = 1;
        return q->body > 16 * h->max_req ? MHD_NO : MHD_YES;
    }
    h->requests++;
    if (q->too_large) return text(c, 413 /* Content Too Large */, "request body too large\n", NULL);

    const struct route *rt = NULL;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        if (strcmp(url, routes[i].path) == 0) { rt = &routes[i]; break; }
    if (!rt) return text(c, MHD_HTTP_NOT_FOUND, "not found\n", NULL);
    int is_get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    int is_post = strcmp(method, "POST") == 0;
    if (rt->post ? !is_post : !is_get)
        return text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n", rt->post ? "POST" : "GET, HEAD");

    if (rt->id == R_PAGE)
        return respond(c, MHD_HTTP_OK, CT_HTML, pw_status_page, PW_STATUS_PAGE_LEN, 1, NULL);
    if (rt->id == R_HEALTHZ) return text(c, MHD_HTTP_OK, "ok\n", NULL);
    if (rt->id == R_RELOAD) {
        if (h->token && !token_ok(h, c)) return text(c, MHD_HTTP_UNAUTHORIZED, "unauthorized\n", NULL);
        if (h->reload(h->ud) != 0)
            return text(c, MHD_HTTP_SERVICE_UNAVAILABLE, "reload not possible now\n", NULL);
        pw_info("http", "reload requested over HTTP");
        return text(c, MHD_HTTP_ACCEPTED, "reload requested\n", NULL);
    }

    const pw_api_view *v = h->view(h->ud);
    pw_buf *b = &h->out;
    pw_buf_reset(b);
    unsigned status = MHD_HTTP_OK;
    const char *ctype = CT_JSON;
    switch (rt->id) {
    case R_METRICS: pw_api_metrics(v, b); ctype = CT_PROM; break;
    case R_READYZ:
        if (!pw_api_ready(v, b)) status = MHD_HTTP_SERVICE_UNAVAILABLE;
        ctype = CT_TEXT;
        break;
    case R_STATUS: pw_api_status(v, b); break;
    case R_ALERTS: pw_api_alerts(v, b); break;
    case R_SERIES: pw_api_series(v, b); break;
    case R_RULES: pw_api_rules(v, b); break;
    default: break; /* handled above */
    }
    return respond(c, status, ctype, b->data, b->len, 0, NULL);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode tc) {
    free(*con_cls);
    *con_cls = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap) {
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r')) msg[--n] = 0;
    pw_warn("http", "%s", msg);
}

/* "host:port" or "[v6]:port" -> a listening socket. -1 with errbuf. */
static int listen_on(const char *addr, int *family, char *errbuf, size_t errlen) {
    char host[256];
    const char *colon = strrchr(addr, ':');
    const char *h0 = addr, *h1 = colon;
    if (!colon || !colon[1]) {
        snprintf(errbuf, errlen, "http.listen '%s': expected HOST:PORT", addr);
        return -1;
    }
    if (*addr == '[') {
        h0 = addr + 1;
        if (colon == addr || colon[-1] != ']') {
            snprintf(errbuf, errlen, "http.listen '%s': expected [IPV6]:PORT", addr);
            return -1;
        }
        h1 = colon - 1;
    }
    if ((size_t)(h1 - h0) >= sizeof host || h1 == h0) {
        snprintf(errbuf, errlen, "http.listen '%s': bad host", addr);
        return -1;
    }
    memcpy(host, h0, (size_t)(h1 - h0));
    host[h1 - h0] = 0;
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535) {
        snprintf(errbuf, errlen, "http.listen '%s': bad port", addr);
        return -1;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(host, colon + 1, &hints, &res);
    if (rc != 0) {
        snprintf(errbuf, errlen, "http.listen '%s': %s", addr, gai_strerror(rc));
        return -1;
    }
    int fd = -1, err = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
        if (fd < 0) { err = errno; continue; }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 64) == 0) {
            *family = ai->ai_family;
            break;
        }
        err = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) snprintf(errbuf, errlen, "http.listen '%s': %s", addr, strerror(err));
    return fd;
}

pw_http *pw_http_new(const pw_http_conf *conf, pw_http_view_fn view, pw_http_reload_fn reload, void *ud,
                     char *errbuf, size_t errlen) {
    const char *addr = conf && conf->listen && *conf->listen ? conf->listen : PW_HTTP_DEFAULT_LISTEN;
    size_t max_req = conf && conf->max_request_bytes ? conf->max_request_bytes : 16384;
    if (max_req < 1024) max_req = 1024;
    unsigned maxconn = conf && conf->max_connections ? conf->max_connections : 32;
    unsigned timeout = conf && conf->timeout_s ? conf->timeout_s : 10;
    const char *env = conf ? conf->reload_token_env : NULL;

    pw_http *h = calloc(1, sizeof *h);
    if (!h) { snprintf(errbuf, errlen, "out of memory"); return NULL; }
    h->fd = -1;
    h->max_req = max_req;
    h->view = view;
    h->reload = reload;
    h->ud = ud;
    pw_buf_init(&h->out);
    if (env && *env) {
        const char *tok = getenv(env);
        if (!tok || !*tok) {
            snprintf(errbuf, errlen, "http.reload_token_env: environment variable %s is unset or empty", env);
            pw_http_destroy(h);
            return NULL;
        }
        h->token = strdup(tok);
        if (!h->token) { snprintf(errbuf, errlen, "out of memory"); pw_http_destroy(h); return NULL; }
    }
    int family = AF_INET;
    h->fd = listen_on(addr, &family, errbuf, errlen);
    if (h->fd < 0) { pw_http_destroy(h); return NULL; }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(h->fd, (struct sockaddr *)&ss, &sl) == 0)
        h->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                 : ((struct sockaddr_in *)&ss)->sin_port);
    /* MHD's pool holds the request line and headers and our response headers; keep room for the latter. */
    size_t pool = max_req + 4096;
    unsigned flags = MHD_USE_ERROR_LOG | (family == AF_INET6 ? MHD_USE_IPv6 : 0);
    h->d = MHD_start_daemon(flags, 0, NULL, NULL, handle, h,
                            MHD_OPTION_EXTERNAL_LOGGER, mhd_log, h, /* first, or MHD warns */
                            MHD_OPTION_LISTEN_SOCKET, (MHD_socket)h->fd,
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, pool,
                            MHD_OPTION_CONNECTION_LIMIT, maxconn,
                            MHD_OPTION_CONNECTION_TIMEOUT, timeout,
                            MHD_OPTION_NOTIFY_COMPLETED, completed, h,
                            MHD_OPTION_END);
    if (!h->d) {
        snprintf(errbuf, errlen, "http.listen '%s': libmicrohttpd failed to start", addr);
        pw_http_destroy(h);
        return NULL;
    }
    return h;
}

void pw_http_run(pw_http *h) {
    /* Round 1 accepts, round 2 reads and answers, round 3 writes what did not fit: most requests
     * complete within one call. Each round is a select() with a zero timeout. */
    for (int i = 0; i < 3; i++) MHD_run(h->d);
}

int pw_http_port(const pw_http *h) { return h->port; }

unsigned long pw_http_requests(const pw_http *h) { return h->requests; }

void pw_http_destroy(pw_http *h) {
    if (!h) return;
    if (h->d) MHD_stop_daemon(h->d); /* closes the listening socket it was given */
    else if (h->fd >= 0) close(h->fd);
    if (h->token) {
        memset(h->token, 0, strlen(h->token));
        free(h->token);
    }
    pw_buf_free(&h->out);
    free(h);
}
