/* value.h -- the one value type shared by events, expressions and labels.
 *
 * A pw_value is a small, copyable view. Strings are NOT owned: they point into
 * the event buffer, the decoder's scratch space or a compiled expression, and
 * are valid only as long as that owner (documented at each producer). Strings
 * are not NUL-terminated; always use `len`.
 *
 * Number semantics shared by the whole engine:
 *   - JSON numbers are PW_V_NUM; `str`/`len` keep their original JSON text so a
 *     label shows "1234.5" exactly as the producer wrote it.
 *   - A JSON string whose whole text is a finite number ("1234.5", " 7" is not)
 *     is PW_V_STR with has_num = 1: it counts as a number wherever a number is
 *     needed (aggregated fields, arithmetic, comparison with a number).
 *   - Booleans are PW_V_BOOL, num = 0/1, str = "true"/"false".
 *   - Objects and arrays are PW_V_RAW: str/len = their JSON text, num = number
 *     of members (so present() can tell "{}" and "[]" from a non-empty one).
 *   - A missing field and JSON null are both PW_V_NULL (label text "").
 */
#ifndef PW_VALUE_H
#define PW_VALUE_H

#include <stddef.h>
#include <stdint.h>

typedef enum pw_vtype {
    PW_V_NULL = 0, /* missing or JSON null */
    PW_V_BOOL,
    PW_V_NUM,
    PW_V_STR,
    PW_V_RAW       /* object or array, kept as JSON text */
} pw_vtype;

typedef struct pw_value {
    pw_vtype type;
    int has_num;        /* 1 if `num` is meaningful as a number (NUM, BOOL, numeric STR) */
    double num;         /* NUM/BOOL/numeric STR: the number; RAW: member count */
    const char *str;    /* STR: unescaped UTF-8; NUM/BOOL/RAW: JSON text; borrowed */
    uint32_t len;       /* bytes at str */
} pw_value;

/* Parse s[0..len) as a complete finite number (JSON grammar, plus a leading '+'
 * is NOT accepted). Returns 1 and stores it in *out on success, else 0. */
int pw_value_parse_num(const char *s, size_t len, double *out);

/* 1 if the value "exists and is not null/empty" (the present() function). */
int pw_value_present(const pw_value *v);

/* The label text of a value: STR its string, NUM/BOOL/RAW its JSON text,
 * NULL "". Sets *s and *len to borrowed memory (valid as long as v's owner).
 * Inline: the engine calls it for every label of every event. */
static inline void pw_value_label(const pw_value *v, const char **s, uint32_t *len) {
    /* A NUM without text (computed by an expression) has no borrowed label;
     * callers that format computed numbers do so themselves. */
    if (v->type == PW_V_NULL || !v->str) {
        *s = "";
        *len = 0;
        return;
    }
    *s = v->str;
    *len = v->len;
}

/* Numeric view: 1 and *out if has_num (NUM, BOOL, numeric STR), else 0. */
static inline int pw_value_number(const pw_value *v, double *out) {
    if (!v->has_num) return 0;
    *out = v->num;
    return 1;
}

#endif
