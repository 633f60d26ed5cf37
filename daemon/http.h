/* http.h -- the daemon's HTTP server: /metrics, health, the JSON API, the status page.
 *
 * A thin wrapper around libmicrohttpd run WITHOUT a thread of its own: the
 * daemon's main loop calls pw_http_run() every iteration, which accepts,
 * reads and answers whatever is ready without blocking. Request handlers
 * therefore run on the main thread and read the engine directly, with no
 * locks; the price is that a request waits for the loop (at most one
 * iteration, ~100 ms) and that rendering a large /metrics delays consumption
 * for as long as it takes (see api.h for the cost).
 *
 * Routes (anything else: 404; a known path with another method: 405 + Allow):
 *   GET  /                the status page (self-contained HTML)
 *   GET  /metrics         Prometheus text format 0.0.4
 *   GET  /healthz         200 "ok" while the process runs its loop
 *   GET  /readyz          200 "ready" or 503 "not ready: REASONS"
 *   GET  /api/v1/status   /api/v1/alerts   /api/v1/metrics   /api/v1/rules   (JSON)
 *   POST /-/reload        asks the server to reload (its callback); 202, or 401 when a token is
 *                         configured and the request lacks "Authorization: Bearer TOKEN"
 * HEAD is accepted wherever GET is.
 *
 * Limits: a request's headers must fit in max_request_bytes (else libmicrohttpd answers 431; a
 * request line longer than that gets no answer from libmicrohttpd 0.9.75 and is closed by the idle
 * timeout); a body longer than max_request_bytes gets 413 (only /-/reload takes a body, and ignores
 * it). At most max_connections at once, idle ones closed after timeout_s.
 * Plain HTTP only: put a TLS-terminating proxy in front to expose it beyond localhost.
 *
 * Threading: every function from the daemon's main thread.
 */
#ifndef PW_HTTP_H
#define PW_HTTP_H

#include <stddef.h>

#include "api.h"

#define PW_HTTP_DEFAULT_LISTEN "127.0.0.1:9464"

typedef struct pw_http_conf {
    const char *listen;          /* "HOST:PORT", "[V6]:PORT"; NULL = PW_HTTP_DEFAULT_LISTEN; port 0 = any */
    const char *reload_token_env;/* name of the env var holding the reload token; NULL/"" = no token */
    size_t max_request_bytes;    /* 0 = 16384 (headers + body), at least 1024 */
    unsigned max_connections;    /* 0 = 32 */
    unsigned timeout_s;          /* idle connection timeout; 0 = 10 */
} pw_http_conf;

/* Fill and return the view for one request (the server points it at its
 * current state and sets now_ms). Called on the main thread, once per
 * request that needs it; the view is read until the handler returns. */
typedef const pw_api_view *(*pw_http_view_fn)(void *ud);
/* POST /-/reload, after authorization: request a reload (e.g. set the same
 * flag as SIGHUP). Return 0 if accepted (202), -1 to answer 503. */
typedef int (*pw_http_reload_fn)(void *ud);

typedef struct pw_http pw_http;

/* Bind and listen (errors such as "127.0.0.1:9464: Address already in use"
 * go to errbuf; NULL returned). The token is read from the environment here,
 * once, and is never logged; when reload_token_env names an unset or empty
 * variable, pw_http_new fails (a guard that silently does not guard is
 * worse than none). view and reload may not be NULL; ud is passed to both. */
pw_http *pw_http_new(const pw_http_conf *conf, pw_http_view_fn view, pw_http_reload_fn reload, void *ud,
                     char *errbuf, size_t errlen);
/* Serve what is ready; never blocks. */
void pw_http_run(pw_http *h);
/* The bound port (useful with port 0). */
int pw_http_port(const pw_http *h);
/* Requests answered so far, by class (for tests and the stats line). */
unsigned long pw_http_requests(const pw_http *h);
void pw_http_destroy(pw_http *h); /* accepts NULL; closes the socket */

#endif
