/* test_gen.c -- the synthetic event generator (gen.c) and `pipewatch gen` (cmd_gen.c).
 *
 * What is held: determinism (same conf -> same bytes, a count-limited run is a
 * prefix), event-time order, every event valid JSON with the schema's fields,
 * types and value sets (cJSON as the independent parser), unique ids, the
 * four incidents visible in the data and absent with incidents off, bounded
 * memory, and the command's argument errors.
 */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "gen.h"
#include "timeutil.h"

#define DAY PW_MS_PER_D

/* ------------------------------------------------------------ helpers */

typedef struct run {
    pw_buf text;       /* all events, '\n'-separated */
    int64_t *ts;       /* returned ts of each event */
    size_t n, cap;
    pw_gen_stats st;
} run;

static void run_gen(const pw_gen_conf *c, run *r) {
    char err[128];
    pw_gen *g = pw_gen_new(c, err, sizeof err);
    cr_assert_not_null(g, "pw_gen_new: %s", err);
    pw_buf_init(&r->text);
    r->ts = NULL;
    r->n = r->cap = 0;
    int64_t t;
    while (pw_gen_next(g, &r->text, &t) == 0) {
        pw_buf_putc(&r->text, '\n');
        if (r->n == r->cap) {
            r->cap = r->cap ? r->cap * 2 : 4096;
            r->ts = realloc(r->ts, r->cap * sizeof *r->ts);
            cr_assert_not_null(r->ts);
        }
        r->ts[r->n++] = t;
    }
    cr_assert_eq(pw_gen_next(g, &r->text, &t), -1, "once over, always over");
    pw_gen_get_stats(g, &r->st);
    pw_gen_destroy(g);
}

static void run_free(run *r) {
    pw_buf_free(&r->text);
    free(r->ts);
}

/* Calls fn for each event line (NUL-terminated copy not needed: lines end in '\n'). */
typedef void (*line_fn)(const char *line, size_t len, int64_t ts, void *ud);
static void each_line(const run *r, line_fn fn, void *ud) {
    const char *p = r->text.data;
    for (size_t i = 0; i < r->n; i++) {
        const char *nl = memchr(p, '\n', r->text.len - (size_t)(p - r->text.data));
        cr_assert_not_null(nl);
        fn(p, (size_t)(nl - p), r->ts[i], ud);
        p = nl + 1;
    }
}

static pw_gen_conf conf_days(double days, int incidents) {
    pw_gen_conf c;
    pw_gen_conf_init(&c);
    c.duration_ms = (int64_t)(days * DAY);
    c.incidents = incidents;
    return c;
}

static const pw_gen_incident *incident(const char *name) {
    size_t n;
    const pw_gen_incident *t = pw_gen_incidents(&n);
    for (size_t i = 0; i < n; i++)
        if (!strcmp(t[i].name, name)) return &t[i];
    cr_assert_fail("no incident %s", name);
    return NULL;
}

/* -------------------------------------------------------- configuration */

typedef struct conf_row {
    const char *what;
    void (*mutate)(pw_gen_conf *c);
    const char *err; /* substring of the message, NULL = must be accepted */
} conf_row;

static void m_none(pw_gen_conf *c) { (void)c; }
static void m_leads0(pw_gen_conf *c) { c->leads_per_day = 0; }
static void m_leads_neg(pw_gen_conf *c) { c->leads_per_day = -5; }
static void m_leads_nan(pw_gen_conf *c) { c->leads_per_day = NAN; }
static void m_leads_huge(pw_gen_conf *c) { c->leads_per_day = 2e6; }
static void m_leads_tiny(pw_gen_conf *c) { c->leads_per_day = 0.5; }
static void m_dur0(pw_gen_conf *c) { c->duration_ms = 0; }
static void m_dur_neg(pw_gen_conf *c) { c->duration_ms = -DAY; }
static void m_start_epoch(pw_gen_conf *c) { c->start_ms = 0; }
static void m_end_far(pw_gen_conf *c) { c->start_ms = 253402300800000LL - DAY; c->duration_ms = 2 * DAY; }
static void m_ooo_neg(pw_gen_conf *c) { c->out_of_order = -0.1; }
static void m_ooo_big(pw_gen_conf *c) { c->out_of_order = 1.5; }
static void m_ooo_one(pw_gen_conf *c) { c->out_of_order = 1; }
static void m_1ms(pw_gen_conf *c) { c->duration_ms = 1; }

static const conf_row conf_rows[] = {
    {"defaults", m_none, NULL},
    {"0.5 leads a day", m_leads_tiny, NULL},
    {"a run of 1 ms", m_1ms, NULL},
    {"every event out of order", m_ooo_one, NULL},
    {"zero leads", m_leads0, "leads_per_day"},
    {"negative leads", m_leads_neg, "leads_per_day"},
    {"NaN leads", m_leads_nan, "leads_per_day"},
    {"too many leads", m_leads_huge, "leads_per_day"},
    {"zero duration", m_dur0, "duration"},
    {"negative duration", m_dur_neg, "duration"},
    {"start at the epoch (no room for the 90 silent days)", m_start_epoch, "start"},
    {"end after year 9999", m_end_far, "start"},
    {"negative out_of_order", m_ooo_neg, "out_of_order"},
    {"out_of_order > 1", m_ooo_big, "out_of_order"},
};

Test(gen, conf_table) {
    for (size_t i = 0; i < sizeof conf_rows / sizeof conf_rows[0]; i++) {
        pw_gen_conf c;
        pw_gen_conf_init(&c);
        c.duration_ms = DAY / 4;
        conf_rows[i].mutate(&c);
        char err[128] = "";
        pw_gen *g = pw_gen_new(&c, err, sizeof err);
        if (conf_rows[i].err) {
            cr_expect_null(g, "%s: must be rejected", conf_rows[i].what);
            cr_expect(strstr(err, conf_rows[i].err) != NULL, "%s: message '%s' should mention %s",
                      conf_rows[i].what, err, conf_rows[i].err);
        } else {
            cr_expect_not_null(g, "%s: must be accepted (%s)", conf_rows[i].what, err);
        }
        pw_gen_destroy(g);
    }
    pw_gen_destroy(NULL);
    cr_expect_null(pw_gen_new(NULL, NULL, 0));
}

/* ---------------------------------------------------------- determinism */

Test(gen, same_seed_same_bytes_other_seed_other_bytes) {
    pw_gen_conf c = conf_days(5, 1);
    run a, b, d;
    run_gen(&c, &a);
    run_gen(&c, &b);
    c.seed = 2;
    run_gen(&c, &d);
    cr_assert_gt(a.n, 1000);
    cr_expect_eq(a.text.len, b.text.len);
    cr_expect(memcmp(a.text.data, b.text.data, a.text.len) == 0, "same seed must give the same bytes");
    cr_expect(a.text.len != d.text.len || memcmp(a.text.data, d.text.data, a.text.len) != 0,
              "another seed must give other events");
    run_free(&a);
    run_free(&b);
    run_free(&d);
}

Test(gen, count_limit_is_a_prefix) {
    pw_gen_conf c = conf_days(3, 1);
    run full, cut;
    run_gen(&c, &full);
    c.max_events = 1000;
    run_gen(&c, &cut);
    cr_assert_eq(cut.n, 1000);
    cr_assert_eq(cut.st.events, 1000);
    cr_assert_lt(cut.text.len, full.text.len);
    cr_expect(memcmp(cut.text.data, full.text.data, cut.text.len) == 0, "a limited run is a prefix");
    run_free(&full);
    run_free(&cut);
}

Test(gen, out_of_order_zero_changes_nothing_and_jitter_is_small) {
    pw_gen_conf c = conf_days(4, 1);
    run base, zero, jit;
    run_gen(&c, &base);
    c.out_of_order = 0;
    run_gen(&c, &zero);
    cr_assert_eq(base.text.len, zero.text.len);
    cr_expect(memcmp(base.text.data, zero.text.data, base.text.len) == 0);
    c.out_of_order = 0.3;
    run_gen(&c, &jit);
    size_t back = 0;
    int64_t hi = INT64_MIN;
    for (size_t i = 0; i < jit.n; i++) {
        cr_assert_geq(jit.ts[i], c.start_ms);
        if (jit.ts[i] < hi) {
            back++;
            cr_assert_leq(hi - jit.ts[i], 120000 + 60000, "jitter is at most 2 min (+ gap to the max)");
        }
        if (jit.ts[i] > hi) hi = jit.ts[i];
    }
    cr_expect_gt(back, jit.n / 10, "about 30%% of events should go back in time, %zu of %zu did", back,
                 jit.n);
    run_free(&base);
    run_free(&zero);
    run_free(&jit);
}

/* --envelope: every event gains exactly "context", "session_id" and "user_agent" (strings and an
 * object of one string), about 115 bytes, and with them removed the event is the one generated
 * without --envelope, member for member (cJSON as the independent parser). */
Test(gen, envelope_adds_three_fields_and_changes_nothing_else) {
    pw_gen_conf c = conf_days(2, 1);
    run base, env;
    run_gen(&c, &base);
    c.envelope = 1;
    run_gen(&c, &env);
    cr_assert_eq(env.n, base.n);
    cr_assert_eq(memcmp(env.ts, base.ts, base.n * sizeof *base.ts), 0, "same event times");
    const char *a = base.text.data, *b = env.text.data;
    for (size_t i = 0; i < base.n; i++) {
        const char *ae = strchr(a, '\n'), *be = strchr(b, '\n');
        cJSON *x = cJSON_ParseWithLength(a, (size_t)(ae - a)), *y = cJSON_ParseWithLength(b, (size_t)(be - b));
        cr_assert(x && y, "event %zu is not JSON", i);
        cJSON *ctx = cJSON_GetObjectItemCaseSensitive(y, "context");
        cr_assert(cJSON_IsObject(ctx) && cJSON_GetArraySize(ctx) == 1 &&
                  cJSON_IsString(cJSON_GetObjectItemCaseSensitive(ctx, "source")));
        const cJSON *sid = cJSON_GetObjectItemCaseSensitive(y, "session_id");
        cr_assert(cJSON_IsString(sid) && strlen(sid->valuestring) == 18 && !strncmp(sid->valuestring, "s-", 2));
        cr_assert(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(y, "user_agent")));
        cJSON_DeleteItemFromObjectCaseSensitive(y, "context");
        cJSON_DeleteItemFromObjectCaseSensitive(y, "session_id");
        cJSON_DeleteItemFromObjectCaseSensitive(y, "user_agent");
        cr_assert(cJSON_Compare(x, y, 1), "event %zu differs beyond the envelope", i);
        size_t extra = (size_t)((be - b) - (ae - a));
        cr_assert(extra >= 95 && extra <= 135, "event %zu: %zu more bytes", i, extra);
        cJSON_Delete(x);
        cJSON_Delete(y);
        a = ae + 1;
        b = be + 1;
    }
    run_free(&base);
    run_free(&env);
}

/* ------------------------------------------------------- order and text */

static void check_ts_text(const char *line, size_t len, int64_t ts, void *ud) {
    (void)ud;
    const char *k = memmem(line, len, "\"ts\":\"", 6); /* not strstr: lines are not NUL-terminated */
    cr_assert_not_null(k);
    k += 6;
    const char *q = memchr(k, '"', len - (size_t)(k - line));
    cr_assert_not_null(q);
    int64_t parsed;
    cr_assert_eq(pw_time_parse_rfc3339(k, (size_t)(q - k), &parsed), 0);
    cr_assert_eq(parsed, ts, "ts text and returned ts differ");
    char want[40];
    pw_time_format_s(ts, want, sizeof want);
    cr_assert(strlen(want) == (size_t)(q - k) && !memcmp(want, k, (size_t)(q - k)),
              "ts '%.*s' is not pw_time_format's '%s'", (int)(q - k), k, want);
}

Test(gen, time_order_and_range) {
    pw_gen_conf c = conf_days(28, 1);
    run r;
    run_gen(&c, &r);
    cr_assert_gt(r.n, 30000, "28 days at 400 leads/day is ~45k events, got %zu", r.n);
    for (size_t i = 0; i < r.n; i++) {
        cr_assert_geq(r.ts[i], c.start_ms);
        cr_assert_lt(r.ts[i], c.start_ms + c.duration_ms);
        if (i) cr_assert_geq(r.ts[i], r.ts[i - 1], "event %zu goes back in time", i);
    }
    each_line(&r, check_ts_text, NULL);
    uint64_t sum = 0;
    for (int t = 0; t < PW_GEN__NTYPES; t++) {
        cr_expect_gt(r.st.by_type[t], 0, "no %s event", pw_gen_type_name((pw_gen_type)t));
        sum += r.st.by_type[t];
    }
    cr_expect_eq(sum, r.st.events);
    cr_expect_eq(r.st.events, r.n);
    cr_expect_eq(r.st.dropped, 0);
    run_free(&r);
}

/* ------------------------------------------------------------- schema */

enum kind { STR, NUM_OR_NUMSTR, OBJ };
typedef struct field_rule {
    const char *name;
    enum kind kind;
    int optional;
    const char *const *values; /* allowed values (NULL-terminated), or NULL */
    const char *prefix;        /* required prefix of a string, or NULL */
} field_rule;

static const char *const regions[] = {"EMEA", "NA", "LATAM", "APAC", NULL};
static const char *const origins[] = {"organic_search", "paid_search", "social", "email", "referral",
                                      "display", "direct_traffic", "other", NULL};
static const char *const segments[] = {"pet", "home_appliances", "car_accessories", "food_drink",
                                       "health_beauty", NULL};
static const char *const lost_reasons[] = {"price", "competitor", "no_budget", "timing", NULL};
static const char *const plans[] = {"basic", "pro", "enterprise", NULL};
static const char *const cancel_reasons[] = {"price", "churned", "moved", "other", NULL};

typedef struct type_rule {
    const char *type;
    field_rule f[8];
} type_rule;

static const type_rule schema[] = {
    {"lead.created", {{"lead_id", STR, 0, NULL, "lead-"}, {"origin", STR, 1, origins, NULL},
                      {"campaign", STR, 0, NULL, NULL}, {"landing_page", STR, 0, NULL, "lp-"},
                      {"contact", OBJ, 0, NULL, NULL}}},
    {"deal.won", {{"lead_id", STR, 0, NULL, "lead-"}, {"deal_id", STR, 0, NULL, "deal-"},
                  {"origin", STR, 1, origins, NULL}, {"sr_id", STR, 0, NULL, "sr-"},
                  {"segment", STR, 0, segments, NULL}, {"amount", NUM_OR_NUMSTR, 0, NULL, NULL}}},
    {"deal.lost", {{"lead_id", STR, 0, NULL, "lead-"}, {"deal_id", STR, 0, NULL, "deal-"},
                   {"origin", STR, 1, origins, NULL}, {"sr_id", STR, 0, NULL, "sr-"},
                   {"reason", STR, 0, lost_reasons, NULL}}},
    {"order.placed", {{"order_id", STR, 0, NULL, NULL}, {"customer_id", STR, 0, NULL, "cust-"},
                      {"amount", NUM_OR_NUMSTR, 0, NULL, NULL}, {"product", STR, 0, NULL, NULL}}},
    {"subscription.started", {{"customer_id", STR, 0, NULL, "cust-"}, {"plan", STR, 0, plans, NULL},
                              {"mrr", NUM_OR_NUMSTR, 0, NULL, NULL}}},
    {"subscription.cancelled", {{"customer_id", STR, 0, NULL, "cust-"}, {"plan", STR, 0, plans, NULL},
                                {"mrr", NUM_OR_NUMSTR, 0, NULL, NULL},
                                {"reason", STR, 0, cancel_reasons, NULL}}},
    {"email.sent", {{"campaign", STR, 0, NULL, NULL}, {"lead_id", STR, 0, NULL, "lead-"}}},
    {"email.clicked", {{"campaign", STR, 0, NULL, NULL}, {"lead_id", STR, 0, NULL, "lead-"},
                       {"link", STR, 0, NULL, "https://"}}},
};

static int in_set(const char *s, const char *const *set) {
    for (; *set; set++)
        if (!strcmp(s, *set)) return 1;
    return 0;
}

typedef struct schema_acc {
    char **ids;
    size_t nids;
    size_t numeric_strings, missing_origin, quality_hist[5], keys_total, events;
} schema_acc;

static void check_field(const cJSON *ev, const field_rule *f, const char *line, schema_acc *acc) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(ev, f->name);
    if (!v) {
        cr_assert(f->optional, "missing %s in %s", f->name, line);
        if (!strcmp(f->name, "origin")) acc->missing_origin++;
        return;
    }
    switch (f->kind) {
    case STR:
        cr_assert(cJSON_IsString(v) && v->valuestring[0], "%s must be a non-empty string: %s", f->name, line);
        if (f->values)
            cr_assert(in_set(v->valuestring, f->values), "%s='%s' not allowed", f->name, v->valuestring);
        if (f->prefix)
            cr_assert(!strncmp(v->valuestring, f->prefix, strlen(f->prefix)), "%s='%s' lacks prefix %s",
                      f->name, v->valuestring, f->prefix);
        break;
    case NUM_OR_NUMSTR:
        if (cJSON_IsString(v)) {
            char *end;
            double d = strtod(v->valuestring, &end);
            cr_assert(*v->valuestring && !*end && d > 0, "%s='%s' is not a numeric string", f->name,
                      v->valuestring);
            acc->numeric_strings++;
        } else {
            cr_assert(cJSON_IsNumber(v) && v->valuedouble > 0, "%s must be a positive number: %s", f->name,
                      line);
        }
        break;
    case OBJ: {
        cr_assert(cJSON_IsObject(v), "%s must be an object", f->name);
        static const char *const keys[] = {"name", "email", "phone", "company"};
        int quality = 0;
        for (int k = 0; k < 4; k++) {
            const cJSON *x = cJSON_GetObjectItemCaseSensitive(v, keys[k]);
            cr_assert(!x || cJSON_IsNull(x) || cJSON_IsString(x), "contact.%s: string, null or absent",
                      keys[k]);
            if (x && cJSON_IsString(x) && x->valuestring[0]) quality++;
        }
        for (const cJSON *x = v->child; x; x = x->next)
            cr_assert(in_set(x->string, (const char *const[]){"name", "email", "phone", "company", NULL}),
                      "unexpected contact.%s", x->string);
        acc->quality_hist[quality]++;
        break;
    }
    }
}

static void check_schema(const char *line, size_t len, int64_t ts, void *ud) {
    (void)ts;
    schema_acc *acc = ud;
    cr_assert_leq(len, PW_GEN_MAX_EVENT);
    cJSON *ev = cJSON_ParseWithLength(line, len);
    cr_assert_not_null(ev, "not JSON: %.*s", (int)len, line);
    cr_assert(cJSON_IsObject(ev));
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(ev, "type");
    const cJSON *tsv = cJSON_GetObjectItemCaseSensitive(ev, "ts");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(ev, "id");
    const cJSON *region = cJSON_GetObjectItemCaseSensitive(ev, "region");
    cr_assert(cJSON_IsString(type) && cJSON_IsString(tsv) && cJSON_IsString(id) && cJSON_IsString(region),
              "type, ts, id and region are strings: %.*s", (int)len, line);
    cr_assert(!strncmp(id->valuestring, "evt-", 4));
    cr_assert(in_set(region->valuestring, regions), "region '%s'", region->valuestring);
    const type_rule *tr = NULL;
    for (size_t i = 0; i < sizeof schema / sizeof schema[0]; i++)
        if (!strcmp(schema[i].type, type->valuestring)) tr = &schema[i];
    cr_assert_not_null(tr, "unknown type %s", type->valuestring);
    size_t nf = 0;
    for (const field_rule *f = tr->f; f < tr->f + 8 && f->name; f++, nf++) check_field(ev, f, line, acc);
    /* nothing beyond the schema: the 4 common fields and the type's own */
    size_t nkeys = 0;
    for (const cJSON *x = ev->child; x; x = x->next) nkeys++;
    cr_assert_leq(nkeys, 4 + nf, "extra fields in %.*s", (int)len, line);
    const cJSON *sr = cJSON_GetObjectItemCaseSensitive(ev, "sr_id");
    if (sr) {
        int n = atoi(sr->valuestring + 3);
        cr_assert(strlen(sr->valuestring) == 5 && n >= 1 && n <= 12, "sr_id '%s'", sr->valuestring);
    }
    acc->ids[acc->nids++] = strdup(id->valuestring);
    acc->events++;
    cJSON_Delete(ev);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

Test(gen, every_event_follows_the_schema) {
    pw_gen_conf c = conf_days(28, 1);
    run r;
    run_gen(&c, &r);
    schema_acc acc = {0};
    acc.ids = calloc(r.n, sizeof *acc.ids);
    each_line(&r, check_schema, &acc);
    qsort(acc.ids, acc.nids, sizeof *acc.ids, cmp_str);
    for (size_t i = 1; i < acc.nids; i++) cr_assert_str_neq(acc.ids[i - 1], acc.ids[i], "duplicate id");
    for (size_t i = 0; i < acc.nids; i++) free(acc.ids[i]);
    free(acc.ids);
    /* the variations the brief asks for actually occur */
    cr_expect_gt(acc.numeric_strings, 20, "numbers sometimes sent as numeric strings");
    cr_expect_gt(acc.missing_origin, 20, "origin occasionally missing");
    for (int q = 0; q <= 4; q++) cr_expect_gt(acc.quality_hist[q], 10, "lead quality %d occurs", q);
    run_free(&r);
}

/* ------------------------------------------------------------ incidents */

#define MAX_LEAD (1u << 21)

typedef struct tally {
    int64_t start;
    int64_t *lead_ts;  /* lead number -> lead.created ts, -1 if not emitted */
    /* per day since start */
    double paid_leads[64], cancels[64];
    /* windows of interest */
    int64_t a0, a1;    /* EMEA dip */
    double emea_won_in, emea_dec_in, emea_won_before, emea_dec_before;
    int64_t s0, s1;    /* stretch */
    double dur_in, n_in, dur_before, n_before, dec_in, dec_before;
} tally;

static const char *jstr(const cJSON *ev, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(ev, k);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static void tally_line(const char *line, size_t len, int64_t ts, void *ud) {
    tally *t = ud;
    cJSON *ev = cJSON_ParseWithLength(line, len);
    cr_assert_not_null(ev);
    const char *type = jstr(ev, "type");
    int day = (int)((ts - t->start) / DAY);
    cr_assert(day >= 0 && day < 64);
    const char *lid = jstr(ev, "lead_id");
    unsigned long lead = *lid ? strtoul(lid + 5, NULL, 10) : 0;
    cr_assert_lt(lead, MAX_LEAD);
    if (!strcmp(type, "lead.created")) {
        t->lead_ts[lead] = ts;
        if (!strcmp(jstr(ev, "origin"), "paid_search")) t->paid_leads[day]++;
    } else if (!strcmp(type, "subscription.cancelled")) {
        t->cancels[day]++;
    } else if (!strncmp(type, "deal.", 5)) {
        int won = !strcmp(type, "deal.won");
        if (!strcmp(jstr(ev, "region"), "EMEA")) {
            if (ts >= t->a0 && ts < t->a1) { t->emea_won_in += won; t->emea_dec_in++; }
            if (ts < t->a0) { t->emea_won_before += won; t->emea_dec_before++; }
        }
        int in = ts >= t->s0 && ts < t->s1, before = ts >= t->s0 - 7 * DAY && ts < t->s0;
        t->dec_in += in;
        t->dec_before += before;
        if (t->lead_ts[lead] >= 0) {
            double d = (double)(ts - t->lead_ts[lead]) / DAY;
            if (in) { t->dur_in += d; t->n_in++; }
            if (before) { t->dur_before += d; t->n_before++; }
        }
    }
    cJSON_Delete(ev);
}

static void tally_run(int incidents, uint64_t seed, tally *t) {
    pw_gen_conf c = conf_days(28, incidents);
    c.seed = seed;
    run r;
    run_gen(&c, &r);
    memset(t, 0, sizeof *t);
    t->start = c.start_ms;
    t->lead_ts = malloc(MAX_LEAD * sizeof *t->lead_ts);
    memset(t->lead_ts, 0xff, MAX_LEAD * sizeof *t->lead_ts); /* -1 */
    const pw_gen_incident *dip = incident("emea_conversion_dip"), *st = incident("sales_cycle_stretch");
    t->a0 = c.start_ms + dip->offset_ms;
    t->a1 = t->a0 + dip->duration_ms;
    t->s0 = c.start_ms + st->offset_ms;
    t->s1 = t->s0 + st->duration_ms;
    each_line(&r, tally_line, t);
    free(t->lead_ts);
    t->lead_ts = NULL;
    run_free(&r);
}

/* Signatures of the four incidents, each a ratio "during / normal". */
typedef struct signature {
    double paid_leads;  /* paid_search leads per day during the dry-up / per day before it */
    double emea_win;    /* EMEA win share during the dip / before it */
    double cycle;       /* mean lead -> decision days of deals decided in the stretch week / week before */
    double decisions;   /* deals decided in the stretch week / week before */
    double cancels;     /* cancellations on the burst day / median day */
} signature;

static int cmp_dbl(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static signature measure(int incidents, uint64_t seed) {
    tally t;
    tally_run(incidents, seed, &t);
    signature s;
    /* dry-up: 2 days from day 8 06:00; compare whole days 9 (inside) with days 1..7 */
    const pw_gen_incident *dry = incident("paid_search_dry_up");
    int d0 = (int)((dry->offset_ms + DAY - 1) / DAY); /* first whole day inside */
    cr_assert_leq((d0 + 1) * DAY, dry->offset_ms + dry->duration_ms);
    double before = 0;
    for (int d = 1; d < 8; d++) before += t.paid_leads[d];
    s.paid_leads = t.paid_leads[d0] / (before / 7);
    s.emea_win = (t.emea_won_in / t.emea_dec_in) / (t.emea_won_before / t.emea_dec_before);
    s.cycle = (t.dur_in / t.n_in) / (t.dur_before / t.n_before);
    s.decisions = t.dec_in / t.dec_before;
    /* burst: the 24 h from its start straddle two days */
    const pw_gen_incident *burst = incident("cancellation_burst");
    int b0 = (int)(burst->offset_ms / DAY);
    double days[28], inside = t.cancels[b0] + t.cancels[b0 + 1];
    int nd = 0;
    for (int d = 0; d < 28; d++)
        if (d != b0 && d != b0 + 1) days[nd++] = t.cancels[d];
    qsort(days, (size_t)nd, sizeof days[0], cmp_dbl);
    s.cancels = (inside - days[nd / 2]) / days[nd / 2]; /* the burst day alone, over the median day */
    cr_log_info("incidents %s, seed %llu: paid_search leads %.3f, EMEA win share %.2f, cycle %.2f "
                "(%.1f d vs %.1f d), decisions %.2f, cancellations %.1f",
                incidents ? "on" : "off", (unsigned long long)seed, s.paid_leads, s.emea_win, s.cycle,
                t.dur_in / t.n_in, t.dur_before / t.n_before, s.decisions, s.cancels);
    return s;
}

Test(gen, incidents_are_visible_in_the_data, .timeout = 60) {
    for (uint64_t seed = 1; seed <= 3; seed++) {
        signature s = measure(1, seed);
        cr_expect_lt(s.paid_leads, 0.10, "seed %llu: paid_search leads in the dry-up are %.0f%% of normal",
                     (unsigned long long)seed, 100 * s.paid_leads);
        cr_expect_lt(s.emea_win, 0.35, "seed %llu: EMEA win share during the dip is %.0f%% of normal",
                     (unsigned long long)seed, 100 * s.emea_win);
        cr_expect_gt(s.cycle, 1.6, "seed %llu: the stretch week's cycle is %.2fx the week before",
                     (unsigned long long)seed, s.cycle);
        cr_expect(s.decisions > 0.6 && s.decisions < 1.6, "seed %llu: decisions in the stretch week %.2fx",
                  (unsigned long long)seed, s.decisions);
        cr_expect_gt(s.cancels, 4.0, "seed %llu: cancellations on the burst day are %.1fx the median day",
                     (unsigned long long)seed, s.cancels);
    }
}

Test(gen, no_incidents_no_signatures, .timeout = 60) {
    for (uint64_t seed = 1; seed <= 3; seed++) {
        signature s = measure(0, seed);
        cr_expect_gt(s.paid_leads, 0.5, "seed %llu: paid_search leads %.0f%% of normal",
                     (unsigned long long)seed, 100 * s.paid_leads);
        cr_expect_gt(s.emea_win, 0.75, "seed %llu: EMEA win share %.0f%% of normal", (unsigned long long)seed,
                     100 * s.emea_win);
        cr_expect_lt(s.cycle, 1.3, "seed %llu: cycle %.2fx", (unsigned long long)seed, s.cycle);
        cr_expect_lt(s.cancels, 2.0, "seed %llu: cancellations %.1fx the median day",
                     (unsigned long long)seed, s.cancels);
    }
}

Test(gen, incident_table) {
    size_t n;
    const pw_gen_incident *t = pw_gen_incidents(&n);
    cr_assert_eq(n, 4);
    static const char *const names[] = {"paid_search_dry_up", "cancellation_burst", "emea_conversion_dip",
                                        "sales_cycle_stretch"};
    for (size_t i = 0; i < n; i++) {
        cr_expect_str_eq(t[i].name, names[i]);
        cr_expect_gt(strlen(t[i].description), 20);
        cr_expect_gt(t[i].duration_ms, 0);
        cr_expect_leq(t[i].offset_ms + t[i].duration_ms, PW_GEN_DEFAULT_DAYS * DAY, "inside the default run");
        if (i)
            cr_expect_geq(t[i].offset_ms, t[i - 1].offset_ms + t[i - 1].duration_ms, "no overlap, in order");
    }
}

#ifdef PW_SOURCE_DIR
#include <dirent.h>

/* Each incident names the example rule that catches it; that rule must exist in rules/. */
Test(gen, incident_descriptions_name_existing_rules) {
    pw_buf all;
    pw_buf_init(&all);
    DIR *d = opendir(PW_SOURCE_DIR "/rules");
    cr_assert_not_null(d);
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!strstr(de->d_name, ".yaml")) continue;
        char path[512];
        snprintf(path, sizeof path, "%s/rules/%s", PW_SOURCE_DIR, de->d_name);
        FILE *f = fopen(path, "r");
        cr_assert_not_null(f);
        char tmp[4096];
        size_t n;
        while ((n = fread(tmp, 1, sizeof tmp, f)) > 0) pw_buf_append(&all, tmp, n);
        fclose(f);
    }
    closedir(d);
    size_t n;
    const pw_gen_incident *t = pw_gen_incidents(&n);
    for (size_t i = 0; i < n; i++) {
        const char *r = strstr(t[i].description, "rule ");
        cr_assert_not_null(r, "%s: description should name its rule", t[i].name);
        char want[128];
        snprintf(want, sizeof want, "- name: %s\n", r + 5);
        cr_expect(all.data && strstr(all.data, want), "%s: no rule '%s' in rules/", t[i].name, r + 5);
    }
    pw_buf_free(&all);
}
#endif

/* ----------------------------------------------------- scale and memory */

Test(gen, volume_scales_with_leads_per_day) {
    pw_gen_conf c = conf_days(7, 0);
    run a, b;
    run_gen(&c, &a);
    c.leads_per_day = 1600;
    run_gen(&c, &b);
    double leads_a = (double)a.st.by_type[PW_GEN_LEAD_CREATED];
    double leads_b = (double)b.st.by_type[PW_GEN_LEAD_CREATED];
    cr_expect(fabs(leads_a / 7 / 400 - 1) < 0.1, "%.0f leads/day for 400", leads_a / 7);
    cr_expect(fabs(leads_b / leads_a - 4) < 0.4, "x4 leads/day gave x%.2f leads", leads_b / leads_a);
    double ev_b = (double)b.st.events / (double)a.st.events;
    cr_expect(fabs(ev_b - 4) < 0.4, "x4 leads/day gave x%.2f events", ev_b);
    run_free(&a);
    run_free(&b);
}

Test(gen, future_events_are_capped) {
    pw_gen_conf c = conf_days(10, 1);
    c.max_pending = 50;
    run r;
    run_gen(&c, &r);
    cr_expect_leq(r.st.pending_peak, 50);
    cr_expect_gt(r.st.dropped, 0);
    cr_expect_gt(r.st.by_type[PW_GEN_DEAL_WON], 0, "a small queue still lets some deals through");
    for (size_t i = 1; i < r.n; i++) cr_assert_geq(r.ts[i], r.ts[i - 1]);
    run_free(&r);
    /* the default cap is far from reached by a month at 10x the default volume */
    pw_gen_conf big = conf_days(28, 1);
    big.leads_per_day = 4000;
    char err[128];
    pw_gen *g = pw_gen_new(&big, err, sizeof err);
    cr_assert_not_null(g);
    pw_buf b;
    pw_buf_init(&b);
    while (pw_gen_next(g, &b, NULL) == 0) pw_buf_reset(&b);
    pw_gen_stats st;
    pw_gen_get_stats(g, &st);
    cr_expect_eq(st.dropped, 0);
    cr_expect_lt(st.heap_bytes, 4u << 20, "memory %zu bytes", st.heap_bytes);
    pw_buf_free(&b);
    pw_gen_destroy(g);
}

/* ------------------------------------------------------- pipewatch gen */

/* The command is tested through the built binary (PW_BINARY, set by CMake):
 * cmd_gen.c belongs to the executable, not to the libraries tests link. */
#ifdef PW_BINARY
#include <fcntl.h>
#include <sys/wait.h>

/* Runs `pipewatch gen ARGS...` with stdout to out_path (or /dev/null) and
 * stderr to /dev/null; returns the exit code, -1 if it did not exit. */
static int gen_cmd(const char *const *args, const char *out_path) {
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        int out = open(out_path ? out_path : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int err = open("/dev/null", O_WRONLY);
        if (out < 0 || err < 0) _exit(126);
        dup2(out, 1);
        dup2(err, 2);
        char *argv[24];
        int argc = 0;
        argv[argc++] = (char *)PW_BINARY;
        argv[argc++] = (char *)"gen";
        for (; *args && argc < 23; args++) argv[argc++] = (char *)*args;
        argv[argc] = NULL;
        execv(PW_BINARY, argv);
        _exit(127);
    }
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

typedef struct argv_row {
    const char *args[6];
} argv_row;

static const argv_row must_reject[] = {
    {{"--seed", "abc"}},       {{"--seed", "-1"}},          {{"--seed", "99999999999999999999"}},
    {{"--seed"}},              {{"--days", "0"}},           {{"--days", "-3"}},
    {{"--days", "1e9"}},       {{"--days", "2x"}},          {{"--days", "nan"}},
    {{"--leads-per-day", "0"}}, {{"--leads-per-day", "1e7"}}, {{"--leads-per-day", ""}},
    {{"--count", "0"}},        {{"--count", "1.5"}},        {{"--start", "2026-13-01T00:00:00Z"}},
    {{"--start", "yesterday"}}, {{"--start", "1970-01-02T00:00:00Z"}}, {{"--out-of-order", "2"}},
    {{"--frobnicate"}},        {{"--no-incidents=1"}},      {{"--out", ""}},
    {{"--start", "9999-12-30T00:00:00Z", "--days", "28"}},
};

Test(cmd_gen, bad_arguments_exit_2, .timeout = 30) {
    for (size_t i = 0; i < sizeof must_reject / sizeof must_reject[0]; i++) {
        int rc = gen_cmd(must_reject[i].args, NULL);
        cr_expect_eq(rc, 2, "args '%s %s' should be a usage error, got %d", must_reject[i].args[0],
                     must_reject[i].args[1] ? must_reject[i].args[1] : "", rc);
    }
}

Test(cmd_gen, list_and_help_exit_0) {
    cr_expect_eq(gen_cmd((const char *const[]){"--list-incidents", NULL}, NULL), 0);
    cr_expect_eq(gen_cmd((const char *const[]){"--no-incidents", "--list-incidents", NULL}, NULL), 0);
    cr_expect_eq(gen_cmd((const char *const[]){"--help", NULL}, NULL), 0);
}

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f);
    pw_buf b;
    pw_buf_init(&b);
    char tmp[65536];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0) pw_buf_append(&b, tmp, n);
    fclose(f);
    *len = b.len;
    return b.data ? b.data : calloc(1, 1);
}

/* The command writes exactly the library's events, one per line, to stdout or --out. */
Test(cmd_gen, output_is_the_generators_events, .timeout = 30) {
    char path[] = "/tmp/pw_test_gen_XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);

    pw_gen_conf c;
    pw_gen_conf_init(&c);
    c.seed = 9;
    cr_assert_eq(pw_time_parse_rfc3339("2026-01-05T00:00:00Z", 20, &c.start_ms), 0);
    c.duration_ms = 2 * DAY;
    c.leads_per_day = 100;
    run want;
    run_gen(&c, &want);

    size_t len;
    cr_assert_eq(gen_cmd((const char *const[]){"--seed=9", "--start", "2026-01-05T00:00:00Z", "--days", "2",
                                               "--leads-per-day=100", NULL},
                         path),
                 0);
    char *got = slurp(path, &len);
    cr_expect_eq(len, want.text.len);
    cr_expect(len == want.text.len && memcmp(got, want.text.data, len) == 0,
              "stdout differs from pw_gen_next");
    free(got);

    const char *const limited[] = {"--seed", "9", "--start=2026-01-05T00:00:00Z", "--days=2",
                                   "--leads-per-day", "100", "--count", "25", "--out", path, NULL};
    cr_assert_eq(gen_cmd(limited, NULL), 0);
    got = slurp(path, &len);
    size_t lines = 0;
    for (size_t i = 0; i < len; i++) lines += got[i] == '\n';
    cr_expect_eq(lines, 25);
    cr_expect(len <= want.text.len && memcmp(got, want.text.data, len) == 0, "--count gives a prefix");
    free(got);

    const char *const unwritable[] = {"--count", "5", "--out", "/nonexistent-dir/x", NULL};
    cr_expect_eq(gen_cmd(unwritable, NULL), 1);
    unlink(path);
    run_free(&want);
}
#else
Test(cmd_gen, needs_the_binary) {
    cr_skip_test("PW_BINARY not defined: build through CMake to test `pipewatch gen`");
}
#endif
