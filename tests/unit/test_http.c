/* test_http.c -- the HTTP server (http.c) over a real socket, driven without threads.
 *
 * The server listens on 127.0.0.1:0; the test connects with a plain blocking socket, sends a whole
 * request, then alternates pw_http_run() (what the daemon's loop does) with non-blocking reads until
 * the server closes the connection ("Connection: close"). Checks, as a table of requests: status
 * codes and content types of every route, 404 for unknown paths, 405 with Allow for a wrong method,
 * 413 for a body over the limit (declared or chunked), 431/414 for headers over the limit, 401 for
 * /-/reload without or with a wrong bearer token and 202 with the right one (the callback runs only
 * then), and that an unset token variable refuses to start.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "http.h"

static pw_api_view VIEW;
static int views, reloads;
static pw_http *H;

static const pw_api_view *get_view(void *ud) { (void)ud; views++; return &VIEW; }
static int do_reload(void *ud) { (void)ud; reloads++; return 0; }

static void setup(void) {
    setenv("PW_TEST_HTTP_TOKEN", "s3cret-token", 1);
    memset(&VIEW, 0, sizeof VIEW);
    VIEW.version = "test";
    views = reloads = 0;
    pw_http_conf c = {.listen = "127.0.0.1:0",
                      .reload_token_env = "PW_TEST_HTTP_TOKEN",
                      .max_request_bytes = 4096,
                      .timeout_s = 2};
    char err[256] = "";
    H = pw_http_new(&c, get_view, do_reload, NULL, err, sizeof err);
    cr_assert(H, "pw_http_new: %s", err);
    cr_assert_gt(pw_http_port(H), 0);
}

static void teardown(void) { pw_http_destroy(H); }

TestSuite(http, .init = setup, .fini = teardown);

typedef struct resp {
    int status;
    char head[4096];
    char *body;
    size_t len;
} resp;

static int64_t mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Send raw bytes, run the server until it closes the connection (or 5 s), parse the response. */
static resp request_raw(const char *req, size_t reqlen) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)pw_http_port(H))};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0, "connect: %s", strerror(errno));
    size_t sent = 0;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int64_t deadline = mono_ms() + 5000;
    for (;;) {
        if (sent < reqlen) { /* the server reads while we write: large requests need the loop too */
            ssize_t n = send(fd, req + sent, reqlen - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
            if (n > 0) sent += (size_t)n;
            else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) sent = reqlen; /* closed on us */
        }
        pw_http_run(H);
        if (cap - len < 65536) {
            cap = cap ? cap * 2 : 131072;
            buf = realloc(buf, cap);
        }
        ssize_t n = recv(fd, buf + len, cap - len - 1, MSG_DONTWAIT);
        if (n == 0) break;
        if (n > 0) { len += (size_t)n; continue; }
        if (errno != EAGAIN && errno != EWOULDBLOCK) break; /* reset: keep what came */
        cr_assert_lt(mono_ms(), deadline, "no complete response within 5 s (got %zu bytes) to %.60s", len,
                     req);
        usleep(2000);
    }
    close(fd);
    resp r = {0};
    if (!buf) buf = malloc(1);
    buf[len] = 0;
    char *eoh = strstr(buf, "\r\n\r\n");
    if (sscanf(buf, "HTTP/1.%*d %d", &r.status) != 1) r.status = -1; /* no response at all */
    size_t hl = eoh ? (size_t)(eoh - buf) : len;
    if (hl >= sizeof r.head) hl = sizeof r.head - 1;
    memcpy(r.head, buf, hl);
    r.head[hl] = 0;
    r.len = eoh ? len - (size_t)(eoh + 4 - buf) : 0;
    r.body = malloc(r.len + 1);
    if (eoh) memcpy(r.body, eoh + 4, r.len);
    r.body[r.len] = 0;
    free(buf);
    return r;
}

static resp request(const char *method, const char *path, const char *extra_headers) {
    char req[8192];
    snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n%s\r\n", method,
             path, extra_headers ? extra_headers : "");
    return request_raw(req, strlen(req));
}

static int header_has(const resp *r, const char *needle) { return strcasestr(r->head, needle) != NULL; }

Test(http, routes_status_and_types) {
    static const struct {
        const char *method, *path;
        int status;
        const char *ctype, *body_has;
    } rows[] = {
        {"GET", "/healthz", 200, "text/plain", "ok"},
        {"GET", "/readyz", 503, "text/plain", "not ready: rules not loaded; no Kafka consumer"},
        {"GET", "/metrics", 200, "text/plain; version=0.0.4", "# TYPE pipewatch_build_info gauge"},
        {"GET", "/api/v1/status", 200, "application/json", "\"ready\":false"},
        {"GET", "/api/v1/alerts", 200, "application/json", "\"alerts\":[]"},
        {"GET", "/api/v1/metrics", 200, "application/json", "\"metrics\":[]"},
        {"GET", "/api/v1/rules", 200, "application/json", "\"rules\":[]"},
        {"GET", "/api/v1/metrics?metric=x", 200, "application/json", "\"metrics\""}, /* query ignored */
        {"GET", "/", 200, "text/html", "<html"},
        {"HEAD", "/healthz", 200, "text/plain", ""},
        {"GET", "/nope", 404, "text/plain", "not found"},
        {"GET", "/api/v1/", 404, "text/plain", "not found"},
        {"GET", "/metrics/", 404, "text/plain", "not found"},
        {"POST", "/metrics", 405, "text/plain", "method not allowed"},
        {"DELETE", "/api/v1/alerts", 405, "text/plain", "method not allowed"},
        {"GET", "/-/reload", 405, "text/plain", "method not allowed"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        resp r = request(rows[i].method, rows[i].path, NULL);
        cr_expect_eq(r.status, rows[i].status, "%s %s: %d", rows[i].method, rows[i].path, r.status);
        char ct[128];
        snprintf(ct, sizeof ct, "Content-Type: %s", rows[i].ctype);
        cr_expect(header_has(&r, ct), "%s %s: %s", rows[i].method, rows[i].path, r.head);
        cr_expect(strstr(r.body, rows[i].body_has), "%s %s: body %.200s", rows[i].method, rows[i].path,
                  r.body);
        if (!strcmp(rows[i].method, "HEAD")) cr_expect_eq(r.len, 0, "HEAD has no body");
        if (rows[i].status == 405)
            cr_expect(header_has(&r, !strcmp(rows[i].path, "/-/reload") ? "Allow: POST" : "Allow: GET, HEAD"),
                      "%s", r.head);
        free(r.body);
    }
    cr_expect_eq(reloads, 0, "no reload without a POST");
    cr_expect_gt(views, 0);
}

Test(http, page_is_self_contained) {
    resp r = request("GET", "/", NULL);
    cr_assert_eq(r.status, 200);
    cr_expect(header_has(&r, "Content-Security-Policy: default-src 'none'"), "%s", r.head);
    cr_expect(strstr(r.body, "</html>"));
    /* nothing fetched from elsewhere: the only absolute URL is the SVG namespace name (never fetched) */
    int urls = 0, ns = 0;
    for (const char *p = r.body; (p = strstr(p, "http")); p++)
        urls += !strncmp(p, "http://", 7) || !strncmp(p, "https://", 8);
    for (const char *p = r.body; (p = strstr(p, "http://www.w3.org/2000/svg")); p++) ns++;
    cr_expect_eq(urls, ns, "the page refers to another origin");
    cr_expect(!strstr(r.body, "@import") && !strstr(r.body, "src=") && !strstr(r.body, "<link"));
    cr_expect(strstr(r.body, "/api/v1/alerts") && strstr(r.body, "/api/v1/metrics"));
    free(r.body);
}

Test(http, reload_needs_the_token) {
    static const struct { const char *headers; int status; } rows[] = {
        {"", 401},
        {"Authorization: Bearer wrong-token!\r\n", 401},
        {"Authorization: Bearer s3cret-toke\r\n", 401},     /* a prefix */
        {"Authorization: Bearer s3cret-token-x\r\n", 401},  /* longer */
        {"Authorization: Basic czNjcmV0LXRva2Vu\r\n", 401}, /* another scheme */
        {"Authorization: s3cret-token\r\n", 401},
        {"Authorization: Bearer s3cret-token\r\nContent-Length: 0\r\n", 202},
        {"authorization: bearer s3cret-token\r\n", 202},   /* names and scheme are case-insensitive */
    };
    int expect = 0;
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        resp r = request("POST", "/-/reload", rows[i].headers);
        cr_expect_eq(r.status, rows[i].status, "row %zu: %d", i, r.status);
        if (rows[i].status == 202) expect++;
        if (rows[i].status == 401) cr_expect(header_has(&r, "WWW-Authenticate: Bearer"), "%s", r.head);
        cr_expect(!strstr(r.body, "s3cret"), "the token is never echoed");
        cr_expect_eq(reloads, expect, "row %zu: callback runs only when authorized", i);
        free(r.body);
    }
}

Test(http, oversized_requests_rejected) {
    /* a declared body over the limit: 413 before the body is read */
    resp r = request("POST", "/-/reload", "Authorization: Bearer s3cret-token\r\nContent-Length: 100000\r\n");
    cr_expect_eq(r.status, 413, "declared length: %d", r.status);
    free(r.body);

    /* a chunked body that grows past the limit: discarded, then 413 */
    char *req = malloc(20000);
    int n = snprintf(req, 20000, "POST /-/reload HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                                 "Authorization: Bearer s3cret-token\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (int i = 0; i < 3; i++) {
        n += snprintf(req + n, 20000 - (size_t)n, "BB8\r\n");
        memset(req + n, 'a', 3000);
        n += 3000;
        n += snprintf(req + n, 20000 - (size_t)n, "\r\n");
    }
    n += snprintf(req + n, 20000 - (size_t)n, "0\r\n\r\n");
    r = request_raw(req, (size_t)n);
    cr_expect_eq(r.status, 413, "chunked body: %d", r.status);
    cr_expect_eq(reloads, 0, "an oversized request never reloads");
    free(r.body);

    /* headers over the limit: libmicrohttpd answers 431 (or 414 for a long URL) */
    char *big = malloc(12000);
    memcpy(big, "X-Big: ", 7);
    memset(big + 7, 'b', 10000);
    memcpy(big + 10007, "\r\n", 3);
    r = request("GET", "/healthz", big);
    cr_expect(r.status == 431 || r.status == 413, "big header: %d", r.status);
    free(r.body);
    char *url = malloc(12000);
    url[0] = '/';
    memset(url + 1, 'u', 10000);
    url[10001] = 0;
    int64_t t0 = mono_ms();
    r = request("GET", url, NULL);
    /* libmicrohttpd 0.9.75 does not answer a request line longer than its pool: the connection stalls
     * until the idle timeout (timeout_s) closes it. Bounded, and nothing is served. */
    cr_expect(r.status == 414 || r.status == 431 || (r.status == -1 && r.len == 0), "long URL: %d", r.status);
    cr_expect_lt(mono_ms() - t0, 4000, "closed by the idle timeout");
    free(r.body);
    free(big);
    free(url);
    free(req);

    /* the server still serves afterwards */
    r = request("GET", "/healthz", NULL);
    cr_expect_eq(r.status, 200);
    free(r.body);
}

Test(http, unset_token_variable_refuses_to_start) {
    unsetenv("PW_TEST_HTTP_NO_SUCH_TOKEN");
    pw_http_conf c = {.listen = "127.0.0.1:0", .reload_token_env = "PW_TEST_HTTP_NO_SUCH_TOKEN"};
    char err[256] = "";
    pw_http *h = pw_http_new(&c, get_view, do_reload, NULL, err, sizeof err);
    cr_expect_null(h);
    cr_expect(strstr(err, "PW_TEST_HTTP_NO_SUCH_TOKEN") && strstr(err, "unset"), "%s", err);
    pw_http_destroy(h);
}

Test(http, listen_errors_name_the_address) {
    static const struct { const char *listen, *err; } rows[] = {
        {"127.0.0.1", "expected HOST:PORT"},
        {"127.0.0.1:http99", "bad port"},
        {"127.0.0.1:70000", "bad port"},
        {"[::1:80", "expected [IPV6]:PORT"},
        {"256.1.1.1:80", "256.1.1.1:80"},
        {NULL, "Address already in use"}, /* the port of the running server */
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char addr[64];
        if (rows[i].listen) snprintf(addr, sizeof addr, "%s", rows[i].listen);
        else snprintf(addr, sizeof addr, "127.0.0.1:%d", pw_http_port(H));
        pw_http_conf c = {.listen = addr};
        char err[256] = "";
        pw_http *h = pw_http_new(&c, get_view, do_reload, NULL, err, sizeof err);
        cr_expect_null(h, "row %zu", i);
        cr_expect(strstr(err, rows[i].err) && strstr(err, "http.listen"), "row %zu: %s", i, err);
        pw_http_destroy(h);
    }
    /* IPv6 loopback works when the host has it */
    pw_http_conf c6 = {.listen = "[::1]:0"};
    char err[256] = "";
    pw_http *h6 = pw_http_new(&c6, get_view, do_reload, NULL, err, sizeof err);
    if (h6) cr_expect_gt(pw_http_port(h6), 0);
    pw_http_destroy(h6);
}
