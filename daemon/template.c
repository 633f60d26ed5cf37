/* template.c -- annotation and sink-body templates: check at load, expand per notification.
 *
 * Design: one scanner (next_placeholder) finds each `{{ ... }}` and classifies
 * its contents; pw_template_check and pw_template_expand both use it, so the
 * two can never disagree about what a placeholder is. Checking happens once
 * when the rule set is loaded and rejects every template that could fail, so
 * expansion has no error path: it appends literal text and placeholder values
 * to the caller's buffer and allocates nothing else.
 *
 * Syntax: `{{`, optional spaces/tabs, a name, optional spaces/tabs, `}}`.
 * Names: value threshold rule metric severity state, or labels.NAME where NAME
 * is any label the notification carries (series labels, which are the metric's
 * `by` paths and may contain '.', then the rule's labels).
 *
 * Body templates (webhook payloads, pw_template_expand_json) know four more
 * placeholders -- annotations.NAME, at, fingerprint, json -- and escape every
 * expansion for use inside a JSON string, except {{ json }}, which inserts the
 * notification object. Their label and annotation names depend on the rule,
 * so they cannot be checked at load: an unknown name expands to "".
 *
 * Limits: there is no escape for a literal "{{" (an unmatched "{{" is an
 * error, a lone "}}" is literal text); no filters or conditionals. Numbers are
 * printed in their shortest round-trip form ("0.05", "1250", "1e+21"), an
 * undefined value (NaN) as "undefined", infinities as "+Inf"/"-Inf".
 */
#include "template.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"

typedef enum ph_kind {
    PH_VALUE = 0,
    PH_THRESHOLD,
    PH_RULE,
    PH_METRIC,
    PH_SEVERITY,
    PH_STATE,
    PH_AT, /* body templates only, from here on */
    PH_FINGERPRINT,
    PH_JSON,
    PH_LABEL,
    PH_ANNOTATION,
    PH_UNKNOWN
} ph_kind;

/* simple names, in ph_kind order; annotation templates know the first six */
static const char *const ph_names[] = {"value", "threshold", "rule",        "metric", "severity",
                                       "state", "at",        "fingerprint", "json",   NULL};
static const char *const ph_annotation_names[] = {"value",    "threshold", "rule", "metric",
                                                  "severity", "state",     NULL};
#define PH_ANNOTATION_LIMIT PH_AT

#define PH_EXPECTED "expected value, threshold, rule, metric, severity, state or labels.NAME"
#define PH_EXPECTED_BODY                                                                                     \
    "expected value, threshold, rule, metric, severity, state, at, fingerprint, json, labels.NAME or "       \
    "annotations.NAME"

typedef struct placeholder {
    size_t start;     /* offset of "{{" */
    size_t end;       /* offset just past "}}"; 0 if unterminated */
    const char *name; /* trimmed contents, not NUL-terminated */
    size_t nlen;
    ph_kind kind;
    const char *label; /* PH_LABEL, PH_ANNOTATION: the NAME part */
    size_t llen;
} placeholder;

/* Find the next "{{" at or after *pos. Returns 0 if there is none, else 1 and
 * fills ph (ph->end == 0 when there is no closing "}}"). */
static int next_placeholder(const char *src, size_t *pos, placeholder *ph) {
    const char *open = strstr(src + *pos, "{{");
    if (!open) return 0;
    memset(ph, 0, sizeof *ph);
    ph->start = (size_t)(open - src);
    const char *close = strstr(open + 2, "}}");
    if (!close) {
        ph->kind = PH_UNKNOWN;
        *pos = strlen(src);
        return 1;
    }
    ph->end = (size_t)(close - src) + 2;
    const char *a = open + 2, *b = close;
    while (a < b && (*a == ' ' || *a == '\t')) a++;
    while (b > a && (b[-1] == ' ' || b[-1] == '\t')) b--;
    ph->name = a;
    ph->nlen = (size_t)(b - a);
    ph->kind = PH_UNKNOWN;
    for (int i = 0; ph_names[i]; i++)
        if (strlen(ph_names[i]) == ph->nlen && memcmp(ph_names[i], a, ph->nlen) == 0) ph->kind = (ph_kind)i;
    if (ph->kind == PH_UNKNOWN && ph->nlen > 7 && memcmp(a, "labels.", 7) == 0) {
        ph->kind = PH_LABEL;
        ph->label = a + 7;
        ph->llen = ph->nlen - 7;
    } else if (ph->kind == PH_UNKNOWN && ph->nlen > 12 && memcmp(a, "annotations.", 12) == 0) {
        ph->kind = PH_ANNOTATION;
        ph->label = a + 12;
        ph->llen = ph->nlen - 12;
    }
    *pos = ph->end;
    return 1;
}

static int find_label(const char *name, size_t len, const char *const *names, int n) {
    for (int i = 0; i < n; i++)
        if (names[i] && strlen(names[i]) == len && memcmp(names[i], name, len) == 0) return i;
    return -1;
}

/* Printable copy of a placeholder's contents for messages (bounded). */
static void shown(const char *s, size_t len, char *out, size_t outlen) {
    size_t j = 0;
    for (size_t i = 0; i < len && j + 4 < outlen; i++) {
        unsigned char c = (unsigned char)s[i];
        out[j++] = (c < 0x20 || c == 0x7F) ? '?' : (char)c;
    }
    if (j + 4 >= outlen && len > j) {
        memcpy(out + j, "...", 3);
        j += 3;
    }
    out[j] = 0;
}

/* Message for labels.NAME whose NAME is unknown. */
static void label_error(const placeholder *ph, const char *const *names, int n, char *errbuf, size_t errlen) {
    char word[72];
    shown(ph->label, ph->llen, word, sizeof word);
    if (n == 0) {
        snprintf(errbuf, errlen, "unknown label '%s' (this rule's notifications carry no labels)", word);
        return;
    }
    /* pw_diag_suggest wants a NULL-terminated list; suggest among the first 64
     * labels without allocating (a notification carries at most 8 series
     * labels plus the rule's few). */
    const char *cand[65];
    int nc = 0;
    for (int i = 0; i < n && nc < 64; i++)
        if (names[i]) cand[nc++] = names[i];
    cand[nc] = NULL;
    const char *hint = pw_diag_suggest(word, cand);
    if (hint) {
        snprintf(errbuf, errlen, "unknown label '%s' (did you mean 'labels.%s'?)", word, hint);
    } else {
        /* list the labels, bounded */
        char list[256];
        size_t used = 0;
        list[0] = 0;
        for (int i = 0; i < n && used + 8 < sizeof list; i++) {
            int w = snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", names[i]);
            if (w < 0 || (size_t)w >= sizeof list - used) {
                used = sizeof list;
                break;
            }
            used += (size_t)w;
        }
        snprintf(errbuf, errlen, "unknown label '%s' (labels here: %s)", word, list);
    }
}

/* The message for a placeholder that an annotation template cannot have. */
static void annotation_error(const placeholder *ph, const char *const *label_names, int n, char *errbuf,
                             size_t errlen) {
    if (ph->kind == PH_LABEL) {
        label_error(ph, label_names, n, errbuf, errlen);
        return;
    }
    char word[72];
    shown(ph->name, ph->nlen, word, sizeof word);
    if (ph->kind != PH_UNKNOWN) {
        snprintf(errbuf, errlen, "placeholder '%s' is only available in sink body templates (" PH_EXPECTED ")", word);
    } else if (ph->nlen == 0) {
        snprintf(errbuf, errlen, "empty placeholder '{{ }}' (" PH_EXPECTED ")");
    } else if (find_label(ph->name, ph->nlen, label_names, n) >= 0) {
        /* a bare label name: the most likely mistake */
        snprintf(errbuf, errlen, "unknown placeholder '%s' (did you mean 'labels.%s'?)", word, word);
    } else {
        const char *hint = pw_diag_suggest(word, ph_annotation_names);
        if (hint)
            snprintf(errbuf, errlen, "unknown placeholder '%s' (did you mean '%s'?)", word, hint);
        else
            snprintf(errbuf, errlen, "unknown placeholder '%s' (" PH_EXPECTED ")", word);
    }
}

/* The message for a placeholder that a body template cannot have (only unknown names). */
static void body_error(const placeholder *ph, char *errbuf, size_t errlen) {
    char word[72];
    shown(ph->name, ph->nlen, word, sizeof word);
    const char *hint = ph->nlen ? pw_diag_suggest(word, ph_names) : NULL;
    if (ph->nlen == 0)
        snprintf(errbuf, errlen, "empty placeholder '{{ }}' (" PH_EXPECTED_BODY ")");
    else if (hint)
        snprintf(errbuf, errlen, "unknown placeholder '%s' (did you mean '%s'?)", word, hint);
    else
        snprintf(errbuf, errlen, "unknown placeholder '%s' (" PH_EXPECTED_BODY ")", word);
}

/* One checker for both kinds of template: body = 1 for sink bodies (label_names unused). */
static int check(const char *src, int body, const char *const *label_names, int n, size_t *err_off, char *errbuf,
                 size_t errlen) {
    size_t pos = 0;
    placeholder ph;
    char dummy[8];
    if (!errbuf || !errlen) {
        errbuf = dummy;
        errlen = sizeof dummy;
    }
    errbuf[0] = 0;
    if (!src) return 0;
    while (next_placeholder(src, &pos, &ph)) {
        if (ph.end == 0) {
            if (err_off) *err_off = ph.start;
            snprintf(errbuf, errlen, "unterminated '{{' (a placeholder ends with '}}')");
            return -1;
        }
        int ok = body ? ph.kind != PH_UNKNOWN
                      : ph.kind == PH_LABEL ? find_label(ph.label, ph.llen, label_names, n) >= 0
                                            : ph.kind < PH_ANNOTATION_LIMIT;
        if (ok) continue;
        if (err_off) *err_off = ph.start;
        if (body) body_error(&ph, errbuf, errlen);
        else annotation_error(&ph, label_names, n, errbuf, errlen);
        return -1;
    }
    return 0;
}

int pw_template_check(const char *src, const char *const *label_names, int n, size_t *err_off, char *errbuf,
                      size_t errlen) {
    return check(src, 0, label_names, n, err_off, errbuf, errlen);
}

int pw_template_check_body(const char *src, size_t *err_off, char *errbuf, size_t errlen) {
    return check(src, 1, NULL, 0, err_off, errbuf, errlen);
}

/* Shortest text that reads back as exactly v. */
static void put_number(pw_buf *out, double v) {
    if (isnan(v)) {
        pw_buf_puts(out, "undefined");
        return;
    }
    if (isinf(v)) {
        pw_buf_puts(out, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    if (v == 0) {
        pw_buf_putc(out, '0');
        return;
    }
    if (v == floor(v) && fabs(v) < 1e15) {
        pw_buf_printf(out, "%.0f", v);
        return;
    } /* 1250, not 1.25e+03 */
    char tmp[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, v);
        if (strtod(tmp, NULL) == v) break;
    }
    pw_buf_puts(out, tmp);
}

/* Append s, escaped for use inside a JSON string (without the quotes). */
static void put_json_inner(pw_buf *out, const char *s, size_t n) {
    size_t at = out->len;
    pw_buf_json_str(out, s, n);
    /* drop the quotes pw_buf_json_str adds */
    memmove(out->data + at, out->data + at + 1, out->len - at - 2);
    out->len -= 2;
    out->data[out->len] = 0;
}

/* One loop for both kinds: `json` escapes every expansion (body templates)
 * and enables the body-only placeholders. */
static void expand(const char *src, const pw_template_vars *vars, pw_buf *out, int json) {
    if (!src) return;
    size_t pos = 0, lit = 0;
    placeholder ph;
    while (next_placeholder(src, &pos, &ph)) {
        if (ph.end == 0) break; /* cannot happen after checking; keep the rest literal */
        pw_buf_append(out, src + lit, ph.start - lit);
        lit = ph.end;
        const char *s = NULL;
        int i;
        if (!json && ph.kind >= PH_ANNOTATION_LIMIT && ph.kind != PH_LABEL) ph.kind = PH_UNKNOWN;
        switch (ph.kind) {
        case PH_VALUE: put_number(out, vars->value); break;
        case PH_THRESHOLD: put_number(out, vars->threshold); break;
        case PH_RULE: s = vars->rule; break;
        case PH_METRIC: s = vars->metric; break;
        case PH_SEVERITY: s = vars->severity; break;
        case PH_STATE: s = vars->state; break;
        case PH_AT: s = vars->at; break;
        case PH_FINGERPRINT: s = vars->fingerprint; break;
        case PH_JSON:
            pw_buf_puts(out, vars->json ? vars->json : "null"); /* inserted as is */
            break;
        case PH_LABEL:
            i = find_label(ph.label, ph.llen, vars->label_names, vars->nlabels);
            if (i >= 0 && vars->label_values) s = vars->label_values[i];
            break;
        case PH_ANNOTATION:
            i = find_label(ph.label, ph.llen, vars->annotation_names, vars->nannotations);
            if (i >= 0 && vars->annotation_values) s = vars->annotation_values[i];
            break;
        case PH_UNKNOWN:
            /* unchecked template: keep the placeholder as written */
            pw_buf_append(out, src + ph.start, ph.end - ph.start);
            break;
        }
        if (s && json)
            put_json_inner(out, s, strlen(s));
        else if (s)
            pw_buf_puts(out, s);
    }
    pw_buf_puts(out, src + lit);
}

void pw_template_expand(const char *src, const pw_template_vars *vars, pw_buf *out) {
    expand(src, vars, out, 0);
}

void pw_template_expand_json(const char *src, const pw_template_vars *vars, pw_buf *out) {
    expand(src, vars, out, 1);
}
