/* cmd_kafka_mock.c -- `pipewatch kafka-mock`: a throwaway Kafka broker.
 *
 * Prints `bootstrap=HOST:PORT[,...]` on stdout once ready, then serves until
 * SIGTERM/SIGINT or end of stdin. Commands on stdin, one per line, let tests
 * drive failures: `down [ID]`, `up [ID]` (ID default -1 = all brokers),
 * `quit`. Each command is acknowledged with `ok` or `error: ...` on stdout.
 * For tests, demos and trying rules; not a Kafka for production.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <poll.h>

#include "commands.h"
#include "kafka_mock.h"

static volatile sig_atomic_t stop_flag;
static void on_sig(int sig) { (void)sig; stop_flag = 1; }

static void usage(FILE *f) {
    fprintf(f, "usage: pipewatch kafka-mock [--brokers N] [--topic NAME[:PARTITIONS]]... [--port-file FILE]\n");
}

int pw_cmd_kafka_mock(int argc, char **argv) {
    int nbrokers = 1;
    const char *topics[64];
    int ntopics = 0;
    const char *port_file = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help")) { usage(stdout); return 0; }
        if (i + 1 >= argc) { fprintf(stderr, "pipewatch kafka-mock: %s needs a value\n", argv[i]); return 2; }
        if (!strcmp(argv[i], "--brokers")) {
            nbrokers = atoi(argv[++i]);
            if (nbrokers < 1 || nbrokers > 16) {
                fprintf(stderr, "pipewatch kafka-mock: --brokers must be 1..16\n");
                return 2;
            }
        } else if (!strcmp(argv[i], "--topic") && ntopics < 64) {
            topics[ntopics++] = argv[++i];
        } else if (!strcmp(argv[i], "--port-file")) {
            port_file = argv[++i];
        } else {
            fprintf(stderr, "pipewatch kafka-mock: unknown option '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    char err[512];
    pw_kmock *k = pw_kmock_start(nbrokers, err, sizeof err);
    if (!k) { fprintf(stderr, "pipewatch kafka-mock: %s\n", err); return 1; }
    for (int i = 0; i < ntopics; i++) {
        char name[256];
        int parts = 1;
        const char *colon = strchr(topics[i], ':');
        size_t n = colon ? (size_t)(colon - topics[i]) : strlen(topics[i]);
        if (n == 0 || n >= sizeof name) { fprintf(stderr, "pipewatch kafka-mock: bad topic '%s'\n", topics[i]); return 2; }
        memcpy(name, topics[i], n);
        name[n] = 0;
        if (colon && ((parts = atoi(colon + 1)) < 1 || parts > 10000)) {
            fprintf(stderr, "pipewatch kafka-mock: partitions of '%s' must be 1..10000\n", topics[i]);
            return 2;
        }
        if (pw_kmock_topic(k, name, parts, err, sizeof err) < 0) {
            fprintf(stderr, "pipewatch kafka-mock: %s\n", err);
            return 1;
        }
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sig;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (port_file) {
        FILE *f = fopen(port_file, "w");
        if (f) { fprintf(f, "%s\n", pw_kmock_bootstrap(k)); fclose(f); }
    }
    printf("bootstrap=%s\n", pw_kmock_bootstrap(k));
    fflush(stdout);

    char line[256];
    size_t used = 0;
    int stdin_open = 1;
    while (!stop_flag) {
        struct pollfd p = {STDIN_FILENO, POLLIN, 0};
        int r = stdin_open ? poll(&p, 1, 200) : poll(NULL, 0, 200);
        if (r <= 0 || !stdin_open) continue;
        ssize_t n = read(STDIN_FILENO, line + used, sizeof line - 1 - used);
        if (n <= 0) { stdin_open = 0; continue; } /* stdin closed: keep serving until a signal */
        used += (size_t)n;
        line[used] = 0;
        char *nl;
        while ((nl = strchr(line, '\n'))) {
            *nl = 0;
            int id = -1;
            char cmd[16] = "";
            if (sscanf(line, "%15s %d", cmd, &id) >= 1) {
                int ok = -1;
                if (!strcmp(cmd, "down")) ok = pw_kmock_broker_down(k, id);
                else if (!strcmp(cmd, "up")) ok = pw_kmock_broker_up(k, id);
                else if (!strcmp(cmd, "quit")) { stop_flag = 1; ok = 0; }
                printf(ok == 0 ? "ok\n" : "error: unknown command or broker\n");
                fflush(stdout);
            }
            used -= (size_t)(nl + 1 - line);
            memmove(line, nl + 1, used + 1);
        }
        if (used >= sizeof line - 1) used = 0; /* overlong junk line: drop it */
    }
    pw_kmock_stop(k);
    return 0;
}
