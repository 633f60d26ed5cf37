/* make_v1.c -- writes snapshot.bin: the state after the first 300 events of events.jsonl under rules.yaml,
 * encoded by pipewatch's snapshot format version 1 (the released one). Build it against the sources of
 * that version, not against this tree:
 *   mkdir /tmp/pw-v1 && git archive 0dc4a4c daemon | tar -x -C /tmp/pw-v1
 *   S="snapshot engine window sketch distinct alert ruleset yamlnode template diag expr event fieldset value timeutil buf"
 *   cc -std=c11 -D_GNU_SOURCE -I/tmp/pw-v1/daemon tests/corpus/snapshot_v1/make_v1.c \
 *      $(for f in $S; do echo /tmp/pw-v1/daemon/$f.c; done) -lyaml -lm -o /tmp/make_v1
 *   (cd tests/corpus/snapshot_v1 && /tmp/make_v1)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "engine.h"
#include "event.h"
#include "ruleset.h"
#include "snapshot.h"

static void no_notify(const pw_notification *n, void *ud) { (void)n; (void)ud; }

int main(void) {
    pw_diag d;
    pw_diag_init(&d);
    const char *paths[] = {"rules.yaml"};
    pw_ruleset *rs = pw_ruleset_load(paths, 1, NULL, &d);
    if (!rs) { pw_diag_print(&d, stderr); return 1; }
    pw_decoder_conf dc = {rs->type_slot, rs->time_slot, rs->id_slot, 65536, 16};
    pw_decoder *dec = pw_decoder_new(rs->fields, &dc);
    pw_engine *e = pw_engine_new(rs, NULL, no_notify, NULL);
    FILE *f = fopen("events.jsonl", "r");
    char line[65536];
    for (int i = 0; i < 300 && fgets(line, sizeof line, f); i++) {
        pw_event ev;
        if (pw_decoder_decode(dec, line, strlen(line) - 1, &ev) == PW_EV_OK) pw_engine_event(e, &ev);
    }
    fclose(f);
    pw_buf b;
    pw_buf_init(&b);
    pw_snap_offset offs[1] = {{"crm", 0, 300}};
    pw_snapshot_encode(&b, e, 1800000000000LL, offs, 1);
    FILE *o = fopen("snapshot.bin", "wb");
    fwrite(b.data, 1, b.len, o);
    fclose(o);
    const pw_engine_stats *st = pw_engine_get_stats(e);
    printf("%zu bytes, %llu notifications, %llu firing, %llu pending\n", b.len, (unsigned long long)st->notifications,
           (unsigned long long)st->firing, (unsigned long long)st->pending);
    return 0;
}
