/* http_receiver.h -- a tiny HTTP/1.1 server for tests of the HTTP sinks.
 *
 * Listens on 127.0.0.1 on a free port, in its own thread, one connection at a
 * time (keep-alive honoured). It records every request (method, path, the raw
 * header block, body, arrival time) and answers with a configurable status
 * sequence, or hangs: reads the request and never answers, until the client
 * gives up and closes. Good enough for libcurl; not a general server
 * (no chunked request bodies, no pipelining, requests up to 8 MiB).
 */
#ifndef PW_HTTP_RECEIVER_H
#define PW_HTTP_RECEIVER_H

#include <stddef.h>
#include <stdint.h>

typedef struct pw_rx pw_rx;

pw_rx *pw_rx_start(void);       /* NULL on failure */
void pw_rx_stop(pw_rx *rx);     /* accepts NULL; closes everything, joins */
int pw_rx_port(const pw_rx *rx);

/* Status of the i-th response: statuses[min(i, n-1)] (default: 200 always). */
void pw_rx_set_statuses(pw_rx *rx, const int *statuses, int n);
void pw_rx_set_hang(pw_rx *rx, int hang);                /* 1: never answer */
void pw_rx_set_reply(pw_rx *rx, const char *extra_headers, const char *body); /* e.g. "Retry-After: 1\r\n" */

int pw_rx_count(pw_rx *rx);                              /* requests received so far */
int pw_rx_wait(pw_rx *rx, int n, int timeout_ms);        /* 1 once count >= n, 0 on timeout */

/* Copies of what request i carried (malloc'd, NUL-terminated; free them);
 * NULL if there is no such request or header. */
char *pw_rx_body(pw_rx *rx, int i);
char *pw_rx_path(pw_rx *rx, int i);
char *pw_rx_method(pw_rx *rx, int i);
char *pw_rx_header(pw_rx *rx, int i, const char *name);  /* value, trimmed; case-insensitive name */
char *pw_rx_raw_headers(pw_rx *rx, int i);               /* the whole header block */
int64_t pw_rx_time(pw_rx *rx, int i);                    /* monotonic ms at arrival, -1 if none */

#endif
