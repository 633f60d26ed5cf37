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

#endif
