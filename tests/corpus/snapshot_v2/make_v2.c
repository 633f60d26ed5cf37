/* make_v2.c -- writes snapshot.bin: the state after the first 300 events of ../snapshot_v1/events.jsonl under
 * ../snapshot_v1/rules.yaml, encoded by pipewatch's snapshot format version 2, plus an outbox of two sinks
 * (version 2 added it). Written by the tree of commit 53560df, the last one that wrote version 2; to make it
 * again, build it against that commit's sources, not against a later tree:
 *   mkdir /tmp/pw-v2 && git archive 53560df daemon | tar -x -C /tmp/pw-v2
 *   S="snapshot engine window sketch distinct alert ruleset yamlnode template diag expr event fieldset value timeutil buf"
 *   cc -std=c11 -D_GNU_SOURCE -I/tmp/pw-v2/daemon tests/corpus/snapshot_v2/make_v2.c \
 *      $(for f in $S; do echo /tmp/pw-v2/daemon/$f.c; done) -lyaml -lm -o /tmp/make_v2
 *   (cd tests/corpus/snapshot_v2 && /tmp/make_v2)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert.h"
#include "diag.h"
#include "engine.h"
#include "event.h"
#include "ruleset.h"
#include "sink.h"
#include "snapshot.h"

static void no_notify(const pw_notification *n, void *ud) { (void)n; (void)ud; }

int main(void) {
    pw_diag d;
    pw_diag_init(&d);
    const char *paths[] = {"../snapshot_v1/rules.yaml"};
    pw_ruleset *rs = pw_ruleset_load(paths, 1, NULL, &d);
    if (!rs) { pw_diag_print(&d, stderr); return 1; }
    pw_decoder_conf dc = {rs->type_slot, rs->time_slot, rs->id_slot, 65536, 16};
    pw_decoder *dec = pw_decoder_new(rs->fields, &dc);
    pw_engine *e = pw_engine_new(rs, NULL, no_notify, NULL);
    FILE *f = fopen("../snapshot_v1/events.jsonl", "r");
    char line[65536];
    for (int i = 0; i < 300 && fgets(line, sizeof line, f); i++) {
        pw_event ev;
        if (pw_decoder_decode(dec, line, strlen(line) - 1, &ev) == PW_EV_OK) pw_engine_event(e, &ev);
    }
    fclose(f);
    pw_buf b;
    pw_buf_init(&b);
    pw_snap_offset offs[2] = {{"crm", 0, 300}, {"crm", 3, 17}};
    pw_snap_note notes[2] = {{.fingerprint = 0x1122334455667788ULL, .at = 1799999999000LL, .firing = 1,
                              .kind = PW_NOTE_REPEAT, .seq = 7, .born = 1799999000000LL,
                              .rule_hash = 0x8877665544332211ULL, .data = "{\"state\":\"firing\"}", .len = 18},
                             {.fingerprint = 42, .at = 1799999999500LL, .firing = 0, .kind = PW_NOTE_RESOLVED,
                              .seq = 3, .born = 1799999100000LL, .rule_hash = 5, .data = "", .len = 0}};
    pw_snap_outbox ob[2] = {{.sink = "hook", .kind = PW_SINK_WEBHOOK, .notes = notes, .n = 2},
                            {.sink = "am", .kind = PW_SINK_ALERTMANAGER, .notes = NULL, .n = 0}};
    pw_snapshot_encode(&b, e, 1800000000000LL, offs, 2, ob, 2);
    FILE *o = fopen("snapshot.bin", "wb");
    fwrite(b.data, 1, b.len, o);
    fclose(o);
    const pw_engine_stats *st = pw_engine_get_stats(e);
    printf("%zu bytes, %llu notifications, %llu firing, %llu pending\n", b.len, (unsigned long long)st->notifications,
           (unsigned long long)st->firing, (unsigned long long)st->pending);
    return 0;
}
