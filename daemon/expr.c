/* expr.c -- the filter/value expression language: compile once, evaluate per event.
 *
 * Design
 *   - A hand-written lexer and a recursive-descent parser (one function per
 *     grammar level of expr.h) build a flat array of nodes. Chains of the same
 *     operator level (`a or b or c`, `a + b - c`) become ONE n-ary node whose
 *     operands are linked through `next`, so a long chain is evaluated by a
 *     loop, not by recursion: the evaluator only recurses where the source
 *     nests (parentheses, `not`, unary minus, comparison operands).
 *   - The result is one allocation: the pw_expr header, the node array, a copy
 *     of the source text and the unescaped string literals. Literals are
 *     complete pw_values pointing into that block, so evaluation copies them
 *     out as they are and never allocates.
 *     Cost: 56 bytes per node (about one node per token) plus the source
 *     twice at most; compiling uses a scratch node array and string pool that
 *     are freed before returning.
 *   - Paths are interned into the fieldset only after the whole expression has
 *     parsed, so a rejected expression leaves the fieldset untouched.
 *   - Compile-time checks reject what can never work: `in` with non-literal
 *     items, and operands whose type is known and wrong (`"a" * 2`,
 *     `null + 1`, `present(x) and y`, `not 5`): those would be unevaluable for
 *     every event, so a typo would silently disable a metric.
 *
 * Evaluation rules beyond expr.h (decided here, tested in test_expr.c):
 *   - `and`/`or` evaluate left to right and short-circuit: `false and X` is
 *     false and `true or X` is true even when X is unevaluable or not boolean.
 *   - "number" means PW_V_NUM or a numeric PW_V_STR (has_num); booleans are not
 *     numbers here, even though their pw_value has has_num = 1.
 *   - Ordering: if both sides are numbers (numeric strings included) they
 *     compare as numbers, so two numeric strings "10" > "9" compare
 *     numerically; equality of two strings is always byte equality ("1.0" !=
 *     "1"), because equal-looking ids such as "007" and "7" must stay distinct.
 *   - Equality of two objects/arrays (PW_V_RAW) compares their JSON text.
 *   - Arithmetic whose result is not finite (overflow) is unevaluable, like
 *     division by zero: a NaN or infinity must never reach a window.
 *   - Results: comparisons, `in`, `and`, `or`, `not` give PW_V_BOOL (str
 *     "true"/"false", num 1/0, has_num 1); arithmetic gives PW_V_NUM with str
 *     NULL (callers use num); present() gives PW_V_NUM 1/0 with str "1"/"0";
 *     literals keep their source text ("1234.5"); `-` applied directly to a
 *     number literal is folded into the literal.
 *
 * Limits
 *   - Source text at most PW_EXPR_MAX_LEN bytes, nesting (parentheses, `not`,
 *     unary `-`) at most PW_EXPR_MAX_DEPTH levels: compile recursion and eval
 *     recursion are both bounded by a small multiple of that, whatever a rule
 *     file contains.
 *   - Field names must be identifiers ([A-Za-z_][A-Za-z0-9_]*); a top-level
 *     field named like a keyword (`in`, `not`, ...) cannot be addressed, though
 *     a nested one can (`x.in`). Array elements cannot be addressed.
 *   - Numbers follow the JSON grammar (no `.5`, `5.`, `01`, hex or `+1`).
 *   - Strings are compared byte-wise: no Unicode normalisation or case folding.
 */
#include "expr.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PW_EXPR_MAX_LEN 4096
#define PW_EXPR_MAX_DEPTH 64

enum { N_LIT, N_PATH, N_PRESENT, N_NEG, N_NOT, N_AND, N_OR, N_ARITH, N_CMP, N_IN };
enum { OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE, OP_ADD, OP_SUB, OP_MUL, OP_DIV };
/* Static (compile-time) types, for rejecting operands that can never work. */
enum { ST_ANY, ST_BOOL, ST_NUM, ST_STR, ST_NUMSTR, ST_NULL };

typedef struct node {
    uint8_t kind;   /* N_* */
    uint8_t op;     /* N_CMP: OP_EQ..OP_GE */
    uint8_t aop;    /* operand of an N_ARITH chain: OP_ADD..OP_DIV, the operator before it */
    uint8_t st;     /* ST_*: what compile time knows about the result */
    uint8_t text;   /* literal: 1 if v.str must point at toff in the text area */
    uint32_t off;   /* source offset of the node's first token (error messages) */
    uint32_t toff;  /* literal: offset into the text area; path while parsing: source offset */
    int32_t kid;    /* first operand, -1 if none */
    int32_t next;   /* next operand of the parent, -1 if last */
    int32_t slot;   /* N_PATH, N_PRESENT: fieldset slot */
    pw_value v;     /* N_LIT: the value; N_PATH/N_PRESENT while parsing: v.len = path length */
} node;

struct pw_expr {
    int nnodes;
    int root;
    const char *src; /* NUL-terminated copy, inside this block */
    node nodes[];    /* then the text area: source copy, NUL, unescaped string literals */
};

/* ---- lexer ------------------------------------------------------------- */

enum {
    T_END, T_NUM, T_STR, T_PATH, T_LPAREN, T_RPAREN, T_LBRACK, T_RBRACK, T_COMMA,
    T_PLUS, T_MINUS, T_STAR, T_SLASH, T_EQ, T_NE, T_LT, T_LE, T_GT, T_GE,
    T_AND, T_OR, T_NOT, T_IN, T_TRUE, T_FALSE, T_NULL, T_PRESENT
};

static const struct { const char *word; int tok; } keywords[] = {
    {"and", T_AND}, {"or", T_OR}, {"not", T_NOT}, {"in", T_IN}, {"true", T_TRUE},
    {"false", T_FALSE}, {"null", T_NULL}, {"present", T_PRESENT},
};

typedef struct tok {
    int kind;
    size_t off, len;   /* the lexeme in the source */
    int dotted;        /* T_PATH: contains '.' */
    double num;        /* T_NUM */
    size_t soff, slen; /* T_STR: unescaped bytes in the string pool */
} tok;

typedef struct parser {
    const char *src;
    size_t len, pos;
    tok cur;
    node *nodes;
    int nn, cap;
    char *pool;        /* unescaped strings; capacity len + 1 (never larger than the source) */
    size_t pl;
    int depth;
    int failed;
    size_t err_off;
    char *errbuf;
    size_t errlen;
} parser;

static void fail(parser *p, size_t off, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail(parser *p, size_t off, const char *fmt, ...) {
    if (p->failed) return; /* the first problem is the one to report */
    p->failed = 1;
    p->err_off = off;
    if (p->errbuf && p->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->errbuf, p->errlen, fmt, ap);
        va_end(ap);
    }
}

static int is_ident0(int c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; }
static int is_ident(int c) { return is_ident0(c) || (c >= '0' && c <= '9'); }
static int is_digit(int c) { return c >= '0' && c <= '9'; }
static int is_space(int c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* A short printable rendering of s[0..n) for messages: '\xNN' for bytes that
 * are not printable ASCII, cut at 32 bytes. */
static const char *show(char *out, size_t outlen, const char *s, size_t n) {
    size_t o = 0;
    for (size_t i = 0; i < n && o + 8 < outlen; i++) {
        unsigned char c = (unsigned char)s[i];
        if (i == 32) {
            o += (size_t)snprintf(out + o, outlen - o, "...");
            break;
        }
        if (c >= 0x20 && c < 0x7f) out[o++] = (char)c;
        else o += (size_t)snprintf(out + o, outlen - o, "\\x%02x", c);
    }
    out[o] = 0;
    return out;
}

/* What a token is, for "expected X but found Y" messages. */
static const char *describe(const parser *p, const tok *t, char *out, size_t outlen) {
    char tmp[160];
    if (t->kind == T_END) return "end of expression";
    if (t->kind == T_STR) snprintf(out, outlen, "string %s", show(tmp, sizeof tmp, p->src + t->off, t->len));
    else snprintf(out, outlen, "'%s'", show(tmp, sizeof tmp, p->src + t->off, t->len));
    return out;
}

static void lex_string(parser *p, tok *t) {
    const char *s = p->src;
    char q = s[p->pos];
    size_t i = p->pos + 1;
    t->soff = p->pl;
    for (;;) {
        if (i >= p->len) {
            fail(p, t->off, "unterminated string");
            return;
        }
        char c = s[i];
        if (c == q) break;
        if (c == '\\') {
            char e = i + 1 < p->len ? s[i + 1] : 0;
            switch (e) {
            case '\\': case '\'': case '"': c = e; break;
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            case 0:
                fail(p, t->off, "unterminated string");
                return;
            default: {
                char tmp[16];
                fail(p, i, "unknown escape '\\%s' in string (use \\\\, \\', \\\", \\n or \\t)",
                     show(tmp, sizeof tmp, s + i + 1, 1));
                return;
            }
            }
            i++;
        }
        p->pool[p->pl++] = c;
        i++;
    }
    t->kind = T_STR;
    t->slen = p->pl - t->soff;
    p->pos = i + 1;
}

/* NUMBER: the JSON number grammar without the sign (minus is an operator).
 * The lexeme runs over every character that could continue a number or a
 * name, so "12abc" is reported whole rather than as "12" then "abc". */
static void lex_number(parser *p, tok *t) {
    const char *s = p->src;
    size_t i = p->pos;
    while (i < p->len && (is_ident(s[i]) || s[i] == '.' ||
                          ((s[i] == '+' || s[i] == '-') && (s[i - 1] == 'e' || s[i - 1] == 'E'))))
        i++;
    t->len = i - p->pos;
    p->pos = i;
    char tmp[80], tmp2[80];
    const char *lx = s + t->off;
    size_t j = 0, n = t->len;
    int ok = is_digit(lx[0]);
    if (lx[0] == '0') j = 1;
    else while (j < n && is_digit(lx[j])) j++;
    if (j < n && lx[j] == '.') {
        j++;
        if (j >= n || !is_digit(lx[j])) ok = 0;
        while (j < n && is_digit(lx[j])) j++;
    }
    if (ok && j < n && (lx[j] == 'e' || lx[j] == 'E')) {
        j++;
        if (j < n && (lx[j] == '+' || lx[j] == '-')) j++;
        if (j >= n || !is_digit(lx[j])) ok = 0;
        while (j < n && is_digit(lx[j])) j++;
    }
    if (!ok || j != n) {
        if (lx[0] == '.') fail(p, t->off, "invalid number '%s' (write 0%s)", show(tmp, sizeof tmp, lx, n),
                               show(tmp2, sizeof tmp2, lx, n));
        else fail(p, t->off, "invalid number '%s'", show(tmp, sizeof tmp, lx, n));
        return;
    }
    if (!pw_value_parse_num(lx, n, &t->num)) {
        fail(p, t->off, "number '%s' is out of range", show(tmp, sizeof tmp, lx, n));
        return;
    }
    t->kind = T_NUM;
}

static void lex_path(parser *p, tok *t) {
    const char *s = p->src;
    size_t i = p->pos;
    t->dotted = 0;
    for (;;) {
        while (i < p->len && is_ident(s[i])) i++;
        if (i >= p->len || s[i] != '.') break;
        if (i + 1 >= p->len || !is_ident0(s[i + 1])) {
            char tmp[160];
            tok nt = {.kind = i + 1 >= p->len ? T_END : T_PATH, .off = i + 1, .len = 1};
            fail(p, i + 1, "expected a field name after '.' but found %s", describe(p, &nt, tmp, sizeof tmp));
            return;
        }
        t->dotted = 1;
        i++;
    }
    t->len = i - p->pos;
    p->pos = i;
    t->kind = T_PATH;
    if (t->dotted) return;
    for (size_t k = 0; k < sizeof keywords / sizeof keywords[0]; k++)
        if (strlen(keywords[k].word) == t->len && memcmp(keywords[k].word, s + t->off, t->len) == 0)
            t->kind = keywords[k].tok;
}

/* Lex the next token into p->cur. On a lexical error p->failed is set. */
static void advance(parser *p) {
    const char *s = p->src;
    tok *t = &p->cur;
    while (p->pos < p->len && is_space(s[p->pos])) p->pos++;
    memset(t, 0, sizeof *t);
    t->off = p->pos;
    t->len = 1;
    if (p->failed) { t->kind = T_END; return; }
    if (p->pos >= p->len) { t->kind = T_END; t->len = 0; return; }
    char c = s[p->pos], c1 = p->pos + 1 < p->len ? s[p->pos + 1] : 0;
    if (c == '"' || c == '\'') { lex_string(p, t); t->len = p->pos - t->off; return; }
    if (is_digit(c) || (c == '.' && is_digit(c1))) { lex_number(p, t); return; }
    if (is_ident0(c)) { lex_path(p, t); return; }
    int two = 0;
    switch (c) {
    case '(': t->kind = T_LPAREN; break;
    case ')': t->kind = T_RPAREN; break;
    case '[': t->kind = T_LBRACK; break;
    case ']': t->kind = T_RBRACK; break;
    case ',': t->kind = T_COMMA; break;
    case '+': t->kind = T_PLUS; break;
    case '-': t->kind = T_MINUS; break;
    case '*': t->kind = T_STAR; break;
    case '/': t->kind = T_SLASH; break;
    case '<': t->kind = c1 == '=' ? (two = 1, T_LE) : T_LT; break;
    case '>': t->kind = c1 == '=' ? (two = 1, T_GE) : T_GT; break;
    case '=':
        if (c1 != '=') { fail(p, p->pos, "unexpected '=' (did you mean '=='?)"); t->kind = T_END; return; }
        t->kind = T_EQ; two = 1;
        break;
    case '!':
        if (c1 != '=') { fail(p, p->pos, "unexpected '!' (use 'not' or '!=')"); t->kind = T_END; return; }
        t->kind = T_NE; two = 1;
        break;
    case '&': fail(p, p->pos, "unexpected '%s' (use 'and')", c1 == '&' ? "&&" : "&"); t->kind = T_END; return;
    case '|': fail(p, p->pos, "unexpected '%s' (use 'or')", c1 == '|' ? "||" : "|"); t->kind = T_END; return;
    default: {
        char tmp[16];
        fail(p, p->pos, "unexpected character '%s'", show(tmp, sizeof tmp, s + p->pos, 1));
        t->kind = T_END;
        return;
    }
    }
    t->len = 1 + (size_t)two;
    p->pos += t->len;
}

/* ---- parser ------------------------------------------------------------ */

static int new_node(parser *p, int kind, size_t off) {
    if (p->nn == p->cap) {
        int cap = p->cap ? p->cap * 2 : 16;
        node *n = realloc(p->nodes, (size_t)cap * sizeof *n);
        if (!n) {
            fail(p, 0, "out of memory");
            return -1;
        }
        p->nodes = n;
        p->cap = cap;
    }
    node *n = &p->nodes[p->nn];
    memset(n, 0, sizeof *n);
    n->kind = (uint8_t)kind;
    n->off = (uint32_t)off;
    n->kid = n->next = n->slot = -1;
    n->st = ST_ANY;
    return p->nn++;
}

static const char *st_name(int st) {
    switch (st) {
    case ST_BOOL: return "a condition (true/false)";
    case ST_NUM: return "a number";
    case ST_STR: return "a string";
    case ST_NUMSTR: return "a string";
    case ST_NULL: return "null";
    default: return "a value";
    }
}

/* and/or/not operands must be able to be booleans. */
static int check_logic(parser *p, const char *op, int k) {
    const node *n = &p->nodes[k];
    if (n->st == ST_ANY || n->st == ST_BOOL) return 0;
    if (n->kind == N_PRESENT)
        fail(p, n->off, "'%s' needs a condition but present() gives a number (write present(x) == 1)", op);
    else fail(p, n->off, "'%s' needs a condition (true/false) but found %s", op, st_name(n->st));
    return -1;
}

/* Arithmetic operands must be able to be numbers. */
static int check_arith(parser *p, const char *op, int k) {
    const node *n = &p->nodes[k];
    if (n->st == ST_ANY || n->st == ST_NUM || n->st == ST_NUMSTR) return 0;
    fail(p, n->off, "'%s' needs numbers but found %s", op, st_name(n->st));
    return -1;
}

static int enter(parser *p) {
    if (++p->depth <= PW_EXPR_MAX_DEPTH) return 0;
    fail(p, p->cur.off, "expression is nested too deeply (more than %d levels)", PW_EXPR_MAX_DEPTH);
    return -1;
}

static void expected(parser *p, const char *what) {
    char tmp[200];
    fail(p, p->cur.off, "expected %s but found %s", what, describe(p, &p->cur, tmp, sizeof tmp));
}

static int parse_or(parser *p);

/* A literal token as a node (also used for `in` list items). */
static int literal(parser *p, int neg_off) {
    tok *t = &p->cur;
    size_t off = neg_off >= 0 ? (size_t)neg_off : t->off;
    int k = new_node(p, N_LIT, off);
    if (k < 0) return -1;
    node *n = &p->nodes[k];
    switch (t->kind) {
    case T_NUM:
        n->v.type = PW_V_NUM;
        n->v.has_num = 1;
        n->v.num = neg_off >= 0 ? -t->num : t->num;
        n->st = ST_NUM;
        /* "-5" keeps its text; "- 5" has none that would read well as a label */
        if (neg_off < 0 || (size_t)neg_off + 1 == t->off) {
            n->text = 1;
            n->toff = (uint32_t)off;
            n->v.len = (uint32_t)(t->off + t->len - off);
        }
        break;
    case T_STR:
        n->v.type = PW_V_STR;
        n->v.has_num = pw_value_parse_num(p->pool + t->soff, t->slen, &n->v.num);
        if (!n->v.has_num) n->v.num = 0;
        n->st = n->v.has_num ? ST_NUMSTR : ST_STR;
        n->text = 1;
        n->toff = (uint32_t)(p->len + 1 + t->soff);
        n->v.len = (uint32_t)t->slen;
        break;
    case T_TRUE:
    case T_FALSE:
        n->v.type = PW_V_BOOL;
        n->v.has_num = 1;
        n->v.num = t->kind == T_TRUE;
        n->v.str = t->kind == T_TRUE ? "true" : "false";
        n->v.len = t->kind == T_TRUE ? 4 : 5;
        n->st = ST_BOOL;
        break;
    default: /* T_NULL */
        n->v.type = PW_V_NULL;
        n->st = ST_NULL;
        break;
    }
    advance(p);
    return k;
}

static int is_literal(int kind) {
    return kind == T_NUM || kind == T_STR || kind == T_TRUE || kind == T_FALSE || kind == T_NULL;
}

/* Edit distance of two short words (function names), for did-you-mean. */
static int lev(const char *a, size_t la, const char *b) {
    size_t lb = strlen(b);
    int row[32];
    if (la >= 31 || lb >= 31) return 99;
    for (size_t j = 0; j <= lb; j++) row[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        int diag = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int up = row[j];
            int best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

static int parse_present(parser *p) {
    size_t off = p->cur.off;
    advance(p);
    if (p->cur.kind != T_LPAREN) {
        expected(p, "'(' after 'present'");
        return -1;
    }
    advance(p);
    if (p->cur.kind != T_PATH) {
        fail(p, p->cur.off, "present() takes a field path");
        return -1;
    }
    int k = new_node(p, N_PRESENT, off);
    if (k < 0) return -1;
    p->nodes[k].toff = (uint32_t)p->cur.off;
    p->nodes[k].v.len = (uint32_t)p->cur.len;
    p->nodes[k].st = ST_NUM;
    advance(p);
    if (p->cur.kind != T_RPAREN) {
        expected(p, "')'");
        return -1;
    }
    advance(p);
    return k;
}

static int parse_primary(parser *p) {
    tok *t = &p->cur;
    if (p->failed) return -1;
    if (is_literal(t->kind)) return literal(p, -1);
    if (t->kind == T_PRESENT) return parse_present(p);
    if (t->kind == T_PATH) {
        /* a name followed by '(' is a call: there is only one function */
        size_t i = p->pos;
        while (i < p->len && is_space(p->src[i])) i++;
        char tmp[160];
        if (i < p->len && p->src[i] == '(') {
            show(tmp, sizeof tmp, p->src + t->off, t->len);
            if (lev(p->src + t->off, t->len, "present") <= 2)
                fail(p, t->off, "unknown function '%s' (did you mean 'present'?)", tmp);
            else fail(p, t->off, "unknown function '%s' (the only function is present(path))", tmp);
            return -1;
        }
        int k = new_node(p, N_PATH, t->off);
        if (k < 0) return -1;
        p->nodes[k].toff = (uint32_t)t->off;
        p->nodes[k].v.len = (uint32_t)t->len;
        advance(p);
        return k;
    }
    if (t->kind == T_LPAREN) {
        if (enter(p) < 0) return -1;
        size_t off = t->off;
        advance(p);
        int k = parse_or(p);
        if (k < 0) return -1;
        if (p->cur.kind != T_RPAREN) {
            expected(p, "')'");
            return -1;
        }
        p->nodes[k].off = (uint32_t)off; /* errors about "(a or b)" point at its '(' */
        advance(p);
        p->depth--;
        return k;
    }
    expected(p, "a value");
    return -1;
}

static int parse_unary(parser *p) {
    if (p->cur.kind != T_MINUS) return parse_primary(p);
    if (enter(p) < 0) return -1;
    size_t off = p->cur.off;
    advance(p);
    int k;
    if (p->cur.kind == T_NUM) {
        k = literal(p, (int)off);
    } else {
        int a = parse_unary(p);
        if (a < 0 || check_arith(p, "-", a) < 0) return -1;
        k = new_node(p, N_NEG, off);
        if (k < 0) return -1;
        p->nodes[k].kid = a;
        p->nodes[k].st = ST_NUM;
    }
    p->depth--;
    return k;
}


/* A left-associative chain of one precedence level (`a or b or c`, `a + b - c`)
 * as ONE n-ary node whose operands are linked by `next`: evaluating a long
 * chain loops instead of recursing. A single operand is returned as is. */
enum { L_OR, L_AND, L_ADD, L_MUL };

static int chain_op(int level, int tk) {
    switch (level) {
    case L_OR: return tk == T_OR ? 0 : -1;
    case L_AND: return tk == T_AND ? 0 : -1;
    case L_ADD: return tk == T_PLUS ? OP_ADD : tk == T_MINUS ? OP_SUB : -1;
    default: return tk == T_STAR ? OP_MUL : tk == T_SLASH ? OP_DIV : -1;
    }
}

static const char *op_name(int tk) {
    switch (tk) {
    case T_OR: return "or";
    case T_AND: return "and";
    case T_PLUS: return "+";
    case T_MINUS: return "-";
    case T_STAR: return "*";
    default: return "/";
    }
}

static int parse_not(parser *p);
static int parse_add(parser *p);

static int parse_chain(parser *p, int level, int (*sub)(parser *)) {
    int first = sub(p);
    if (first < 0 || chain_op(level, p->cur.kind) < 0) return first;
    int logic = level == L_OR || level == L_AND;
    int (*check)(parser *, const char *, int) = logic ? check_logic : check_arith;
    if (check(p, op_name(p->cur.kind), first) < 0) return -1;
    int k = new_node(p, logic ? (level == L_OR ? N_OR : N_AND) : N_ARITH, p->nodes[first].off);
    if (k < 0) return -1;
    p->nodes[k].kid = first;
    p->nodes[k].st = logic ? ST_BOOL : ST_NUM;
    int last = first, op;
    while ((op = chain_op(level, p->cur.kind)) >= 0) {
        const char *name = op_name(p->cur.kind);
        advance(p);
        int r = sub(p);
        if (r < 0 || check(p, name, r) < 0) return -1;
        p->nodes[r].aop = (uint8_t)op;
        p->nodes[last].next = r;
        last = r;
    }
    return k;
}

static int parse_mul(parser *p) { return parse_chain(p, L_MUL, parse_unary); }
static int parse_add(parser *p) { return parse_chain(p, L_ADD, parse_mul); }
static int parse_and(parser *p) { return parse_chain(p, L_AND, parse_not); }
static int parse_or(parser *p) { return parse_chain(p, L_OR, parse_and); }

static int cmp_op(int tk) {
    switch (tk) {
    case T_EQ: return OP_EQ;
    case T_NE: return OP_NE;
    case T_LT: return OP_LT;
    case T_LE: return OP_LE;
    case T_GT: return OP_GT;
    case T_GE: return OP_GE;
    default: return -1;
    }
}

/* list := '[' (literal (',' literal)*)? ']'; the items become operands of the
 * N_IN node after its first operand (the tested value). */
static int parse_in_list(parser *p, int k, int last) {
    char tmp[200];
    if (p->cur.kind != T_LBRACK) {
        fail(p, p->cur.off, "'in' needs a list like [\"a\", \"b\"]");
        return -1;
    }
    advance(p);
    if (p->cur.kind == T_RBRACK) {
        advance(p);
        return k;
    }
    for (;;) {
        int item;
        if (p->cur.kind == T_MINUS) {
            size_t off = p->cur.off;
            advance(p);
            if (p->cur.kind != T_NUM) goto not_literal;
            item = literal(p, (int)off);
        } else if (is_literal(p->cur.kind)) {
            item = literal(p, -1);
        } else {
            goto not_literal;
        }
        if (item < 0) return -1;
        p->nodes[last].next = item;
        last = item;
        if (p->cur.kind == T_RBRACK) break;
        if (p->cur.kind != T_COMMA) {
            expected(p, "',' or ']' in the 'in' list");
            return -1;
        }
        advance(p);
    }
    advance(p);
    return k;
not_literal:
    if (!p->failed)
        fail(p, p->cur.off, "'in' list items must be literals (strings, numbers, true, false or null)"
             " but found %s", describe(p, &p->cur, tmp, sizeof tmp));
    return -1;
}

static int parse_cmp(parser *p) {
    int l = parse_add(p);
    if (l < 0) return -1;
    int op = cmp_op(p->cur.kind), k;
    if (op >= 0) {
        advance(p);
        int r = parse_add(p);
        if (r < 0) return -1;
        k = new_node(p, N_CMP, p->nodes[l].off);
        if (k < 0) return -1;
        p->nodes[k].op = (uint8_t)op;
        p->nodes[k].kid = l;
        p->nodes[l].next = r;
    } else if (p->cur.kind == T_IN) {
        advance(p);
        k = new_node(p, N_IN, p->nodes[l].off);
        if (k < 0) return -1;
        p->nodes[k].kid = l;
        if (parse_in_list(p, k, l) < 0) return -1;
    } else {
        return l;
    }
    p->nodes[k].st = ST_BOOL;
    if (cmp_op(p->cur.kind) >= 0 || p->cur.kind == T_IN) {
        fail(p, p->cur.off, "comparisons cannot be chained (join them with 'and')");
        return -1;
    }
    return k;
}

static int parse_not(parser *p) {
    if (p->cur.kind != T_NOT) return parse_cmp(p);
    if (enter(p) < 0) return -1;
    size_t off = p->cur.off;
    advance(p);
    int a = parse_not(p);
    if (a < 0 || check_logic(p, "not", a) < 0) return -1;
    int k = new_node(p, N_NOT, off);
    if (k < 0) return -1;
    p->nodes[k].kid = a;
    p->nodes[k].st = ST_BOOL;
    p->depth--;
    return k;
}

/* After a complete expression only the end may follow. */
static void trailing(parser *p) {
    char tmp[200];
    const tok *t = &p->cur;
    if (t->kind == T_RPAREN) {
        fail(p, t->off, "unmatched ')'");
        return;
    }
    if (t->kind == T_PATH && !t->dotted) {
        for (size_t k = 0; k < sizeof keywords / sizeof keywords[0]; k++) {
            const char *w = keywords[k].word;
            if (strlen(w) != t->len || strncasecmp(w, p->src + t->off, t->len) != 0) continue;
            fail(p, t->off, "expected an operator or end of expression but found %s (keywords are "
                 "lower case: '%s')", describe(p, t, tmp, sizeof tmp), w);
            return;
        }
    }
    expected(p, "an operator or end of expression");
}

/* Copy the parse into one exact-size block and intern the paths. */
static pw_expr *finish(parser *p, int root, pw_fieldset *fs) {
    size_t nodes_sz = (size_t)p->nn * sizeof(node);
    pw_expr *e = malloc(sizeof *e + nodes_sz + p->len + 1 + p->pl);
    if (!e) {
        fail(p, 0, "out of memory");
        return NULL;
    }
    e->nnodes = p->nn;
    e->root = root;
    memcpy(e->nodes, p->nodes, nodes_sz);
    char *text = (char *)e + sizeof *e + nodes_sz;
    memcpy(text, p->src, p->len);
    text[p->len] = 0;
    if (p->pl) memcpy(text + p->len + 1, p->pool, p->pl);
    e->src = text;
    for (int i = 0; i < e->nnodes; i++) {
        node *n = &e->nodes[i];
        if (n->kind == N_LIT && n->text) n->v.str = text + n->toff;
        if (n->kind == N_PATH || n->kind == N_PRESENT) {
            n->slot = pw_fieldset_intern(fs, text + n->toff, (int)n->v.len);
            n->v.len = 0;
            if (n->slot < 0) {
                fail(p, 0, "out of memory");
                free(e);
                return NULL;
            }
        }
    }
    return e;
}

pw_expr *pw_expr_compile(const char *src, pw_fieldset *fs, size_t *err_off, char *errbuf, size_t errlen) {
    parser p;
    memset(&p, 0, sizeof p);
    p.errbuf = errbuf;
    p.errlen = errlen;
    if (errbuf && errlen) errbuf[0] = 0;
    pw_expr *e = NULL;
    int root = -1;
    if (!src || !fs) {
        fail(&p, 0, "no expression");
        goto out;
    }
    p.src = src;
    p.len = strnlen(src, PW_EXPR_MAX_LEN + 1);
    if (p.len > PW_EXPR_MAX_LEN) {
        fail(&p, PW_EXPR_MAX_LEN, "expression is longer than %d bytes", PW_EXPR_MAX_LEN);
        goto out;
    }
    p.pool = malloc(p.len + 1);
    if (!p.pool) {
        fail(&p, 0, "out of memory");
        goto out;
    }
    advance(&p);
    if (!p.failed && p.cur.kind == T_END) {
        fail(&p, p.cur.off, "empty expression");
        goto out;
    }
    root = parse_or(&p);
    if (!p.failed && p.cur.kind != T_END) trailing(&p);
    if (!p.failed) e = finish(&p, root, fs);
out:
    if (p.failed && err_off) *err_off = p.err_off;
    free(p.nodes);
    free(p.pool);
    return p.failed ? NULL : e;
}

void pw_expr_destroy(pw_expr *e) { free(e); }

const char *pw_expr_source(const pw_expr *e) { return e ? e->src : NULL; }

/* ---- evaluation -------------------------------------------------------- */

/* The numeric view used by arithmetic and ordering: numbers and numeric
 * strings, not booleans (whose has_num is set for other callers). */
static int num_of(const pw_value *v, double *out) {
    if (v->type == PW_V_NUM || (v->type == PW_V_STR && v->has_num)) {
        *out = v->num;
        return 1;
    }
    return 0;
}

static void set_bool(pw_value *out, int b) {
    out->type = PW_V_BOOL;
    out->has_num = 1;
    out->num = b ? 1 : 0;
    out->str = b ? "true" : "false";
    out->len = b ? 4 : 5;
}

static void set_num(pw_value *out, double x) {
    out->type = PW_V_NUM;
    out->has_num = 1;
    out->num = x;
    out->str = NULL;
    out->len = 0;
}

static int equal(const pw_value *a, const pw_value *b) {
    double x, y;
    if (a->type == PW_V_NULL || b->type == PW_V_NULL) return a->type == b->type;
    if ((a->type == PW_V_NUM || b->type == PW_V_NUM) && num_of(a, &x) && num_of(b, &y)) return x == y;
    if (a->type != b->type) return 0;
    if (a->type == PW_V_BOOL) return a->num == b->num;
    return a->len == b->len && (a->len == 0 || memcmp(a->str, b->str, a->len) == 0);
}

/* -1/0/1, or 2 when the two cannot be ordered (null, mixed types, booleans). */
static int order(const pw_value *a, const pw_value *b) {
    double x, y;
    if (num_of(a, &x) && num_of(b, &y)) return x < y ? -1 : x > y ? 1 : 0;
    if (a->type != PW_V_STR || b->type != PW_V_STR) return 2;
    uint32_t n = a->len < b->len ? a->len : b->len;
    int c = n ? memcmp(a->str, b->str, n) : 0;
    if (c) return c < 0 ? -1 : 1;
    return a->len < b->len ? -1 : a->len > b->len ? 1 : 0;
}

/* Recursion depth is bounded by the nesting limit checked at compile. */
static int eval(const pw_expr *e, int i, const pw_value *f, pw_value *out) {
    const node *n = &e->nodes[i];
    pw_value a, b;
    double x, y;
    switch (n->kind) {
    case N_LIT:
        *out = n->v;
        return 0;
    case N_PATH:
        *out = f[n->slot];
        return 0;
    case N_PRESENT: {
        int on = pw_value_present(&f[n->slot]);
        set_num(out, on);
        out->str = on ? "1" : "0";
        out->len = 1;
        return 0;
    }
    case N_NEG:
        if (eval(e, n->kid, f, &a) < 0 || !num_of(&a, &x)) return -1;
        set_num(out, -x);
        return 0;
    case N_NOT:
        if (eval(e, n->kid, f, &a) < 0 || a.type != PW_V_BOOL) return -1;
        set_bool(out, a.num == 0);
        return 0;
    case N_AND:
    case N_OR: {
        int stop = n->kind == N_OR; /* the value that decides the chain */
        for (int k = n->kid; k >= 0; k = e->nodes[k].next) {
            if (eval(e, k, f, &a) < 0 || a.type != PW_V_BOOL) return -1;
            if ((a.num != 0) == stop) {
                set_bool(out, stop);
                return 0;
            }
        }
        set_bool(out, !stop);
        return 0;
    }
    case N_ARITH: {
        int k = n->kid;
        if (eval(e, k, f, &a) < 0 || !num_of(&a, &x)) return -1;
        for (k = e->nodes[k].next; k >= 0; k = e->nodes[k].next) {
            if (eval(e, k, f, &b) < 0 || !num_of(&b, &y)) return -1;
            switch (e->nodes[k].aop) {
            case OP_ADD: x += y; break;
            case OP_SUB: x -= y; break;
            case OP_MUL: x *= y; break;
            default:
                if (y == 0) return -1;
                x /= y;
                break;
            }
            if (!isfinite(x)) return -1;
        }
        set_num(out, x);
        return 0;
    }
    case N_CMP: {
        if (eval(e, n->kid, f, &a) < 0 || eval(e, e->nodes[n->kid].next, f, &b) < 0) return -1;
        int r;
        switch (n->op) {
        case OP_EQ: r = equal(&a, &b); break;
        case OP_NE: r = !equal(&a, &b); break;
        default: {
            int c = order(&a, &b);
            r = c != 2 && (n->op == OP_LT   ? c < 0
                           : n->op == OP_LE ? c <= 0
                           : n->op == OP_GT ? c > 0
                                            : c >= 0);
        }
        }
        set_bool(out, r);
        return 0;
    }
    default: /* N_IN */
        if (eval(e, n->kid, f, &a) < 0) return -1;
        for (int k = e->nodes[n->kid].next; k >= 0; k = e->nodes[k].next)
            if (equal(&a, &e->nodes[k].v)) {
                set_bool(out, 1);
                return 0;
            }
        set_bool(out, 0);
        return 0;
    }
}

int pw_expr_eval(const pw_expr *e, const pw_value *fields, pw_value *out) {
    return eval(e, e->root, fields, out);
}

int pw_expr_test(const pw_expr *e, const pw_value *fields) {
    pw_value v;
    if (eval(e, e->root, fields, &v) < 0 || v.type != PW_V_BOOL) return -1;
    return v.num != 0;
}

int pw_expr_number(const pw_expr *e, const pw_value *fields, double *out) {
    pw_value v;
    if (eval(e, e->root, fields, &v) < 0 || !num_of(&v, out)) return -1;
    return 0;
}
