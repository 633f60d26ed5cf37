/* cmd_replay.c -- `pipewatch replay`: the engine over a JSON-lines file.
 *
 * This is the backtest: events are applied in file order exactly as the
 * daemon would apply them from Kafka, notifications go to stdout as JSON lines
 * and a summary goes to stderr. It is also what the engine benchmarks run.
 * Malformed lines never stop a replay: they are counted by reason (and the
 * first few are reported with their line number).
 *
 * A regular file is read through a memory mapping (lines.c). If another
 * process truncates it meanwhile, touching the vanished pages raises SIGBUS;
 * replay then says so and exits 1 instead of dying without a word.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "commands.h"
#include "engine.h"
#include "event.h"
#include "lines.h"
#include "ruleset.h"
#include "timeutil.h"

#define MAX_RULE_PATHS 64
#define REPORT_FIRST 5

typedef struct replay_out {
    FILE *out;
    pw_buf buf;
    uint64_t firing, resolved;
} replay_out;

static void on_notify(const pw_notification *n, void *ud) {
    replay_out *ro = ud;
    pw_buf_reset(&ro->buf);
    pw_notification_json(n, &ro->buf);
    pw_buf_putc(&ro->buf, '\n');
    fwrite(ro->buf.data, 1, ro->buf.len, ro->out);
    if (n->firing) ro->firing++; else ro->resolved++;
}

typedef struct metrics_out {
    FILE *f;
    const pw_ruleset *rs;
    pw_buf buf;
} metrics_out;

static void on_series(const pw_series_view *s, void *ud) {
    metrics_out *mo = ud;
    const pw_metric_def *d = &mo->rs->metrics[s->metric_idx];
    pw_buf *b = &mo->buf;
    pw_buf_reset(b);
    pw_buf_puts(b, "{\"metric\":");
    pw_buf_json_str(b, d->name, strlen(d->name));
    pw_buf_puts(b, ",\"labels\":{");
    for (int i = 0; i < d->nby; i++) {
        if (i) pw_buf_putc(b, ',');
        pw_buf_json_str(b, d->by[i], strlen(d->by[i]));
        pw_buf_putc(b, ':');
        pw_buf_json_str(b, s->label_vals[i], strlen(s->label_vals[i]));
    }
    pw_buf_puts(b, "},\"value\":");
    if (s->defined) pw_buf_json_num(b, s->value); else pw_buf_puts(b, "null");
    pw_buf_printf(b, ",\"count\":%llu}\n", (unsigned long long)s->count);
    fwrite(b->data, 1, b->len, mo->f);
}

static void on_sigbus(int sig) {
    static const char msg[] = "pipewatch replay: the events file was truncated while being read\n";
    (void)sig;
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
    _exit(1);
}

static void usage(FILE *f) {
    fprintf(f, "usage: pipewatch replay --rules PATH [--rules PATH...] --events FILE|- [--until TIME]\n"
               "                        [--metrics-out FILE] [--type-field F] [--time-field F] [--id-field F]\n"
               "                        [--max-event-size BYTES] [--quiet]\n");
}

int pw_cmd_replay(int argc, char **argv) {
    const char *paths[MAX_RULE_PATHS];
    int npaths = 0;
    const char *events = NULL, *until_s = NULL, *metrics_path = NULL;
    pw_rules_conf rc = {"type", "ts", "id"};
    size_t max_size = 1 << 20;
    int quiet = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int takes = 1;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); return 0; }
        else if (!strcmp(a, "--quiet")) { quiet = 1; takes = 0; }
        else if (!v) { fprintf(stderr, "pipewatch replay: %s needs a value\n", a); usage(stderr); return 2; }
        else if (!strcmp(a, "--rules")) {
            if (npaths == MAX_RULE_PATHS) { fprintf(stderr, "pipewatch replay: too many --rules\n"); return 2; }
            paths[npaths++] = v;
        }
        else if (!strcmp(a, "--events")) events = v;
        else if (!strcmp(a, "--until")) until_s = v;
        else if (!strcmp(a, "--metrics-out")) metrics_path = v;
        else if (!strcmp(a, "--type-field")) rc.type_field = v;
        else if (!strcmp(a, "--time-field")) rc.time_field = v;
        else if (!strcmp(a, "--id-field")) rc.id_field = v;
        else if (!strcmp(a, "--max-event-size")) {
            char *end;
            unsigned long long n = strtoull(v, &end, 10);
            if (*end || n < 64 || n > (1ull << 30)) {
                fprintf(stderr, "pipewatch replay: --max-event-size '%s' must be a byte count from 64 to 1073741824\n", v);
                return 2;
            }
            max_size = (size_t)n;
        } else { fprintf(stderr, "pipewatch replay: unknown option '%s'\n", a); usage(stderr); return 2; }
        i += takes;
    }
    if (!npaths || !events) { usage(stderr); return 2; }
    int64_t until = 0;
    if (until_s && pw_time_parse_rfc3339(until_s, strlen(until_s), &until) < 0) {
        fprintf(stderr, "pipewatch replay: --until '%s' is not an RFC 3339 time like 2026-11-27T10:00:00Z\n", until_s);
        return 2;
    }

    pw_diag diag;
    pw_diag_init(&diag);
    pw_ruleset *rs = pw_ruleset_load(paths, npaths, &rc, &diag);
    pw_diag_print(&diag, stderr);
    pw_diag_free(&diag);
    if (!rs) return 1;

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigbus;
    sigaction(SIGBUS, &sa, NULL);
    FILE *in = stdin;
    if (strcmp(events, "-") != 0 && !(in = fopen(events, "rb"))) {
        fprintf(stderr, "pipewatch replay: cannot open events file '%s': %s\n", events, strerror(errno));
        pw_ruleset_destroy(rs);
        return 1;
    }
    FILE *mf = NULL;
    if (metrics_path && !(mf = fopen(metrics_path, "w"))) {
        fprintf(stderr, "pipewatch replay: cannot write '%s': %s\n", metrics_path, strerror(errno));
        if (in != stdin) fclose(in);
        pw_ruleset_destroy(rs);
        return 1;
    }

    static char outbuf[1 << 16];
    setvbuf(stdout, outbuf, _IOFBF, sizeof outbuf);
    replay_out ro = {stdout, {0}, 0, 0};
    pw_buf_init(&ro.buf);
    pw_decoder_conf dc = {rs->type_slot, rs->time_slot, rs->id_slot, max_size, 64};
    pw_decoder *dec = pw_decoder_new(rs->fields, &dc);
    pw_engine *eng = pw_engine_new(rs, NULL, on_notify, &ro);
    pw_lines *lr = pw_lines_new(in, max_size);
    if (!dec || !eng || !lr) { fprintf(stderr, "pipewatch replay: out of memory\n"); return 1; }

    uint64_t lines = 0, blank = 0, bad[PW_EV__COUNT] = {0};
    int64_t t0 = pw_time_mono_ms();
    const char *line;
    size_t len;
    int r, rc_exit = 0;
    for (;;) {
        pw_ev_err err;
        pw_event ev;
        /* A mapped file: decode in place, the parser finding the line's end (no separate scan); a
         * line it does not accept (invalid, blank, too long) is read again below for its reason. */
        size_t avail = pw_lines_peek(lr, &line);
        if (avail && pw_decoder_decode_line(dec, line, avail, &ev, &len)) {
            pw_lines_skip(lr, len);
            lines++;
            pw_engine_event(eng, &ev);
            continue;
        }
        if ((r = pw_lines_next(lr, &line, &len)) <= 0) break;
        lines++;
        if (r == 2) {
            err = PW_EV_TOO_LARGE;
        } else {
            size_t j = 0;
            while (j < len && (line[j] == ' ' || line[j] == '\t' || line[j] == '\r')) j++;
            if (j == len) { blank++; continue; }
            err = pw_decoder_decode(dec, line, len, &ev);
        }
        if (err != PW_EV_OK) {
            if (++bad[err] <= REPORT_FIRST && !quiet)
                fprintf(stderr, "pipewatch replay: %s:%lu: skipped event: %s\n", events, pw_lines_lineno(lr),
                        pw_ev_err_name(err));
            continue;
        }
        pw_engine_event(eng, &ev);
    }
    if (r < 0) {
        fprintf(stderr, "pipewatch replay: reading '%s': %s\n", events, strerror(errno));
        rc_exit = 1;
    }
    if (until_s) pw_engine_advance(eng, until);
    fflush(stdout);
    int64_t elapsed = pw_time_mono_ms() - t0;

    if (mf) {
        metrics_out mo = {mf, rs, {0}};
        pw_buf_init(&mo.buf);
        pw_engine_foreach_series(eng, on_series, &mo);
        pw_buf_free(&mo.buf);
        if (fclose(mf) != 0) {
            fprintf(stderr, "pipewatch replay: writing '%s': %s\n", metrics_path, strerror(errno));
            rc_exit = 1;
        }
    }

    const pw_engine_stats *st = pw_engine_get_stats(eng);
    uint64_t late = 0, series = 0, skipped = 0;
    for (int i = 0; i < rs->nmetrics; i++) {
        late += pw_engine_metric_stats(eng, i)->late;
        series += pw_engine_metric_stats(eng, i)->series;
    }
    for (int i = 0; i < PW_EV__COUNT; i++) skipped += bad[i];
    if (!quiet) {
        fprintf(stderr, "pipewatch replay: %llu lines, %llu events applied, %llu skipped",
                (unsigned long long)lines, (unsigned long long)st->events, (unsigned long long)skipped);
        for (int i = 1; i < PW_EV__COUNT; i++)
            if (bad[i]) fprintf(stderr, " (%s %llu)", pw_ev_err_name((pw_ev_err)i), (unsigned long long)bad[i]);
        if (blank) fprintf(stderr, ", %llu blank", (unsigned long long)blank);
        fprintf(stderr, ", %llu late, %llu of no metric's type, %llu live series, %llu notifications "
                        "(%llu firing, %llu resolved) in %.3f s\n",
                (unsigned long long)late, (unsigned long long)st->unmatched, (unsigned long long)series,
                (unsigned long long)st->notifications, (unsigned long long)ro.firing,
                (unsigned long long)ro.resolved, (double)elapsed / 1000.0);
    }
    pw_lines_destroy(lr);
    pw_engine_destroy(eng);
    pw_decoder_destroy(dec);
    pw_buf_free(&ro.buf);
    if (in != stdin) fclose(in);
    pw_ruleset_destroy(rs);
    return rc_exit;
}
