/* fuzz_rules.c -- libFuzzer target for the YAML rule loader (daemon/ruleset.c,
 * daemon/yamlnode.c, and the expression and template checks they call).
 *
 * pw_ruleset_load() takes paths, not memory (yamlnode.h has
 * pw_ydoc_load_string, but ruleset.c only calls pw_ydoc_load_file), so each
 * input is written once to a per-process file on tmpfs (fuzz_common.h) and
 * loaded from there: one open/write/close per input, a few microseconds next
 * to parsing.
 *
 * Invariants checked (ruleset.h):
 *   - NULL if and only if the diag gained an error; the diag prints;
 *   - a loaded set: every metric and rule name finds its own index; ratio
 *     parts come before the ratio; window = nbuckets * resolution; 0 < q < 1
 *     for quantiles; every slot and index is in range; each rule is on its
 *     metric's rule list; locations point at the interned file name;
 *   - the set is usable: a decoder builds from its fieldset, a few events
 *     decode, every where/value evaluates without a sanitizer report, and
 *     every annotation template (validated at load) expands.
 *
 * Coverage caveat: Debian's libyaml is not instrumented, so libFuzzer sees
 * no edges inside the YAML scanner/parser; see README.md.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "diag.h"
#include "event.h"
#include "expr.h"
#include "fuzz_common.h"
#include "ruleset.h"
#include "template.h"

static FILE *devnull;
static int verbose; /* PW_FUZZ_VERBOSE=1: print each input's diagnostics (for reproducers) */

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    devnull = fopen("/dev/null", "w");
    FUZZ_CHECK(devnull != NULL, "open /dev/null");
    verbose = getenv("PW_FUZZ_VERBOSE") && *getenv("PW_FUZZ_VERBOSE") == '1';
    return 0;
}

static const char *const events[] = {
    "{\"type\":\"deal.won\",\"ts\":\"2026-11-02T10:00:00Z\",\"id\":\"e1\",\"region\":\"NA\",\"lead_id\":\"l1\","
    "\"sr_id\":\"sr-03\",\"origin\":\"paid_search\",\"amount\":\"1234.50\",\"contact\":{\"name\":\"A\"}}",
    "{\"type\":\"lead.created\",\"ts\":1793610900123,\"region\":\"EMEA\",\"lead_id\":\"l1\",\"amount\":0,"
    "\"origin\":null,\"contact\":{\"name\":null,\"email\":\"x@y\"},\"mrr\":-1e308,\"reason\":[\"price\"]}",
    "{\"type\":\"t\",\"ts\":0}",
};

static void use_set(const pw_ruleset *rs, const char *file) {
    int nslots = pw_fieldset_count(rs->fields);
    FUZZ_CHECK(rs->type_slot >= 0 && rs->type_slot < nslots && rs->time_slot >= 0 && rs->time_slot < nslots &&
                   rs->id_slot >= -1 && rs->id_slot < nslots,
               "type/time/id slots");
    FUZZ_CHECK(rs->nfiles == 1 && strcmp(rs->files[0], file) == 0, "files");
    for (int i = 0; i < rs->nmetrics; i++) {
        const pw_metric_def *m = &rs->metrics[i];
        FUZZ_CHECK(m->name && m->help, "metric %d: name/help", i);
        FUZZ_CHECK(pw_ruleset_metric_index(rs, m->name) == i, "metric '%s' is not found at %d", m->name, i);
        FUZZ_CHECK(m->loc.file == rs->files[0], "metric '%s': loc.file not interned", m->name);
        if (m->kind == PW_METRIC_RATIO) {
            FUZZ_CHECK(m->num_idx >= 0 && m->num_idx < i && m->den_idx >= 0 && m->den_idx < i,
                       "ratio '%s' at %d has parts %d, %d", m->name, i, m->num_idx, m->den_idx);
        } else {
            FUZZ_CHECK(m->num_idx == -1 && m->den_idx == -1, "metric '%s': ratio indexes on a non-ratio", m->name);
        }
        FUZZ_CHECK(m->res_ms > 0 && m->nbuckets > 0 && m->window_ms == (int64_t)m->nbuckets * m->res_ms,
                   "metric '%s': window %lld != %d x %lld", m->name, (long long)m->window_ms, m->nbuckets,
                   (long long)m->res_ms);
        if (m->kind != PW_METRIC_RATIO) {
            FUZZ_CHECK((unsigned)m->agg < PW_AGG__COUNT, "metric '%s': aggregate", m->name);
            if (m->agg == PW_AGG_QUANTILE) FUZZ_CHECK(m->q > 0 && m->q < 1, "metric '%s': q %g", m->name, m->q);
        }
        FUZZ_CHECK(m->field_slot >= -1 && m->field_slot < nslots, "metric '%s': field slot", m->name);
        for (int j = 0; j < m->nby; j++)
            FUZZ_CHECK(m->by[j] && m->by_slots[j] >= 0 && m->by_slots[j] < nslots, "metric '%s': by %d", m->name, j);
        if (m->kind == PW_METRIC_PAIR)
            FUZZ_CHECK(m->pair_start && m->pair_end && m->pair_key_slot >= 0 && m->pair_key_slot < nslots &&
                           m->unit_ms > 0,
                       "metric '%s': pair", m->name);
        for (int j = 0; j < m->nrules; j++) {
            int r = m->rules[j];
            FUZZ_CHECK(r >= 0 && r < rs->nrules && rs->rules[r].metric_idx == i, "metric '%s': rule list", m->name);
        }
    }
    for (int i = 0; i < rs->nrules; i++) {
        const pw_rule_def *r = &rs->rules[i];
        FUZZ_CHECK(pw_ruleset_rule_index(rs, r->name) == i, "rule '%s' is not found at %d", r->name, i);
        FUZZ_CHECK(r->metric_idx >= 0 && r->metric_idx < rs->nmetrics, "rule '%s': metric index", r->name);
        const pw_metric_def *m = &rs->metrics[r->metric_idx];
        int listed = 0;
        for (int j = 0; j < m->nrules; j++) listed |= m->rules[j] == i;
        FUZZ_CHECK(listed, "rule '%s' is not on its metric's list", r->name);
        for (int j = 0; j < r->nmatch; j++)
            FUZZ_CHECK(r->match_by[j] >= 0 && r->match_by[j] < m->nby, "rule '%s': match %d", r->name, j);
        if (r->cond == PW_COND_OUTSIDE) FUZZ_CHECK(r->lo <= r->hi, "rule '%s': outside [%g, %g]", r->name, r->lo, r->hi);

        /* annotation templates were validated against the metric's labels and the rule's: expand them */
        const char *names[64], *vals[64];
        int nl = 0;
        for (int j = 0; j < m->nby && nl < 64; j++, nl++) { names[nl] = m->by[j]; vals[nl] = "v"; }
        for (int j = 0; j < r->nlabels && nl < 64; j++, nl++) { names[nl] = r->labels[j].key; vals[nl] = r->labels[j].val; }
        pw_template_vars tv = {.rule = r->name, .metric = m->name, .severity = pw_severity_name(r->severity),
                               .state = "firing", .value = NAN, .threshold = r->threshold,
                               .label_names = names, .label_values = vals, .nlabels = nl};
        for (int j = 0; j < r->nannotations; j++) {
            pw_buf b;
            pw_buf_init(&b);
            pw_template_expand(r->annotations[j].val, &tv, &b);
            pw_buf_free(&b);
        }
    }

    /* the set drives the hot path */
    pw_decoder_conf dc = {.type_slot = rs->type_slot, .time_slot = rs->time_slot, .id_slot = rs->id_slot};
    pw_decoder *dec = pw_decoder_new(rs->fields, &dc);
    FUZZ_CHECK(dec != NULL, "decoder for a loaded rule set");
    for (size_t k = 0; k < sizeof events / sizeof events[0]; k++) {
        pw_event ev;
        if (pw_decoder_decode(dec, events[k], strlen(events[k]), &ev) != PW_EV_OK) continue;
        FUZZ_CHECK(ev.nfields == nslots, "nfields");
        for (int i = 0; i < rs->nmetrics; i++) {
            const pw_metric_def *m = &rs->metrics[i];
            double d;
            if (m->where) (void)pw_expr_test(m->where, ev.fields);
            if (m->value && pw_expr_number(m->value, ev.fields, &d) == 0)
                FUZZ_CHECK(isfinite(d), "metric '%s': value %g", m->name, d);
        }
    }
    pw_decoder_destroy(dec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_tmp_path("rules", ".yaml");
    fuzz_write_file(path, data, size);
    pw_diag diag;
    pw_diag_init(&diag);
    const char *paths[] = {path};
    pw_ruleset *rs = pw_ruleset_load(paths, 1, NULL, &diag);
    FUZZ_CHECK((rs == NULL) == (diag.errors > 0), "load returned %p with %d errors", (void *)rs, diag.errors);
    FUZZ_CHECK(diag.n <= PW_DIAG_MAX, "diag holds %d entries", diag.n);
    pw_diag_print(&diag, verbose ? stderr : devnull);
    if (verbose && rs) fprintf(stderr, "loaded: %d metrics, %d rules\n", rs->nmetrics, rs->nrules);
    if (rs) use_set(rs, path);
    pw_ruleset_destroy(rs);
    pw_diag_free(&diag);
    return 0;
}
