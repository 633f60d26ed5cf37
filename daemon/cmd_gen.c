/* cmd_gen.c -- `pipewatch gen`: synthetic CRM events as JSON lines.
 *
 *   pipewatch gen [--seed N] [--start RFC3339] [--days D] [--leads-per-day N] [--count N]
 *                 [--no-incidents] [--out-of-order P] [--envelope] [--list-incidents] [--stats]
 *                 [--out FILE]
 *
 * The events come from gen.c (pure, deterministic from the seed); this file
 * only parses arguments and writes. Output is batched: events are rendered
 * into one buffer and written with write(2) in chunks of about 1 MiB, so the
 * cost per event is rendering, not system calls. Arguments are checked before
 * anything is written; a bad one is a usage error (exit 2) that names the flag
 * and what it accepts. A write error (disk full, closed pipe when SIGPIPE is
 * ignored) exits 1 with the failing call named.
 *
 * Limits: no compression and no Kafka output (pipe into kcat for that).
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "commands.h"
#include "gen.h"
#include "timeutil.h"

#define FLUSH_AT (1u << 20)

static void usage(FILE *f) {
    fprintf(f,
            "usage: pipewatch gen [OPTIONS]\n"
            "\n"
            "Writes synthetic CRM and marketing events (the schema of rules/), one JSON object per line,\n"
            "in event-time order, with incidents that the example rules catch.\n"
            "\n"
            "  --seed N             random seed, 0..2^64-1 (default 1); same seed, same events\n"
            "  --start TIME         first event time, RFC 3339 (default 2026-11-01T00:00:00Z)\n"
            "  --days D             length of the run in days, > 0, decimals allowed (default 28)\n"
            "  --leads-per-day N    scale of everything, > 0 and <= 1e6 (default 400: ~1,700 events/day)\n"
            "  --count N            stop after N events (default: end of the run)\n"
            "  --no-incidents       a quiet run: no incident is played\n"
            "  --out-of-order P     probability 0..1 that an event's ts is moved back by up to 2 min\n"
            "  --envelope           every event also carries context, session_id and user_agent\n"
            "                       (~115 bytes no example rule reads; other fields unchanged)\n"
            "  --list-incidents     print the incident schedule and exit\n"
            "  --stats              print a summary (events, bytes, events/s) to stderr at the end\n"
            "  --out FILE           write to FILE instead of stdout\n");
}

static int bad(const char *flag, const char *val, const char *what) {
    fprintf(stderr, "pipewatch gen: invalid %s '%s': %s\n", flag, val, what);
    return 2;
}

/* Unsigned decimal integer, the whole string. */
static int parse_u64(const char *s, uint64_t *out) {
    if (!*s || *s == '-' || *s == '+' || *s == ' ') return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end) return -1;
    *out = v;
    return 0;
}

/* Finite decimal number, the whole string. */
static int parse_num(const char *s, double *out) {
    if (!*s || *s == ' ') return -1;
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v)) return -1;
    *out = v;
    return 0;
}

static int write_all(int fd, const char *p, size_t n, const char *name) {
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            fprintf(stderr, "pipewatch gen: write(%s) failed: %s\n", name, strerror(e));
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static void list_incidents(const pw_gen_conf *c) {
    size_t n;
    const pw_gen_incident *inc = pw_gen_incidents(&n);
    char at[40], off[40], dur[40];
    printf("%-22s %-22s %-8s %-5s %s\n", "INCIDENT", "STARTS", "AFTER", "FOR", "WHAT");
    for (size_t i = 0; i < n; i++) {
        int inside = inc[i].offset_ms < c->duration_ms;
        printf("%-22s %-22s %-8s %-5s %s%s\n", inc[i].name,
               pw_time_format_s(c->start_ms + inc[i].offset_ms, at, sizeof at),
               pw_duration_format(inc[i].offset_ms, off, sizeof off),
               pw_duration_format(inc[i].duration_ms, dur, sizeof dur), inc[i].description,
               inside ? "" : " (after the end of this run)");
    }
    if (!c->incidents) printf("(--no-incidents: none of these is played)\n");
}

int pw_cmd_gen(int argc, char **argv) {
    pw_gen_conf conf;
    pw_gen_conf_init(&conf);
    const char *out_path = NULL;
    int list = 0, stats = 0;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        char flag[40];
        const char *eq = strchr(a, '=');
        size_t flen = eq ? (size_t)(eq - a) : strlen(a);
        if (flen >= sizeof flag) flen = sizeof flag - 1;
        memcpy(flag, a, flen);
        flag[flen] = 0;
        int takes = !strcmp(flag, "--seed") || !strcmp(flag, "--start") || !strcmp(flag, "--days") ||
                    !strcmp(flag, "--leads-per-day") || !strcmp(flag, "--count") ||
                    !strcmp(flag, "--out") || !strcmp(flag, "--out-of-order");
        if (takes) {
            if (eq) v = eq + 1;
            else if (i + 1 < argc) v = argv[++i];
            else {
                fprintf(stderr, "pipewatch gen: %s needs a value (see pipewatch gen --help)\n", flag);
                return 2;
            }
        } else if (eq) {
            fprintf(stderr, "pipewatch gen: %s takes no value\n", flag);
            return 2;
        }
        if (!strcmp(flag, "-h") || !strcmp(flag, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(flag, "--seed")) {
            if (parse_u64(v, &conf.seed)) return bad(flag, v, "expected an integer 0..18446744073709551615");
        } else if (!strcmp(flag, "--start")) {
            if (pw_time_parse_rfc3339(v, strlen(v), &conf.start_ms) || conf.start_ms < 90 * PW_MS_PER_D)
                return bad(flag, v, "expected an RFC 3339 time after 1970-04-01, e.g. 2026-11-01T00:00:00Z");
        } else if (!strcmp(flag, "--days")) {
            double d;
            if (parse_num(v, &d) || d <= 0 || d > 36500)
                return bad(flag, v, "expected a number of days > 0 and <= 36500, e.g. 28 or 0.5");
            conf.duration_ms = (int64_t)llround(d * PW_MS_PER_D);
            if (conf.duration_ms < 1) conf.duration_ms = 1;
        } else if (!strcmp(flag, "--leads-per-day")) {
            if (parse_num(v, &conf.leads_per_day) || conf.leads_per_day <= 0 || conf.leads_per_day > 1e6)
                return bad(flag, v, "expected a number > 0 and <= 1000000");
        } else if (!strcmp(flag, "--count")) {
            if (parse_u64(v, &conf.max_events) || conf.max_events == 0)
                return bad(flag, v, "expected a positive integer");
        } else if (!strcmp(flag, "--out-of-order")) {
            if (parse_num(v, &conf.out_of_order) || conf.out_of_order < 0 || conf.out_of_order > 1)
                return bad(flag, v, "expected a probability between 0 and 1");
        } else if (!strcmp(flag, "--out")) {
            if (!*v) return bad(flag, v, "expected a file name");
            out_path = v;
        } else if (!strcmp(flag, "--no-incidents")) {
            conf.incidents = 0;
        } else if (!strcmp(flag, "--envelope")) {
            conf.envelope = 1;
        } else if (!strcmp(flag, "--list-incidents")) {
            list = 1;
        } else if (!strcmp(flag, "--stats")) {
            stats = 1;
        } else {
            fprintf(stderr, "pipewatch gen: unknown option '%s' (see pipewatch gen --help)\n", a);
            return 2;
        }
    }

    if (list) {
        list_incidents(&conf);
        return 0;
    }

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0); /* --stats counts set-up (the silent 90 days) too */
    char err[160];
    pw_gen *g = pw_gen_new(&conf, err, sizeof err);
    if (!g) { /* every other value was checked above: only the span of the run is left */
        fprintf(stderr, "pipewatch gen: invalid --start/--days: %s\n", err);
        return 2;
    }

    int fd = 1;
    const char *name = "stdout";
    if (out_path) {
        fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) {
            int e = errno;
            fprintf(stderr, "pipewatch gen: open(%s) failed: %s\n", out_path, strerror(e));
            pw_gen_destroy(g);
            return 1;
        }
        name = out_path;
    }

    pw_buf buf;
    pw_buf_init(&buf);
    pw_buf_reserve(&buf, FLUSH_AT + PW_GEN_MAX_EVENT + 2);
    uint64_t bytes = 0;
    int rc = 0;
    for (;;) {
        int more = pw_gen_next(g, &buf, NULL) == 0;
        if (more) pw_buf_putc(&buf, '\n');
        if (buf.len >= FLUSH_AT || (!more && buf.len)) {
            if (write_all(fd, buf.data, buf.len, name)) { rc = 1; break; }
            bytes += buf.len;
            pw_buf_reset(&buf);
        }
        if (!more) break;
    }
    if (out_path && close(fd) < 0 && rc == 0) {
        int e = errno;
        fprintf(stderr, "pipewatch gen: close(%s) failed: %s\n", out_path, strerror(e));
        rc = 1;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);

    if (stats) {
        pw_gen_stats st;
        pw_gen_get_stats(g, &st);
        double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
        fprintf(stderr, "pipewatch gen: %llu events, %.1f MB (%.0f bytes/event) in %.3f s: %.0f events/s\n",
                (unsigned long long)st.events, (double)bytes / 1e6,
                st.events ? (double)bytes / (double)st.events : 0.0, secs,
                secs > 0 ? (double)st.events / secs : 0.0);
        fprintf(stderr, "  by type:");
        for (int t = 0; t < PW_GEN__NTYPES; t++)
            fprintf(stderr, " %s=%llu", pw_gen_type_name((pw_gen_type)t), (unsigned long long)st.by_type[t]);
        fprintf(stderr, "\n  future-event queue: peak %zu, dropped %llu; memory %.1f MB\n", st.pending_peak,
                (unsigned long long)st.dropped, (double)st.heap_bytes / 1e6);
    }
    pw_buf_free(&buf);
    pw_gen_destroy(g);
    return rc;
}
