/* expr.h -- the filter/value expression language of `where:` and `value:`.
 *
 * Grammar (lowest to highest precedence):
 *   or  :=  and ('or' and)*
 *   and :=  not ('and' not)*
 *   not :=  'not' not | cmp
 *   cmp :=  add (('=='|'!='|'<'|'<='|'>'|'>=') add | 'in' list)?
 *   add :=  mul (('+'|'-') mul)*
 *   mul :=  unary (('*'|'/') unary)*
 *   unary := '-' unary | primary
 *   primary := NUMBER | STRING ('…' or "…", with \\ \' \" \n \t escapes)
 *            | 'true' | 'false' | 'null' | PATH | 'present' '(' PATH ')' | '(' or ')'
 *   list := '[' (literal (',' literal)*)? ']'
 *   PATH := IDENT ('.' IDENT)*,  IDENT := [A-Za-z_][A-Za-z0-9_]*
 *
 * Semantics (README "Filter expressions"):
 *   - a missing field is null; `==`/`!=` compare null like any value
 *     (missing != "x" is true, missing == null is true);
 *   - `==` between a number and a numeric string compares numbers; otherwise
 *     values of different types are unequal;
 *   - ordering comparisons need two numbers (numeric strings count) or two
 *     strings (byte order); anything else (null, mixed) is false;
 *   - arithmetic needs numbers (numeric strings count); division by zero, a
 *     null or a non-number operand makes the whole expression unevaluable;
 *   - and/or/not need booleans; anything else is unevaluable;
 *   - `x in [..]` is `x == a or x == b ...`;
 *   - present(p) is 1 if the field exists and is not null, "" , [] or {}, else 0.
 * "Unevaluable" means the event does not count for that metric.
 *
 * Compile once at load (paths are interned in the rule set's fieldset); eval
 * allocates nothing and may be called from any thread concurrently on the
 * same compiled expression (it is immutable after compile).
 */
#ifndef PW_EXPR_H
#define PW_EXPR_H

#include <stddef.h>

#include "fieldset.h"
#include "value.h"

typedef struct pw_expr pw_expr;

/* Compile src (NUL-terminated). On success returns the expression and interns
 * every referenced path in fs. On a syntax error returns NULL, sets *err_off to
 * the 0-based byte offset of the offending token in src and writes a message
 * such as "expected ')' after '(' at 'x'" into errbuf. */
pw_expr *pw_expr_compile(const char *src, pw_fieldset *fs, size_t *err_off, char *errbuf, size_t errlen);
void pw_expr_destroy(pw_expr *e); /* accepts NULL */

/* Evaluate against an event's slot values (fields[slot]). Returns 0 and *out,
 * or -1 when the expression cannot be evaluated for these values. Strings in
 * *out are borrowed from fields or from e. */
int pw_expr_eval(const pw_expr *e, const pw_value *fields, pw_value *out);

/* Convenience: 1 if the expression evaluates to boolean true, 0 if false,
 * -1 if unevaluable or not a boolean. */
int pw_expr_test(const pw_expr *e, const pw_value *fields);
/* Convenience: 0 and *out if the expression evaluates to a number (numeric
 * strings count, booleans do not), else -1. */
int pw_expr_number(const pw_expr *e, const pw_value *fields, double *out);

const char *pw_expr_source(const pw_expr *e); /* the source text, borrowed */

#endif
