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
} pw_template_vars;

/* Append the expansion of src to out. src must have passed pw_template_check. */
void pw_template_expand(const char *src, const pw_template_vars *vars, pw_buf *out);

#endif
