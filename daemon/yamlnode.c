/* yamlnode.c -- located, typed access to a libyaml document (see yamlnode.h).
 *
 * Design
 *   - Loading is two passes over the same bytes: a pre-pass with libyaml's
 *     event API that only counts (nodes, depth, documents) and reports syntax
 *     errors, then yaml_parser_load. The pre-pass costs about one extra parse
 *     (a few ms per MB) and buys a memory bound: libyaml's document API keeps
 *     ~150 bytes per node, so a file is refused before any node is built if it
 *     would exceed PW_YAML_MAX_NODES.
 *   - libyaml marks count characters, not bytes (line, column, index). To
 *     locate a byte offset inside a scalar we keep the file's bytes and a table
 *     of line starts (built on first use, with libyaml's line breaks: \n, \r,
 *     \r\n, NEL, LS, PS) and walk the source from the node's mark, undoing
 *     quoting, escapes and folding as we go (loc_flow, loc_block).
 *   - Everything reported goes to the caller's pw_diag; getters never print.
 *
 * Limits
 *   - One document per file. Merge keys (`<<: *defaults`) are not supported
 *     (reported as such). Tags are ignored: `!!str 5` is the plain text "5".
 *   - Locations inside folded (`>`) block scalars are exact except after a
 *     blank line; inside multi-line flow scalars they follow YAML folding.
 *   - Numbers are JSON-like (-1.5, 2e3); YAML's .inf/.nan, hex and octal
 *     forms are not numbers here.
 */
#include "yamlnode.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "timeutil.h"

/* ---- loading ----------------------------------------------------------- */

static pw_loc loc_at(const pw_ydoc *d, size_t line0, size_t col0) {
    pw_loc l;
    l.file = d->file;
    l.line = line0 >= (size_t)0x7FFFFFFF ? 0x7FFFFFFF : (int)line0 + 1;
    l.col = col0 >= (size_t)0x7FFFFFFF ? 0x7FFFFFFF : (int)col0 + 1;
    return l;
}

static pw_loc loc_mark(const pw_ydoc *d, yaml_mark_t m) { return loc_at(d, m.line, m.column); }

/* Bytes of the UTF-8 sequence starting with c (1 for anything invalid). */
static size_t u8w(unsigned char c) {
    if (c >= 0xF0 && c <= 0xF7) return 4;
    if (c >= 0xE0) return c <= 0xEF ? 3 : 1;
    if (c >= 0xC0) return 2;
    return 1;
}

/* Length of the line break at p (0 if none), libyaml's definition. */
static size_t brk(const pw_ydoc *d, size_t p) {
    const unsigned char *t = (const unsigned char *)d->text;
    if (p >= d->len) return 0;
    if (t[p] == '\n') return 1;
    if (t[p] == '\r') return (p + 1 < d->len && t[p + 1] == '\n') ? 2 : 1;
    if (t[p] == 0xC2 && p + 1 < d->len && t[p + 1] == 0x85) return 2;
    if (t[p] == 0xE2 && p + 2 < d->len && t[p + 1] == 0x80 && (t[p + 2] == 0xA8 || t[p + 2] == 0xA9))
        return 3;
    return 0;
}

static int build_lines(pw_ydoc *d) {
    if (d->lines) return 0;
    size_t cap = 64, n = 0;
    size_t *v = malloc(cap * sizeof *v);
    if (!v) return -1;
    size_t p = 0;
    /* libyaml consumes a UTF-8 BOM without moving its marks */
    if (d->len >= 3 && memcmp(d->text, "\xEF\xBB\xBF", 3) == 0) p = 3;
    v[n++] = p;
    while (p < d->len) {
        size_t b = brk(d, p);
        if (!b) {
            p++;
            continue;
        }
        p += b;
        if (n == cap) {
            size_t *nv = realloc(v, cap * 2 * sizeof *v);
            if (!nv) {
                free(v);
                return -1;
            }
            v = nv;
            cap *= 2;
        }
        v[n++] = p;
    }
    d->lines = v;
    d->nlines = n;
    return 0;
}

static size_t line_end(const pw_ydoc *d, size_t line0) {
    size_t p = d->lines[line0];
    while (p < d->len && !brk(d, p)) p++;
    return p;
}

/* Byte offset of (line0, col0) in characters, clamped to the line. */
static size_t byte_pos(pw_ydoc *d, size_t line0, size_t col0) {
    if (build_lines(d) < 0 || line0 >= d->nlines) return d->len;
    size_t p = d->lines[line0], end = line_end(d, line0);
    for (size_t c = 0; c < col0 && p < end; c++) p += u8w((unsigned char)d->text[p]);
    return p < end ? p : end;
}

/* (line, column) in characters of byte offset off (for reader errors). */
static pw_loc loc_of_byte(pw_ydoc *d, size_t off) {
    if (build_lines(d) < 0) return loc_at(d, 0, 0);
    size_t lo = 0, hi = d->nlines;
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (d->lines[mid] <= off)
            lo = mid;
        else
            hi = mid;
    }
    size_t col = 0;
    for (size_t p = d->lines[lo]; p < off && p < d->len; p += u8w((unsigned char)d->text[p])) col++;
    return loc_at(d, lo, col);
}

static void syntax_error(pw_ydoc *d, const yaml_parser_t *p) {
    if (p->error == YAML_MEMORY_ERROR) {
        pw_diag_error(d->diag, loc_at(d, 0, 0), "out of memory while parsing YAML");
        return;
    }
    const char *problem = p->problem ? p->problem : "invalid YAML";
    if (p->error == YAML_READER_ERROR) {
        size_t off = p->problem_offset;
        if (strstr(problem, "trailing") && off <= d->len) {
            /* libyaml points at the bad continuation byte; the mistake is the
             * sequence, so point at (and show) its first byte */
            size_t k = off;
            while (k > 0 && off - k < 4 && ((unsigned char)d->text[k - 1] & 0xC0) == 0x80) k--;
            if (k > 0 && (unsigned char)d->text[k - 1] >= 0xC0) {
                pw_diag_error(
                    d->diag, loc_of_byte(d, k - 1),
                    "YAML: invalid UTF-8 sequence starting with byte 0x%02X (rule files must be UTF-8 "
                    "text; was this file saved as Latin-1?)",
                    (unsigned)(unsigned char)d->text[k - 1]);
                return;
            }
        }
        pw_loc l = loc_of_byte(d, off);
        if (p->problem_value >= 0)
            pw_diag_error(d->diag, l, "YAML: %s (byte 0x%02X; rule files must be UTF-8 text)", problem,
                          (unsigned)p->problem_value & 0xFF);
        else
            pw_diag_error(d->diag, l, "YAML: %s", problem);
        return;
    }
    pw_loc l = loc_mark(d, p->problem_mark);
    /* hints for the mistakes people make most when editing by hand */
    const char *hint = "";
    if (strstr(problem, "tab"))
        hint = "; indent with spaces, not tabs";
    else if (strstr(problem, "did not find expected key"))
        hint = "; check the indentation of this line";
    else if (strstr(problem, "mapping values are not allowed"))
        hint = "; quote values that contain ': '";
    else if (strstr(problem, "cannot start any token"))
        hint = "; quote values that start with @, ` or %";
    if (p->context)
        pw_diag_error(d->diag, l, "YAML: %s (%s at %zu:%zu)%s", problem, p->context,
                      (size_t)p->context_mark.line + 1, (size_t)p->context_mark.column + 1, hint);
    else
        pw_diag_error(d->diag, l, "YAML: %s%s", problem, hint);
}

/* Count nodes, depth and documents with the event API; report syntax errors. */
static int prepass(pw_ydoc *d) {
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p)) {
        pw_diag_error(d->diag, loc_at(d, 0, 0), "out of memory while parsing YAML");
        return -1;
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)d->text, d->len);
    long nodes = 0;
    int depth = 0, docs = 0, rc = -1;
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) {
            syntax_error(d, &p);
            break;
        }
        yaml_event_type_t t = ev.type;
        yaml_mark_t m = ev.start_mark;
        yaml_event_delete(&ev);
        if (t == YAML_STREAM_END_EVENT) {
            rc = 0;
            break;
        }
        if (t == YAML_DOCUMENT_START_EVENT && ++docs > 1) {
            pw_diag_error(d->diag, loc_mark(d, m),
                          "a second YAML document ('---'): a file holds one document; use another file");
            break;
        }
        if (t == YAML_SEQUENCE_START_EVENT || t == YAML_MAPPING_START_EVENT) {
            if (++depth > PW_YAML_MAX_DEPTH) {
                pw_diag_error(d->diag, loc_mark(d, m), "YAML nested deeper than %d levels",
                              PW_YAML_MAX_DEPTH);
                break;
            }
        }
        if (t == YAML_SEQUENCE_END_EVENT || t == YAML_MAPPING_END_EVENT) depth--;
        if (t == YAML_SCALAR_EVENT || t == YAML_ALIAS_EVENT || t == YAML_SEQUENCE_START_EVENT ||
            t == YAML_MAPPING_START_EVENT) {
            if (++nodes > PW_YAML_MAX_NODES) {
                pw_diag_error(d->diag, loc_mark(d, m), "file has more than %d YAML nodes", PW_YAML_MAX_NODES);
                break;
            }
        }
    }
    yaml_parser_delete(&p);
    return rc;
}

static int load(pw_ydoc *d) {
    if (prepass(d) < 0) return -1;
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p)) {
        pw_diag_error(d->diag, loc_at(d, 0, 0), "out of memory while parsing YAML");
        return -1;
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)d->text, d->len);
    int rc = 0;
    if (!yaml_parser_load(&p, &d->doc)) {
        syntax_error(d, &p);
        rc = -1;
    } else {
        d->loaded = 1;
    }
    yaml_parser_delete(&p);
    return rc;
}

static void init(pw_ydoc *d, const char *name, pw_diag *diag) {
    memset(d, 0, sizeof *d);
    d->file = name;
    d->diag = diag;
    d->max_visits = PW_YAML_MAX_VISITS;
}

int pw_ydoc_load_string(pw_ydoc *d, const char *name, const char *text, size_t len, pw_diag *diag) {
    init(d, name, diag);
    if (len > PW_YAML_MAX_BYTES) {
        pw_diag_error(diag, loc_at(d, 0, 0), "file is too large (%zu bytes; at most %u)", len,
                      (unsigned)PW_YAML_MAX_BYTES);
        return -1;
    }
    d->text = malloc(len + 1);
    if (!d->text) {
        pw_diag_error(diag, loc_at(d, 0, 0), "out of memory reading the file");
        return -1;
    }
    memcpy(d->text, text, len);
    d->text[len] = 0;
    d->len = len;
    return load(d);
}

int pw_ydoc_load_file(pw_ydoc *d, const char *file, pw_diag *diag) {
    init(d, file, diag);
    /* locations of file-level problems are 0:0 (no line applies) */
    pw_loc none = {file, 0, 0};
    FILE *f = fopen(file, "rb");
    if (!f) {
        int e = errno;
        pw_diag_error(diag, none, "cannot open: %s", strerror(e));
        return -1;
    }
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap + 1);
    int rc = 0;
    while (buf) {
        if (len == cap) {
            if (cap > PW_YAML_MAX_BYTES) break;
            char *nb = realloc(buf, cap * 2 + 1);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) break;
    }
    if (!buf) {
        pw_diag_error(diag, none, "out of memory reading the file");
        rc = -1;
    } else if (ferror(f)) {
        int e = errno;
        pw_diag_error(diag, none, "cannot read: %s", strerror(e));
        rc = -1;
    } else if (len > PW_YAML_MAX_BYTES) {
        pw_diag_error(diag, none, "file is too large (more than %u bytes)", (unsigned)PW_YAML_MAX_BYTES);
        rc = -1;
    }
    fclose(f);
    if (rc < 0) {
        free(buf);
        return -1;
    }
    buf[len] = 0;
    d->text = buf;
    d->len = len;
    return load(d);
}

void pw_ydoc_free(pw_ydoc *d) {
    if (!d) return;
    if (d->loaded) yaml_document_delete(&d->doc);
    free(d->text);
    free(d->lines);
    d->loaded = 0;
    d->text = NULL;
    d->lines = NULL;
    d->len = d->nlines = 0;
}

yaml_node_t *pw_ydoc_root(pw_ydoc *d) { return d->loaded ? yaml_document_get_root_node(&d->doc) : NULL; }

int pw_yvisit(pw_ydoc *d, const yaml_node_t *n) {
    if (d->exhausted) return -1;
    if (++d->visits <= d->max_visits) return 0;
    d->exhausted = 1;
    pw_diag_error(
        d->diag, n ? pw_yloc(d, n) : loc_at(d, 0, 0),
        "stopped after visiting %ld YAML nodes: do aliases (*name) repeat a large part of the file?",
        d->max_visits);
    return -1;
}

/* ---- locations --------------------------------------------------------- */

pw_loc pw_yloc(const pw_ydoc *d, const yaml_node_t *n) { return loc_mark(d, n->start_mark); }

/* Skip node properties (&anchor, !tag) that precede a scalar's text. */
static size_t skip_props(const pw_ydoc *d, size_t p, size_t *col) {
    for (int k = 0; k < 2 && p < d->len && (d->text[p] == '&' || d->text[p] == '!'); k++) {
        while (p < d->len && d->text[p] != ' ' && d->text[p] != '\t' && !brk(d, p)) {
            p++;
            (*col)++;
        }
        while (p < d->len && (d->text[p] == ' ' || d->text[p] == '\t')) {
            p++;
            (*col)++;
        }
    }
    return p;
}

static int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Bytes of UTF-8 for the code point in n hex digits at s. */
static size_t esc_utf8_len(const char *s, size_t n, size_t avail) {
    unsigned long cp = 0;
    for (size_t i = 0; i < n && i < avail; i++) {
        int h = hexval((unsigned char)s[i]);
        if (h < 0) break;
        cp = cp * 16 + (unsigned long)h;
    }
    return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
}

/* Walk a flow scalar (plain, '...', "...") from its first character until
 * `off` bytes of its value are behind us. */
static pw_loc loc_flow(pw_ydoc *d, const yaml_node_t *n, size_t off) {
    size_t line = n->start_mark.line, col = n->start_mark.column;
    size_t p = byte_pos(d, line, col);
    p = skip_props(d, p, &col);
    yaml_scalar_style_t st = n->data.scalar.style;
    int sq = st == YAML_SINGLE_QUOTED_SCALAR_STYLE, dq = st == YAML_DOUBLE_QUOTED_SCALAR_STYLE;
    if ((sq || dq) && p < d->len) {
        p++;
        col++;
    }
    size_t v = 0;
    const char *t = d->text;
    while (v < off && p < d->len) {
        size_t b = brk(d, p);
        if (b) {
            /* folding: one break -> one space, k breaks -> k-1 newlines */
            size_t nb = 0;
            while ((b = brk(d, p)) != 0) {
                p += b;
                line++;
                col = 0;
                nb++;
                while (p < d->len && (t[p] == ' ' || t[p] == '\t')) {
                    p++;
                    col++;
                }
            }
            v += nb == 1 ? 1 : nb - 1;
            continue;
        }
        char c = t[p];
        if (c == ' ' || c == '\t') {
            size_t q = p;
            while (q < d->len && (t[q] == ' ' || t[q] == '\t')) q++;
            if (brk(d, q)) {
                col += q - p;
                p = q;
                continue;
            } /* trailing blanks are not in the value */
            p++;
            col++;
            v++;
            continue;
        }
        if (dq && c == '\\' && p + 1 < d->len) {
            size_t eb = brk(d, p + 1);
            if (eb) { /* escaped line break: joins lines, no value bytes */
                p += 1 + eb;
                line++;
                col = 0;
                while (p < d->len && (t[p] == ' ' || t[p] == '\t')) {
                    p++;
                    col++;
                }
                continue;
            }
            char e = t[p + 1];
            size_t sl = 2, vl = 1;
            if (e == 'x') {
                sl = 4;
                vl = esc_utf8_len(t + p + 2, 2, d->len - p - 2);
            } else if (e == 'u') {
                sl = 6;
                vl = esc_utf8_len(t + p + 2, 4, d->len - p - 2);
            } else if (e == 'U') {
                sl = 10;
                vl = esc_utf8_len(t + p + 2, 8, d->len - p - 2);
            } else if (e == 'N' || e == '_')
                vl = 2;
            else if (e == 'L' || e == 'P')
                vl = 3;
            p += sl;
            col += sl;
            v += vl;
            continue;
        }
        if (sq && c == '\'' && p + 1 < d->len && t[p + 1] == '\'') {
            p += 2;
            col += 2;
            v++;
            continue;
        }
        size_t w = u8w((unsigned char)c);
        p += w;
        col++;
        v += w;
    }
    return loc_at(d, line, col);
}

/* Walk a block scalar (| or >) line by line from its first content line. */
static pw_loc loc_block(pw_ydoc *d, const yaml_node_t *n, size_t off) {
    size_t hl = n->start_mark.line;
    if (build_lines(d) < 0 || hl + 1 >= d->nlines) return pw_yloc(d, n);
    /* the scalar's last line: its end mark sits at column 0 of the line after
     * it when the scalar ends with a line break */
    size_t last = n->end_mark.line;
    if (n->end_mark.column == 0 && last > hl + 1) last--;
    if (last >= d->nlines) last = d->nlines - 1;
    /* indentation: that of the first line holding anything but spaces */
    size_t indent = 0;
    for (size_t l = hl + 1; l <= last; l++) {
        size_t p = d->lines[l], e = line_end(d, l), k = 0;
        while (p + k < e && d->text[p + k] == ' ') k++;
        if (p + k < e) {
            indent = k;
            break;
        }
    }
    size_t line = hl + 1, col = 0, p = d->lines[line], e = line_end(d, line), v = 0;
    while (col < indent && p < e && d->text[p] == ' ') {
        p++;
        col++;
    }
    while (v < off) {
        if (p >= e) { /* the line's break: a '\n' (|) or ' ' (>) in the value */
            if (line + 1 >= d->nlines || line + 1 > last) break;
            line++;
            p = d->lines[line];
            e = line_end(d, line);
            col = 0;
            while (col < indent && p < e && d->text[p] == ' ') {
                p++;
                col++;
            }
            v++;
            continue;
        }
        size_t w = u8w((unsigned char)d->text[p]);
        p += w;
        col++;
        v += w;
    }
    return loc_at(d, line, col);
}

pw_loc pw_yloc_in(pw_ydoc *d, const yaml_node_t *n, size_t off) {
    if (n->type != YAML_SCALAR_NODE || !d->text) return pw_yloc(d, n);
    yaml_scalar_style_t st = n->data.scalar.style;
    if (st == YAML_LITERAL_SCALAR_STYLE || st == YAML_FOLDED_SCALAR_STYLE) return loc_block(d, n, off);
    return loc_flow(d, n, off);
}

/* ---- kinds and getters ------------------------------------------------- */

const char *pw_yscalar(const yaml_node_t *n) {
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static int is_plain(const yaml_node_t *n) {
    return n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

int pw_yis_null(const yaml_node_t *n) {
    if (!n || !is_plain(n)) return 0;
    const char *s = pw_yscalar(n);
    return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}

/* JSON-like number syntax: -?digits(.digits)?([eE][+-]?digits)? */
static int num_syntax(const char *s) {
    const char *p = s;
    if (*p == '-' || *p == '+') p++;
    if (*p < '0' || *p > '9') return 0;
    while (*p >= '0' && *p <= '9') p++;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9') return 0;
        while (*p >= '0' && *p <= '9') p++;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-') p++;
        if (*p < '0' || *p > '9') return 0;
        while (*p >= '0' && *p <= '9') p++;
    }
    return *p == 0;
}

const char *pw_ykind(const yaml_node_t *n) {
    if (!n) return "nothing";
    switch (n->type) {
    case YAML_SEQUENCE_NODE: return "a list";
    case YAML_MAPPING_NODE: return "a mapping";
    case YAML_SCALAR_NODE:
        if (pw_yis_null(n)) return "nothing";
        if (is_plain(n) && num_syntax(pw_yscalar(n))) return "a number";
        if (is_plain(n) && (!strcmp(pw_yscalar(n), "true") || !strcmp(pw_yscalar(n), "false")))
            return "a boolean";
        return "a string";
    default: return "nothing";
    }
}

const char *pw_yshow(const char *s, char *buf, size_t n) {
    if (!n) return "";
    size_t j = 0, i = 0;
    int cut = 0;
    for (; s && s[i]; i++) {
        if (j + 4 >= n || j >= 60) {
            cut = 1;
            break;
        }
        unsigned char c = (unsigned char)s[i];
        buf[j++] = (c < 0x20 || c == 0x7F) ? '?' : (char)c;
    }
    if (cut) {
        while (j > 0 && ((unsigned char)buf[j - 1] & 0xC0) == 0x80) j--; /* do not split a character */
        if (j > 0 && (unsigned char)buf[j - 1] >= 0xC0) j--;
        if (j + 4 > n) j = n - 4;
        memcpy(buf + j, "...", 3);
        j += 3;
    }
    buf[j] = 0;
    return buf;
}

/* "expected WHAT, got a list" / "got 'abc'" */
static void expected(pw_ydoc *d, const yaml_node_t *n, const char *what) {
    const char *k = pw_ykind(n);
    if (n && n->type == YAML_SCALAR_NODE && !pw_yis_null(n)) {
        char tmp[72];
        if (!is_plain(n) && num_syntax(pw_yscalar(n)) && strstr(what, "number"))
            pw_diag_error(d->diag, pw_yloc(d, n),
                          "expected %s, got the quoted string \"%s\" (write numbers without quotes)", what,
                          pw_yshow(pw_yscalar(n), tmp, sizeof tmp));
        else
            pw_diag_error(d->diag, pw_yloc(d, n), "expected %s, got %s '%s'", what, k,
                          pw_yshow(pw_yscalar(n), tmp, sizeof tmp));
        return;
    }
    pw_diag_error(d->diag, pw_yloc(d, n), "expected %s, got %s", what, k);
}

int pw_yget_str(pw_ydoc *d, const yaml_node_t *n, const char *what, const char **out) {
    if (d->exhausted) return -1;
    if (n->type != YAML_SCALAR_NODE || pw_yis_null(n)) {
        expected(d, n, what);
        return -1;
    }
    if (strlen(pw_yscalar(n)) != n->data.scalar.length) {
        pw_diag_error(d->diag, pw_yloc(d, n), "expected %s, got text with a NUL character", what);
        return -1;
    }
    *out = pw_yscalar(n);
    return 0;
}

int pw_yget_num(pw_ydoc *d, const yaml_node_t *n, const char *what, double *out) {
    if (d->exhausted) return -1;
    if (!is_plain(n) || !num_syntax(pw_yscalar(n))) {
        expected(d, n, what);
        return -1;
    }
    double v = strtod(pw_yscalar(n), NULL);
    if (!isfinite(v)) {
        char tmp[72];
        pw_diag_error(d->diag, pw_yloc(d, n), "number out of range: %s",
                      pw_yshow(pw_yscalar(n), tmp, sizeof tmp));
        return -1;
    }
    *out = v;
    return 0;
}

int pw_yget_int(pw_ydoc *d, const yaml_node_t *n, const char *what, int64_t min, int64_t max, int64_t *out) {
    if (d->exhausted) return -1;
    const char *s = pw_yscalar(n);
    if (!is_plain(n) || !num_syntax(s) || strpbrk(s, ".eE")) {
        expected(d, n, what);
        return -1;
    }
    errno = 0;
    long long v = strtoll(s, NULL, 10);
    if (errno == ERANGE || v < min || v > max) {
        expected(d, n, what);
        return -1;
    }
    *out = v;
    return 0;
}

int pw_yget_bool(pw_ydoc *d, const yaml_node_t *n, const char *what, int *out) {
    if (d->exhausted) return -1;
    const char *s = pw_yscalar(n);
    if (is_plain(n) && !strcmp(s, "true")) {
        *out = 1;
        return 0;
    }
    if (is_plain(n) && !strcmp(s, "false")) {
        *out = 0;
        return 0;
    }
    expected(d, n, what);
    return -1;
}

int pw_yget_duration(pw_ydoc *d, const yaml_node_t *n, const char *what, int64_t *out) {
    if (d->exhausted) return -1;
    if (n->type != YAML_SCALAR_NODE || pw_yis_null(n)) {
        expected(d, n, what);
        return -1;
    }
    const char *s = pw_yscalar(n);
    char tmp[72];
    int rc = strlen(s) == n->data.scalar.length ? pw_duration_parse(s, out) : -1;
    if (rc == 0) return 0;
    pw_yshow(s, tmp, sizeof tmp);
    if (rc == -2) {
        pw_diag_error(d->diag, pw_yloc(d, n), "negative duration '%s'", tmp);
    } else if (*s && strspn(s, "0123456789") == strlen(s)) {
        pw_diag_error(d->diag, pw_yloc(d, n), "duration '%s' has no unit (write e.g. %ss, %sm, %sh or %sd)",
                      tmp, tmp, tmp, tmp, tmp);
    } else {
        pw_diag_error(
            d->diag, pw_yloc(d, n),
            "bad duration '%s' (expected a number and a unit: ms, s, m, h, d or w, like 30s, 1h30m, 7d)",
            tmp);
    }
    return -1;
}

int pw_yget_seq(pw_ydoc *d, const yaml_node_t *n, const char *what) {
    if (d->exhausted) return -1;
    if (n->type == YAML_SEQUENCE_NODE) return 0;
    expected(d, n, what);
    return -1;
}

int pw_yget_map(pw_ydoc *d, const yaml_node_t *n, const char *what) {
    if (d->exhausted) return -1;
    if (n->type == YAML_MAPPING_NODE) return 0;
    expected(d, n, what);
    return -1;
}

int pw_yseq_len(const yaml_node_t *n) {
    if (n->type != YAML_SEQUENCE_NODE) return 0;
    return (int)(n->data.sequence.items.top - n->data.sequence.items.start);
}

yaml_node_t *pw_yseq_at(pw_ydoc *d, const yaml_node_t *n, int i) {
    if (i < 0 || i >= pw_yseq_len(n)) return NULL;
    yaml_node_t *c = yaml_document_get_node(&d->doc, n->data.sequence.items.start[i]);
    if (!c || pw_yvisit(d, c) < 0) return NULL;
    return c;
}

int pw_ymap_len(const yaml_node_t *n) {
    if (n->type != YAML_MAPPING_NODE) return 0;
    return (int)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
}

int pw_ymap_at(pw_ydoc *d, const yaml_node_t *n, int i, yaml_node_t **key, yaml_node_t **val) {
    *key = *val = NULL;
    if (i < 0 || i >= pw_ymap_len(n)) return -1;
    yaml_node_pair_t *pr = &n->data.mapping.pairs.start[i];
    yaml_node_t *k = yaml_document_get_node(&d->doc, pr->key);
    yaml_node_t *v = yaml_document_get_node(&d->doc, pr->value);
    if (!k || !v || pw_yvisit(d, k) < 0 || pw_yvisit(d, v) < 0) return -1;
    *key = k;
    *val = v;
    return 0;
}

/* ---- mapping checks ---------------------------------------------------- */

static void unknown_key(pw_ydoc *d, const yaml_node_t *k, const char *ctx, const char *const *allowed) {
    char tmp[72];
    const char *s = pw_yshow(pw_yscalar(k), tmp, sizeof tmp);
    if (!strcmp(pw_yscalar(k), "<<")) {
        pw_diag_error(d->diag, pw_yloc(d, k),
                      "YAML merge keys ('<<') are not supported in %s; write the keys out", ctx);
        return;
    }
    if (d->diag->n >= PW_DIAG_MAX) { /* would be dropped: count it, skip the work */
        pw_diag_error(d->diag, pw_yloc(d, k), "unknown key");
        return;
    }
    const char *hint = pw_diag_suggest(pw_yscalar(k), allowed);
    if (hint) {
        pw_diag_error(d->diag, pw_yloc(d, k), "unknown key '%s' in %s (did you mean '%s'?)", s, ctx, hint);
        return;
    }
    char list[512];
    size_t used = 0;
    list[0] = 0;
    for (int i = 0; allowed[i] && used + 4 < sizeof list; i++) {
        int w = snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", allowed[i]);
        if (w < 0) break;
        used += (size_t)w;
    }
    pw_diag_error(d->diag, pw_yloc(d, k), "unknown key '%s' in %s (expected %s)", s, ctx, list);
}

int pw_ymap_check(pw_ydoc *d, const yaml_node_t *n, const char *ctx, const char *const *allowed,
                  yaml_node_t **keys, yaml_node_t **vals) {
    int na = 0, problems = 0;
    while (allowed[na]) na++;
    yaml_node_t *kfirst[64];
    for (int i = 0; i < na; i++) {
        vals[i] = NULL;
        if (keys) keys[i] = NULL;
        if (i < 64) kfirst[i] = NULL;
    }
    if (n->type != YAML_MAPPING_NODE || pw_yvisit(d, n) < 0) return 1;
    int len = pw_ymap_len(n);
    for (int i = 0; i < len; i++) {
        yaml_node_t *k, *v;
        if (pw_ymap_at(d, n, i, &k, &v) < 0) return problems + 1;
        if (k->type != YAML_SCALAR_NODE) {
            pw_diag_error(d->diag, pw_yloc(d, k), "expected a key name in %s, got %s", ctx, pw_ykind(k));
            problems++;
            continue;
        }
        const char *s = pw_yscalar(k);
        int idx = -1;
        for (int j = 0; j < na; j++)
            if (!strcmp(s, allowed[j])) {
                idx = j;
                break;
            }
        if (idx < 0 || strlen(s) != k->data.scalar.length) {
            unknown_key(d, k, ctx, allowed);
            problems++;
            continue;
        }
        if (vals[idx]) {
            yaml_node_t *first = idx < 64 ? kfirst[idx] : NULL;
            if (first)
                pw_diag_error(d->diag, pw_yloc(d, k), "duplicate key '%s' in %s (first at %d:%d)", s, ctx,
                              pw_yloc(d, first).line, pw_yloc(d, first).col);
            else
                pw_diag_error(d->diag, pw_yloc(d, k), "duplicate key '%s' in %s", s, ctx);
            problems++;
            continue;
        }
        vals[idx] = v;
        if (keys) keys[idx] = k;
        if (idx < 64) kfirst[idx] = k;
    }
    return problems;
}

typedef struct keyref {
    const char *s;
    int i;
    yaml_node_t *k;
} keyref;

static int keyref_cmp(const void *a, const void *b) {
    const keyref *x = a, *y = b;
    int c = strcmp(x->s, y->s);
    return c ? c : (x->i > y->i) - (x->i < y->i);
}

int pw_ymap_check_unique(pw_ydoc *d, const yaml_node_t *n, const char *ctx) {
    if (n->type != YAML_MAPPING_NODE || pw_yvisit(d, n) < 0) return 1;
    int len = pw_ymap_len(n), problems = 0, nk = 0;
    keyref *v = malloc((size_t)(len ? len : 1) * sizeof *v);
    if (!v) {
        pw_diag_error(d->diag, pw_yloc(d, n), "out of memory");
        return 1;
    }
    for (int i = 0; i < len; i++) {
        yaml_node_t *k, *val;
        if (pw_ymap_at(d, n, i, &k, &val) < 0) {
            problems++;
            break;
        }
        if (k->type != YAML_SCALAR_NODE) {
            pw_diag_error(d->diag, pw_yloc(d, k), "expected a key name in %s, got %s", ctx, pw_ykind(k));
            problems++;
            continue;
        }
        v[nk].s = pw_yscalar(k);
        v[nk].i = i;
        v[nk].k = k;
        nk++;
    }
    qsort(v, (size_t)nk, sizeof *v, keyref_cmp);
    int f = 0; /* first occurrence of the current run of equal keys */
    for (int i = 1; i < nk; i++) {
        if (strcmp(v[i].s, v[f].s) != 0) {
            f = i;
            continue;
        }
        char tmp[72];
        pw_loc first = pw_yloc(d, v[f].k);
        pw_diag_error(d->diag, pw_yloc(d, v[i].k), "duplicate key '%s' in %s (first at %d:%d)",
                      pw_yshow(v[i].s, tmp, sizeof tmp), ctx, first.line, first.col);
        problems++;
    }
    free(v);
    return problems;
}
