/* cmd_demo.c -- `pipewatch demo`: the whole daemon on one machine, in one command.
 *
 * Starts, all private to this process: librdkafka's mock cluster (a
 * Kafka-protocol broker on loopback; its address is printed so a user can
 * `kcat -P` events of their own into the `crm` topic), a redis-server on a
 * temporary unix socket when one is installed (else no snapshots, and it says
 * so), the HTTP status page, and a producer thread that plays `pipewatch gen`
 * events in accelerated time: by default four weeks ending now, in about two
 * minutes, with the four incidents the example rules catch. The daemon itself
 * is the real `pipewatch run` loop (pw_server_run_opts) on the main thread,
 * with `clock: event`, so alerts fire and resolve as the story unfolds: they
 * are printed as they happen, with a progress line from the producer.
 *
 * Limits: the mock broker keeps only ~5 MB per partition; the demo produces
 * at the pace the daemon consumes, so retention never bites. Ctrl-C stops it
 * all (the daemon stops in order, then redis and the broker).
 */
#include <errno.h>
#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "commands.h"
#include "gen.h"
#include "kafka_mock.h"
#include "server.h"
#include "timeutil.h"

typedef struct demo {
    const char *bootstrap;
    double days, speed;
    uint64_t seed;
    volatile int stop;
    uint64_t produced;
    int verbose_progress;
} demo;

static void sleep_ms(int64_t ms) {
    if (ms <= 0) return;
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The producer thread: generated events, paced so that `speed` simulated
 * seconds pass per real second; at the end, a pause for the last alerts,
 * then SIGTERM to the daemon loop. */
static void *producer(void *arg) {
    demo *d = arg;
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", d->bootstrap, NULL, 0);
    rd_kafka_conf_set(conf, "linger.ms", "20", NULL, 0);
    rd_kafka_conf_set(conf, "log_level", "3", NULL, 0);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "pipewatch demo: producer: %s\n", err);
        kill(getpid(), SIGTERM);
        return NULL;
    }
    pw_gen_conf gc;
    pw_gen_conf_init(&gc);
    gc.seed = d->seed;
    gc.duration_ms = (int64_t)(d->days * (double)PW_MS_PER_D);
    gc.start_ms = pw_floordiv(pw_time_now_ms() - gc.duration_ms, PW_MS_PER_H) * PW_MS_PER_H;
    pw_gen *g = pw_gen_new(&gc, err, sizeof err);
    if (!g) {
        fprintf(stderr, "pipewatch demo: generator: %s\n", err);
        rd_kafka_destroy(rk);
        kill(getpid(), SIGTERM);
        return NULL;
    }
    size_t ninc;
    const pw_gen_incident *inc = pw_gen_incidents(&ninc);
    fprintf(stderr, "\npipewatch demo: playing %.0f days of CRM events (%s to now) at %.0fx; incidents ahead:\n",
            d->days, pw_time_format_s(gc.start_ms, err, sizeof err), d->speed);
    for (size_t i = 0; i < ninc; i++)
        if (inc[i].offset_ms < gc.duration_ms)
            fprintf(stderr, "  day %-4.1f %s\n", (double)inc[i].offset_ms / PW_MS_PER_D, inc[i].description);
    fputc('\n', stderr);

    sleep_ms(4000); /* let the daemon join its group (the first join takes ~3 s) */
    pw_buf b;
    pw_buf_init(&b);
    int64_t ts, real0 = pw_time_mono_ms(), last_progress = 0;
    while (!d->stop) {
        pw_buf_reset(&b);
        if (pw_gen_next(g, &b, &ts) < 0) break;
        int64_t due = real0 + (int64_t)((double)(ts - gc.start_ms) / d->speed);
        sleep_ms(due - pw_time_mono_ms());
        while (rd_kafka_producev(rk, RD_KAFKA_V_TOPIC("crm"), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                 RD_KAFKA_V_VALUE(b.data, b.len), RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(rk, 10);
        rd_kafka_poll(rk, 0);
        d->produced++;
        int64_t now = pw_time_mono_ms();
        if (now - last_progress >= 5000) {
            char t[40];
            fprintf(stderr, "pipewatch demo: -- simulated time %s, %llu events produced (%.0f%%) --\n",
                    pw_time_format_s(ts, t, sizeof t), (unsigned long long)d->produced,
                    100.0 * (double)(ts - gc.start_ms) / (double)gc.duration_ms);
            last_progress = now;
        }
    }
    rd_kafka_flush(rk, 5000);
    rd_kafka_destroy(rk);
    pw_gen_destroy(g);
    pw_buf_free(&b);
    if (!d->stop) {
        fprintf(stderr, "pipewatch demo: all %llu events produced; stopping in 5 s\n", (unsigned long long)d->produced);
        sleep_ms(5000);
        kill(getpid(), SIGTERM);
    }
    return NULL;
}

/* A private redis-server on a unix socket in dir, or 0 when none is installed. */
static pid_t start_redis(const char *dir, char *sock, size_t n) {
    snprintf(sock, n, "%s/redis.sock", dir);
    pid_t pid = fork();
    if (pid < 0) return 0;
    if (pid == 0) {
        int fd = open("/dev/null", 0);
        if (fd >= 0) { dup2(fd, 1); dup2(fd, 2); }
        execlp("redis-server", "redis-server", "--port", "0", "--unixsocket", sock, "--save", "", "--appendonly",
               "no", "--dir", dir, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 50; i++) {
        struct stat st;
        if (stat(sock, &st) == 0) return pid;
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) return 0; /* exited: not installed or failed */
        sleep_ms(100);
    }
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    return 0;
}

static const char *find_rules(const char *given) {
    static const char *const candidates[] = {"rules", "/etc/pipewatch/rules", "/usr/share/pipewatch/examples/rules",
                                             "/usr/local/share/pipewatch/examples/rules", NULL};
    if (given) return given;
    for (int i = 0; candidates[i]; i++) {
        struct stat st;
        if (stat(candidates[i], &st) == 0 && S_ISDIR(st.st_mode)) return candidates[i];
    }
    return NULL;
}

static void usage(FILE *f) {
    fprintf(f, "usage: pipewatch demo [--days D] [--speed X] [--seed N] [--rules DIR] [--http HOST:PORT]\n"
               "  --days D      simulated days, ending now (default 28)\n"
               "  --speed X     simulated seconds per real second (default 20000: 4 weeks in ~2 min)\n"
               "  --rules DIR   rule directory (default ./rules, else the installed examples)\n"
               "  --http ADDR   status page address (default 127.0.0.1:9464)\n");
}

int pw_cmd_demo(int argc, char **argv) {
    demo d = {NULL, 28, 20000, 1, 0, 0, 0};
    const char *rules = NULL, *http = "127.0.0.1:9464";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        char *end = NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); return 0; }
        if (!v) { fprintf(stderr, "pipewatch demo: %s needs a value\n", a); usage(stderr); return 2; }
        if (!strcmp(a, "--days")) {
            d.days = strtod(v, &end);
            if (*end || !(d.days > 0 && d.days <= 90)) { fprintf(stderr, "pipewatch demo: --days must be 0..90\n"); return 2; }
        } else if (!strcmp(a, "--speed")) {
            d.speed = strtod(v, &end);
            if (*end || !(d.speed >= 1 && d.speed <= 1e9)) {
                fprintf(stderr, "pipewatch demo: --speed must be from 1 to 1e9\n");
                return 2;
            }
        } else if (!strcmp(a, "--seed")) {
            d.seed = strtoull(v, &end, 10);
            if (*end) { fprintf(stderr, "pipewatch demo: --seed must be a whole number\n"); return 2; }
        } else if (!strcmp(a, "--rules")) rules = v;
        else if (!strcmp(a, "--http")) http = v;
        else { fprintf(stderr, "pipewatch demo: unknown option '%s'\n", a); usage(stderr); return 2; }
        i++;
    }
    if (!(rules = find_rules(rules))) {
        fprintf(stderr, "pipewatch demo: no rules directory found (run it from the source tree, or pass --rules DIR)\n");
        return 2;
    }
    char dir[] = "/tmp/pipewatch-demo.XXXXXX";
    if (!mkdtemp(dir)) { fprintf(stderr, "pipewatch demo: mkdtemp: %s\n", strerror(errno)); return 1; }
    char err[512];
    pw_kmock *k = pw_kmock_start(1, err, sizeof err);
    if (!k || pw_kmock_topic(k, "crm", 1, err, sizeof err) < 0) {
        fprintf(stderr, "pipewatch demo: kafka: %s\n", err);
        pw_kmock_stop(k);
        return 1;
    }
    d.bootstrap = pw_kmock_bootstrap(k);
    char sock[600];
    pid_t redis = start_redis(dir, sock, sizeof sock);

    char cfgpath[600], rules_abs[4096];
    snprintf(cfgpath, sizeof cfgpath, "%s/pipewatch.yaml", dir);
    if (!realpath(rules, rules_abs)) snprintf(rules_abs, sizeof rules_abs, "%s", rules);
    FILE *f = fopen(cfgpath, "w");
    if (!f) { fprintf(stderr, "pipewatch demo: %s: %s\n", cfgpath, strerror(errno)); return 1; }
    fprintf(f, "kafka: {brokers: \"%s\", topics: [crm], group: pipewatch-demo}\n"
               "clock: event\n"
               "rules: [\"%s\"]\n"
               "http: {listen: \"%s\"}\n"
               "sinks:\n"
               "  - {name: ops-webhook, type: log, path: \"%s/alerts.jsonl\", default: true}\n"
               "  - {name: alertmanager, type: log, path: \"%s/alerts.jsonl\"}\n",
            d.bootstrap, rules_abs, http, dir, dir);
    if (redis) fprintf(f, "redis: {address: \"%s\", interval: 10s}\n", sock);
    fclose(f);

    fprintf(stderr, "pipewatch demo\n"
                    "  kafka broker:  %s (topic crm) -- add your own events: kcat -P -b %s -t crm\n"
                    "  status page:   http://%s/\n"
                    "  snapshots:     %s\n"
                    "  rules:         %s\n"
                    "  alerts (JSON): %s/alerts.jsonl\n"
                    "  Ctrl-C stops the demo.\n",
            d.bootstrap, d.bootstrap, http,
            redis ? "redis-server on a private unix socket, every 10 s" : "off (redis-server is not installed)",
            rules_abs, dir);

    pthread_t th;
    if (pthread_create(&th, NULL, producer, &d) != 0) { fprintf(stderr, "pipewatch demo: thread\n"); return 1; }
    int rc = pw_server_run_opts(cfgpath, NULL);
    d.stop = 1;
    pthread_join(th, NULL);
    if (redis) {
        kill(redis, SIGTERM);
        waitpid(redis, NULL, 0);
    }
    pw_kmock_stop(k);
    fprintf(stderr, "pipewatch demo: done (%llu events; alerts are in %s/alerts.jsonl)\n",
            (unsigned long long)d.produced, dir);
    return rc;
}
