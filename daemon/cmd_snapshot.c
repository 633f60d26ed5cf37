/* cmd_snapshot.c -- `pipewatch snapshot inspect --config FILE`: what the newest snapshot holds.
 *
 * Reads the config (for the redis section and the rules), fetches the latest
 * generation, checks it completely (framing, checksum, and a full restore into
 * a scratch engine built from the current rules) and prints: generation, time
 * taken and age, stream time, size, the partition offsets, the outbox
 * (undelivered notifications per sink, flagged when the current config has no
 * sink of that name and kind to re-queue them into), and per metric its
 * series, pending pair starts, alerts by state and whether the current rules
 * define it the same way (unchanged), differently (changed: it would start
 * empty) or not at all (unknown: it would be dropped). Metrics of the current
 * rules that the snapshot lacks are listed as new. Exit 1 if there is no
 * snapshot or it is invalid, 2 for a usage error. Read-only: writes nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "config.h"
#include "engine.h"
#include "redis_store.h"
#include "ruleset.h"
#include "sink.h"
#include "snapshot.h"
#include "timeutil.h"

static void usage(FILE *f) { fprintf(f, "usage: pipewatch snapshot inspect --config FILE\n"); }

typedef struct inspect {
    const pw_ruleset *rs;
    char *seen;                 /* per current metric: present in the snapshot */
    uint64_t series, firing, pending;
} inspect;

static void on_metric(const pw_saved_metric *m, void *ud) {
    inspect *in = ud;
    const char *status = "unknown";
    for (int i = 0; i < in->rs->nmetrics; i++) {
        if (strcmp(in->rs->metrics[i].name, m->name) != 0) continue;
        status = in->rs->metrics[i].def_hash == m->def_hash ? "unchanged" : "changed";
        in->seen[i] = 1;
    }
    printf("  %-28s %-9s series %-8u pending starts %-6u alerts firing %u pending %u\n", m->name, status, m->series,
           m->pair_pending, m->firing, m->pending);
    in->series += m->series;
    in->firing += m->firing;
    in->pending += m->pending;
}

int pw_cmd_snapshot(int argc, char **argv) {
    const char *cfg_path = NULL;
    if (argc < 2 || strcmp(argv[1], "inspect") != 0) {
        if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) { usage(stdout); return 0; }
        usage(stderr);
        return 2;
    }
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--config") && i + 1 < argc) cfg_path = argv[++i];
        else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { usage(stdout); return 0; }
        else { fprintf(stderr, "pipewatch snapshot: unknown option '%s'\n", argv[i]); usage(stderr); return 2; }
    }
    if (!cfg_path) { usage(stderr); return 2; }
    pw_diag d;
    pw_diag_init(&d);
    pw_config *cfg = pw_config_load(cfg_path, &d);
    pw_ruleset *rs = NULL;
    if (cfg) {
        pw_rules_conf rc = {cfg->type_field, cfg->time_field, cfg->id_field};
        rs = pw_ruleset_load((const char *const *)cfg->rule_paths, cfg->nrule_paths, &rc, &d);
    }
    if (!cfg || !rs) {
        pw_diag_print(&d, stderr);
        pw_diag_free(&d);
        pw_config_destroy(cfg);
        fprintf(stderr, "pipewatch snapshot: invalid configuration or rules\n");
        return 1;
    }
    pw_diag_free(&d);
    int rc = 1;
    if (!cfg->redis_address) {
        fprintf(stderr, "pipewatch snapshot: %s has no redis section: snapshots are off\n", cfg_path);
        goto out;
    }
    pw_redis_conf rcf = {cfg->redis_address, cfg->redis_database, cfg->redis_username, cfg->redis_password,
                         cfg->redis_prefix, cfg->redis_connect_timeout_ms, cfg->redis_command_timeout_ms, 0};
    pw_redis *r = pw_redis_new(&rcf);
    void *data = NULL;
    size_t len = 0;
    uint64_t gen = 0;
    char err[512];
    int got = r ? pw_redis_get(r, 0, &data, &len, &gen, err, sizeof err) : -1;
    if (got < 0) fprintf(stderr, "pipewatch snapshot: %s\n", r ? err : "out of memory");
    else if (got == 0) fprintf(stderr, "pipewatch snapshot: no snapshot under %s in redis %s\n", cfg->redis_prefix,
                               pw_redis_address(r));
    if (got > 0) {
        pw_snapshot_info info;
        pw_engine *e = pw_engine_new(rs, NULL, NULL, NULL);
        if (!e || pw_snapshot_restore(data, len, e, NULL, NULL, &info, err, sizeof err) < 0) {
            fprintf(stderr, "pipewatch snapshot: generation %llu in redis %s is invalid: %s\n",
                    (unsigned long long)gen, pw_redis_address(r), e ? err : "out of memory");
        } else {
            char c[40], st[40];
            printf("generation   %llu (redis %s, key %slatest)\n", (unsigned long long)gen, pw_redis_address(r),
                   cfg->redis_prefix);
            printf("taken        %s (%.1f s ago)\n", pw_time_format_s(info.created_ms, c, sizeof c),
                   (double)(pw_time_now_ms() - info.created_ms) / 1000.0);
            printf("stream time  %s\n",
                   info.stream_time == INT64_MIN ? "none (no event yet)" : pw_time_format_s(info.stream_time, st, sizeof st));
            printf("size         %zu bytes, format version %u, checksum ok\n", len, info.version);
            printf("partitions   %d\n", info.noffsets);
            for (int i = 0; i < info.noffsets; i++)
                printf("  %s/%d next offset %lld\n", info.offsets[i].topic, (int)info.offsets[i].partition,
                       (long long)info.offsets[i].next);
            printf("outbox       %llu undelivered notification%s (re-queued at restore)\n",
                   (unsigned long long)info.outbox_notes, info.outbox_notes == 1 ? "" : "s");
            for (int i = 0; i < info.noutbox; i++) {
                int known = 0;
                for (int j = 0; j < cfg->nsinks; j++)
                    if (!strcmp(cfg->sinks[j].name, info.outbox[i].sink))
                        known = (int)cfg->sinks[j].kind == info.outbox[i].kind ? 1 : 2;
                printf("  %-28s %-12s %u%s\n", info.outbox[i].sink,
                       pw_sink_kind_name((pw_sink_kind)info.outbox[i].kind), info.outbox[i].n,
                       known == 1 ? "" : known == 2 ? " (the sink is now of another kind: would be lost)"
                                                    : " (no such sink in the config: would be lost)");
            }
            printf("metrics (against the current rules)\n");
            inspect in = {rs, calloc((size_t)rs->nmetrics + 1, 1), 0, 0, 0};
            pw_engine_saved_metrics(info.engine, info.engine_len, info.version, on_metric, &in, err, sizeof err);
            for (int i = 0; i < rs->nmetrics; i++)
                if (!in.seen[i]) printf("  %-28s new       (not in the snapshot: starts empty)\n", rs->metrics[i].name);
            printf("total        %llu series, alerts firing %llu, pending %llu\n", (unsigned long long)in.series,
                   (unsigned long long)in.firing, (unsigned long long)in.pending);
            free(in.seen);
            pw_snapshot_info_free(&info);
            rc = 0;
        }
        pw_engine_destroy(e);
    }
    free(data);
    pw_redis_destroy(r);
out:
    pw_ruleset_destroy(rs);
    pw_config_destroy(cfg);
    return rc;
}
