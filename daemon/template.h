/* template.h -- annotation templates: "Conversion from {{ labels.origin }} is {{ value }}".
 *
 * Placeholders (whitespace inside the braces is optional):
 *   {{ value }}  {{ threshold }}  {{ rule }}  {{ metric }}  {{ severity }}
 *   {{ state }}  {{ labels.NAME }}  (NAME: a series label or a rule label)
 * Numbers are printed like JSON numbers (shortest exact form), an undefined
 * value as "undefined". Validation happens at load (pw_template_check), so
 * expansion cannot fail at run time. Pure, no allocation beyond the output.
 */
#ifndef PW_TEMPLATE_H
#define PW_TEMPLATE_H

#include <stddef.h>

#include "buf.h"

/* 0 if src is a valid template whose labels.NAME placeholders all name one of
 * label_names (n of them). Else -1 with *err_off (0-based byte offset of the
 * bad placeholder) and a message in errbuf ("unknown placeholder 'valeu'
 * (expected value, threshold, ...)"). */
int pw_template_check(const char *src, const char *const *label_names, int n, size_t *err_off,
                      char *errbuf, size_t errlen);

typedef struct pw_template_vars {
    const char *rule, *metric, *severity, *state;
    double value;        /* NaN = undefined */
    double threshold;
    const char *const *label_names; /* series labels then rule labels */
    const char *const *label_values;
    int nlabels;
    /* Only for webhook bodies (pw_template_expand_json); NULL/0 elsewhere. */
    const char *const *annotation_names;  /* {{ annotations.NAME }}: expanded annotations */
    const char *const *annotation_values;
    int nannotations;
    const char *at;                       /* {{ at }}: RFC 3339 */
    const char *fingerprint;              /* {{ fingerprint }} */
    const char *json;                     /* {{ json }}: the whole notification JSON */
} pw_template_vars;

/* Append the expansion of src to out. src must have passed pw_template_check. */
void pw_template_expand(const char *src, const pw_template_vars *vars, pw_buf *out);

/* Webhook body templates (a JSON document with placeholders, e.g. a Slack
 * payload {"text": "{{ annotations.summary }}"}): like the above, plus the
 * placeholders annotations.NAME, at, fingerprint and json. Every expansion is
 * escaped for use inside a JSON string (quotes not added), except {{ json }},
 * which inserts the notification object as is. Label and annotation names
 * cannot be checked at load (they depend on the rule), so unknown names
 * expand to "". pw_template_check_body validates syntax and placeholder kinds. */
int pw_template_check_body(const char *src, size_t *err_off, char *errbuf, size_t errlen);
void pw_template_expand_json(const char *src, const pw_template_vars *vars, pw_buf *out);

#endif
