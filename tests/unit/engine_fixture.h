/* engine_fixture.h -- shared helpers for tests that build a rule set and an engine in memory
 * (test_engine.c, test_snapshot.c, test_api.c). Header-only, static: each test file gets its own copy. */
#ifndef PW_TEST_ENGINE_FIXTURE_H
#define PW_TEST_ENGINE_FIXTURE_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <unistd.h>

#include "alert.h"
#include "buf.h"
#include "diag.h"
#include "engine.h"
#include "event.h"
#include <string.h>
#include "ruleset.h"

/* Load rule-file text through a temporary file (the loader reads files); asserts that it loads. */
static inline pw_ruleset *tfx_load_rules(const char *text) {
    char path[128];
    snprintf(path, sizeof path, "/tmp/pw-test-rules-%d.yaml", (int)getpid());
    FILE *f = fopen(path, "w");
    cr_assert(f);
    fputs(text, f);
    fclose(f);
    pw_diag d;
    pw_diag_init(&d);
    const char *paths[] = {path};
    pw_ruleset *rs = pw_ruleset_load(paths, 1, NULL, &d);
    if (!rs) pw_diag_print(&d, stderr);
    pw_diag_free(&d);
    unlink(path);
    cr_assert(rs, "rules must load");
    return rs;
}

/* A notification callback appending each notification's JSON line to the pw_buf given as ud. */
static inline void tfx_collect(const pw_notification *n, void *ud) {
    pw_buf *b = ud;
    pw_notification_json(n, b);
    pw_buf_putc(b, '\n');
}

/* A decoder and an engine over one rule set, notifications collected as JSON lines in `out`. */
typedef struct tfx_run {
    pw_decoder *dec;
    pw_engine *eng;
    pw_buf out;
} tfx_run;

static inline void tfx_run_init(tfx_run *r, const pw_ruleset *rs, const pw_engine_opts *o) {
    pw_decoder_conf dc = {rs->type_slot, rs->time_slot, rs->id_slot, 4096, 16};
    r->dec = pw_decoder_new(rs->fields, &dc);
    pw_buf_init(&r->out);
    pw_buf_puts(&r->out, ""); /* out.data is never NULL */
    r->eng = pw_engine_new(rs, o, tfx_collect, &r->out);
    cr_assert(r->dec && r->eng);
}

/* Decode one JSON event (asserting it is valid) and apply it. */
static inline void tfx_run_event(tfx_run *r, const char *json) {
    pw_event ev;
    cr_assert_eq(pw_decoder_decode(r->dec, json, strlen(json), &ev), PW_EV_OK, "%s", json);
    pw_engine_event(r->eng, &ev);
}

static inline void tfx_run_free(tfx_run *r) {
    pw_engine_destroy(r->eng);
    pw_decoder_destroy(r->dec);
    pw_buf_free(&r->out);
}

#endif
