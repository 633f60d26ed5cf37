/* ledger.c -- the delivery ledger's map and text (see ledger.h).
 *
 * Design: open addressing keyed by fingerprint (already a 64-bit hash),
 * linear probing, backward-shift delete, growth at 1/2 load. Pure: the
 * daemon does the Redis I/O. Limits: one entry per fingerprint and sink (the
 * last delivered notification), which is all the check needs because a sink
 * delivers in order.
 */
#include "ledger.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pw_ledger {
    pw_ledger_entry *slot;
    uint8_t *used;
    size_t cap, n;
};

pw_ledger *pw_ledger_new(void) { return calloc(1, sizeof(pw_ledger)); }

void pw_ledger_destroy(pw_ledger *l) {
    if (!l) return;
    free(l->slot);
    free(l->used);
    free(l);
}

size_t pw_ledger_size(const pw_ledger *l) { return l ? l->n : 0; }

static size_t find(const pw_ledger *l, uint64_t fp) { /* slot of fp, or the empty slot where it goes */
    size_t m = l->cap - 1, i = (size_t)(fp ^ (fp >> 29)) & m;
    while (l->used[i] && l->slot[i].fingerprint != fp) i = (i + 1) & m;
    return i;
}

int pw_ledger_has(const pw_ledger *l, uint64_t fingerprint) {
    return l && l->n && l->used[find(l, fingerprint)];
}

static int grow(pw_ledger *l) {
    size_t cap = l->cap ? l->cap * 2 : 64;
    pw_ledger_entry *ns = calloc(cap, sizeof *ns);
    uint8_t *nu = calloc(cap, 1);
    if (!ns || !nu) { free(ns); free(nu); return -1; }
    pw_ledger old = *l;
    l->slot = ns;
    l->used = nu;
    l->cap = cap;
    for (size_t i = 0; i < old.cap; i++) {
        if (!old.used[i]) continue;
        size_t j = find(l, old.slot[i].fingerprint);
        l->slot[j] = old.slot[i];
        l->used[j] = 1;
    }
    free(old.slot);
    free(old.used);
    return 0;
}

int pw_ledger_put(pw_ledger *l, const pw_ledger_entry *e) {
    if ((l->n + 1) * 2 > l->cap && grow(l) < 0) return -1;
    size_t i = find(l, e->fingerprint);
    if (l->used[i]) {
        const pw_ledger_entry *o = &l->slot[i];
        if (e->born > o->born || (e->born == o->born && e->seq >= o->seq)) l->slot[i] = *e;
        return 0;
    }
    l->slot[i] = *e;
    l->used[i] = 1;
    l->n++;
    return 0;
}

static void del_at(pw_ledger *l, size_t i) {
    size_t m = l->cap - 1;
    l->used[i] = 0;
    l->n--;
    for (size_t j = (i + 1) & m; l->used[j]; j = (j + 1) & m) { /* backward shift */
        uint64_t fp = l->slot[j].fingerprint;
        size_t home = (size_t)(fp ^ (fp >> 29)) & m;
        /* move j to the hole i if its home is not in (i, j] cyclically */
        if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
            l->slot[i] = l->slot[j];
            l->used[i] = 1;
            l->used[j] = 0;
            i = j;
        }
    }
}

void pw_ledger_restored(pw_ledger *l, uint64_t fingerprint, int64_t born, uint32_t seq) {
    if (!l || !l->n) return;
    size_t i = find(l, fingerprint);
    if (!l->used[i]) return;
    l->slot[i].has_snap = 1;
    l->slot[i].snap_born = born;
    l->slot[i].snap_seq = seq;
}

void pw_ledger_restored_done(pw_ledger *l, int64_t created_ms) {
    if (!l) return;
    for (size_t i = 0; i < l->cap;) {
        const pw_ledger_entry *e = &l->slot[i];
        int stale = e->has_snap ? e->born < e->snap_born || (e->born == e->snap_born && e->seq <= e->snap_seq)
                                : e->written_ms < created_ms;
        if (l->used[i] && stale) {
            del_at(l, i); /* the backward shift may move another entry into i: look at i again */
            continue;
        }
        i++;
    }
}

int pw_ledger_check(pw_ledger *l, uint64_t fingerprint, uint64_t rule_hash, int64_t born, uint32_t seq, int kind,
                    int original, int64_t at) {
    if (!l || !l->n || !seq) return 0;
    size_t i = find(l, fingerprint);
    if (!l->used[i]) return 0;
    const pw_ledger_entry *e = &l->slot[i];
    if (e->rule_hash != rule_hash) { del_at(l, i); return 0; }
    if (!original && at > e->at) { del_at(l, i); return 0; } /* later than anything delivered: new */
    if (original) { /* births of one run: ordered */
        if (born < e->born) return 1;
        if (born > e->born) { del_at(l, i); return 0; }
    } else if (e->has_snap && e->born == e->snap_born) { /* E is in the snapshot's life */
        if (born != e->snap_born) { del_at(l, i); return 0; }
    } else if (e->has_snap && born == e->snap_born) { /* E is in a later life: this one was delivered */
        return 1;
    }
    if (seq < e->seq) return 1;
    int same = seq == e->seq && kind == e->kind;
    del_at(l, i);
    return same;
}

void pw_ledger_format(const pw_ledger_entry *e, char field[17], char value[PW_LEDGER_VALUE_MAX]) {
    snprintf(field, 17, "%016llx", (unsigned long long)e->fingerprint);
    snprintf(value, PW_LEDGER_VALUE_MAX, "%u %u %016llx %lld %lld %lld", e->seq, (unsigned)e->kind,
             (unsigned long long)e->rule_hash, (long long)e->born, (long long)e->written_ms, (long long)e->at);
}

static int hex64(const char *s, size_t n, uint64_t *out) {
    if (n != 16) return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0) return -1;
        v = v << 4 | (uint64_t)d;
    }
    *out = v;
    return 0;
}

int pw_ledger_parse(const char *field, size_t flen, const char *value, size_t vlen, pw_ledger_entry *out) {
    memset(out, 0, sizeof *out);
    if (hex64(field, flen, &out->fingerprint) < 0 || vlen >= PW_LEDGER_VALUE_MAX) return -1;
    char v[PW_LEDGER_VALUE_MAX];
    memcpy(v, value, vlen);
    v[vlen] = 0;
    unsigned long long seq = 0;
    unsigned kind = 0;
    char hash[20];
    long long written = 0, born = 0, at = INT64_MIN;
    int used = 0, used6 = 0;
    if (sscanf(v, "%llu %u %17s %lld %lld%n %lld%n", &seq, &kind, hash, &born, &written, &used, &at, &used6) < 5)
        return -1;
    if ((size_t)used != vlen && (size_t)used6 != vlen) return -1; /* 5 fields (older pipewatch) or 6 */
    if ((size_t)used == vlen) at = INT64_MIN;
    if (seq == 0 || seq > UINT32_MAX || kind > 2 || written < 0 || hex64(hash, strlen(hash), &out->rule_hash) < 0)
        return -1;
    out->written_ms = written;
    out->born = born;
    out->at = at;
    out->seq = (uint32_t)seq;
    out->kind = (uint8_t)kind;
    return 0;
}
