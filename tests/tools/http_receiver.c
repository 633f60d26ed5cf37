/* http_receiver.c -- see http_receiver.h. Test helper, not part of the daemon.
 *
 * One thread: poll(listen socket, current connection, stop pipe). A request
 * is complete when its header block and Content-Length bytes of body are in;
 * then it is recorded and, unless hanging, answered. Recorded requests are
 * kept in a growing array under a mutex (tests read them while it runs).
 */
#include "http_receiver.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_REQ (8u << 20)

typedef struct rx_req {
    char *method, *path, *headers, *body;
    int64_t t;
} rx_req;

struct pw_rx {
    int lfd, port;
    int pipefd[2];
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    rx_req *reqs;
    int n, cap;
    int *statuses;
    int nstatuses;
    int hang;
    char *extra, *reply;
};

static int64_t mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *dupn(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (!d) abort();
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

static size_t content_length(const char *hdrs, size_t hlen) {
    const char *p = hdrs, *end = hdrs + hlen;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol) break;
        if ((size_t)(eol - p) > 15 && !strncasecmp(p, "Content-Length:", 15))
            return (size_t)strtoul(p + 15, NULL, 10);
        p = eol + 1;
    }
    return 0;
}

/* Record one request; returns the status to answer with. */
static int record(pw_rx *rx, const char *buf, size_t hlen, size_t blen) {
    rx_req r;
    const char *sp1 = memchr(buf, ' ', hlen);
    const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', hlen - (size_t)(sp1 + 1 - buf)) : NULL;
    r.method = dupn(buf, sp1 ? (size_t)(sp1 - buf) : 0);
    r.path = sp1 && sp2 ? dupn(sp1 + 1, (size_t)(sp2 - sp1 - 1)) : dupn("", 0);
    r.headers = dupn(buf, hlen);
    r.body = dupn(buf + hlen, blen);
    r.t = mono_ms();
    pthread_mutex_lock(&rx->mu);
    if (rx->n == rx->cap) {
        rx->cap = rx->cap ? rx->cap * 2 : 16;
        rx->reqs = realloc(rx->reqs, (size_t)rx->cap * sizeof *rx->reqs);
        if (!rx->reqs) abort();
    }
    int i = rx->n;
    rx->reqs[rx->n++] = r;
    int status = 200;
    if (rx->nstatuses > 0) status = rx->statuses[i < rx->nstatuses ? i : rx->nstatuses - 1];
    pthread_cond_broadcast(&rx->cv);
    pthread_mutex_unlock(&rx->mu);
    return status;
}

static void answer(pw_rx *rx, int fd, int status) {
    char head[1024];
    pthread_mutex_lock(&rx->mu);
    const char *body = rx->reply ? rx->reply : "ok";
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d Status\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n%s\r\n",
                     status, strlen(body), rx->extra ? rx->extra : "");
    char *msg = malloc((size_t)n + strlen(body) + 1);
    if (!msg) abort();
    memcpy(msg, head, (size_t)n);
    strcpy(msg + n, body);
    pthread_mutex_unlock(&rx->mu);
    size_t len = (size_t)n + strlen(msg + n), off = 0;
    while (off < len) {
        ssize_t w = send(fd, msg + off, len - off, MSG_NOSIGNAL);
        if (w <= 0) break;
        off += (size_t)w;
    }
    free(msg);
}

static void *rx_thread(void *arg) {
    pw_rx *rx = arg;
    int cfd = -1;
    char *buf = malloc(MAX_REQ + 1);
    size_t len = 0;
    if (!buf) abort();
    for (;;) {
        struct pollfd p[2] = {{rx->pipefd[0], POLLIN, 0}, {cfd >= 0 ? cfd : rx->lfd, POLLIN, 0}};
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (p[0].revents) break;
        if (!p[1].revents) continue;
        if (cfd < 0) {
            cfd = accept(rx->lfd, NULL, NULL);
            len = 0;
            continue;
        }
        ssize_t r = recv(cfd, buf + len, MAX_REQ - len, 0);
        if (r <= 0 || len + (size_t)r >= MAX_REQ) {
            close(cfd);
            cfd = -1;
            continue;
        }
        len += (size_t)r;
        for (;;) { /* every complete request in buf */
            buf[len] = 0;
            char *eoh = strstr(buf, "\r\n\r\n");
            if (!eoh) break;
            size_t hlen = (size_t)(eoh + 4 - buf), blen = content_length(buf, hlen);
            if (len < hlen + blen) break;
            int status = record(rx, buf, hlen, blen);
            pthread_mutex_lock(&rx->mu);
            int hang = rx->hang;
            pthread_mutex_unlock(&rx->mu);
            if (!hang) answer(rx, cfd, status);
            memmove(buf, buf + hlen + blen, len - hlen - blen);
            len -= hlen + blen;
        }
    }
    if (cfd >= 0) close(cfd);
    free(buf);
    return NULL;
}

pw_rx *pw_rx_start(void) {
    pw_rx *rx = calloc(1, sizeof *rx);
    if (!rx) return NULL;
    rx->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    if (rx->lfd < 0 || bind(rx->lfd, (struct sockaddr *)&a, sizeof a) < 0 || listen(rx->lfd, 64) < 0 ||
        getsockname(rx->lfd, (struct sockaddr *)&a, &al) < 0 || pipe(rx->pipefd) < 0) {
        if (rx->lfd >= 0) close(rx->lfd);
        free(rx);
        return NULL;
    }
    rx->port = ntohs(a.sin_port);
    pthread_mutex_init(&rx->mu, NULL);
    pthread_cond_init(&rx->cv, NULL);
    if (pthread_create(&rx->th, NULL, rx_thread, rx)) {
        close(rx->lfd);
        free(rx);
        return NULL;
    }
    return rx;
}

void pw_rx_stop(pw_rx *rx) {
    if (!rx) return;
    ssize_t w = write(rx->pipefd[1], "x", 1);
    (void)w;
    pthread_join(rx->th, NULL);
    close(rx->lfd);
    close(rx->pipefd[0]);
    close(rx->pipefd[1]);
    for (int i = 0; i < rx->n; i++) {
        free(rx->reqs[i].method);
        free(rx->reqs[i].path);
        free(rx->reqs[i].headers);
        free(rx->reqs[i].body);
    }
    free(rx->reqs);
    free(rx->statuses);
    free(rx->extra);
    free(rx->reply);
    pthread_mutex_destroy(&rx->mu);
    pthread_cond_destroy(&rx->cv);
    free(rx);
}

int pw_rx_port(const pw_rx *rx) { return rx->port; }

void pw_rx_set_statuses(pw_rx *rx, const int *statuses, int n) {
    pthread_mutex_lock(&rx->mu);
    free(rx->statuses);
    rx->statuses = malloc((size_t)(n > 0 ? n : 1) * sizeof *statuses);
    if (!rx->statuses) abort();
    memcpy(rx->statuses, statuses, (size_t)n * sizeof *statuses);
    rx->nstatuses = n;
    pthread_mutex_unlock(&rx->mu);
}

void pw_rx_set_hang(pw_rx *rx, int hang) {
    pthread_mutex_lock(&rx->mu);
    rx->hang = hang;
    pthread_mutex_unlock(&rx->mu);
}

void pw_rx_set_reply(pw_rx *rx, const char *extra_headers, const char *body) {
    pthread_mutex_lock(&rx->mu);
    free(rx->extra);
    free(rx->reply);
    rx->extra = extra_headers ? strdup(extra_headers) : NULL;
    rx->reply = body ? strdup(body) : NULL;
    pthread_mutex_unlock(&rx->mu);
}

int pw_rx_count(pw_rx *rx) {
    pthread_mutex_lock(&rx->mu);
    int n = rx->n;
    pthread_mutex_unlock(&rx->mu);
    return n;
}

int pw_rx_wait(pw_rx *rx, int n, int timeout_ms) {
    int64_t until = mono_ms() + timeout_ms;
    pthread_mutex_lock(&rx->mu);
    while (rx->n < n) {
        int64_t left = until - mono_ms();
        if (left <= 0) break;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += left / 1000;
        ts.tv_nsec += (left % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) { ts.tv_sec++; ts.tv_nsec -= 1000000000L; }
        pthread_cond_timedwait(&rx->cv, &rx->mu, &ts);
    }
    int ok = rx->n >= n;
    pthread_mutex_unlock(&rx->mu);
    return ok;
}

static char *field(pw_rx *rx, int i, size_t off) {
    char *r = NULL;
    pthread_mutex_lock(&rx->mu);
    if (i >= 0 && i < rx->n) {
        char *s = *(char **)((char *)&rx->reqs[i] + off);
        r = strdup(s);
    }
    pthread_mutex_unlock(&rx->mu);
    return r;
}

char *pw_rx_body(pw_rx *rx, int i) { return field(rx, i, offsetof(rx_req, body)); }
char *pw_rx_path(pw_rx *rx, int i) { return field(rx, i, offsetof(rx_req, path)); }
char *pw_rx_method(pw_rx *rx, int i) { return field(rx, i, offsetof(rx_req, method)); }
char *pw_rx_raw_headers(pw_rx *rx, int i) { return field(rx, i, offsetof(rx_req, headers)); }

char *pw_rx_header(pw_rx *rx, int i, const char *name) {
    char *h = pw_rx_raw_headers(rx, i), *res = NULL;
    if (!h) return NULL;
    size_t nl = strlen(name);
    for (char *p = strstr(h, "\r\n"); p && !res; p = strstr(p + 2, "\r\n")) {
        char *line = p + 2;
        if (!strncasecmp(line, name, nl) && line[nl] == ':') {
            char *v = line + nl + 1, *e = strstr(v, "\r\n");
            while (*v == ' ' || *v == '\t') v++;
            size_t vl = e ? (size_t)(e - v) : strlen(v);
            while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t')) vl--;
            res = dupn(v, vl);
        }
    }
    free(h);
    return res;
}

int64_t pw_rx_time(pw_rx *rx, int i) {
    pthread_mutex_lock(&rx->mu);
    int64_t t = i >= 0 && i < rx->n ? rx->reqs[i].t : -1;
    pthread_mutex_unlock(&rx->mu);
    return t;
}
