/* event.h -- JSON payload -> decoded event view (type, time, referenced fields).
 *
 * The decoder is built once per rule set from its pw_fieldset; decoding an
 * event validates the whole JSON text (RFC 8259) but keeps only the fields
 * whose paths are in the fieldset, one pw_value per slot. No allocation per
 * event: string values point into the input buffer, or, when they contain
 * escapes, into the decoder's scratch space (sized at creation to the largest
 * accepted message, reused for every event).
 *
 * Lifetime: a pw_event and every string in it are valid until the next
 * pw_decoder_decode() on the same decoder or until the input buffer is freed,
 * whichever comes first. One decoder per thread.
 *
 * Documented handling of odd input (see README "Events"):
 *   - duplicate keys: the last one wins;
 *   - invalid UTF-8 anywhere in a string: rejected (PW_EV_BAD_UTF8);
 *   - \u escapes: decoded to UTF-8; an unpaired surrogate is rejected (bad_utf8);
 *   - numbers out of double range (1e400): rejected (PW_EV_BAD_NUMBER);
 *     NaN/Infinity are not JSON and are rejected as not_json;
 *   - nesting deeper than max_depth: PW_EV_TOO_DEEP;
 *   - the type field must be a non-empty string (else no_type / bad_type);
 *   - the time field: RFC 3339 string, numeric string, or number (epoch ms if
 *     >= 1e11 else s), years 0000..9999 (else no_time / bad_time);
 *   - the id field is optional; any scalar, its label text is used.
 */
#ifndef PW_EVENT_H
#define PW_EVENT_H

#include <stddef.h>
#include <stdint.h>

#include "fieldset.h"
#include "value.h"

typedef enum pw_ev_err {
    PW_EV_OK = 0,
    PW_EV_TOO_LARGE,    /* longer than max_size */
    PW_EV_NOT_JSON,     /* syntax error, truncated, trailing garbage, empty */
    PW_EV_NOT_OBJECT,   /* valid JSON but the top level is not an object */
    PW_EV_TOO_DEEP,     /* nesting deeper than max_depth */
    PW_EV_BAD_UTF8,     /* invalid UTF-8 or unpaired surrogate escape */
    PW_EV_BAD_NUMBER,   /* a number that does not fit a double */
    PW_EV_NO_TYPE,      /* type field missing, null or "" */
    PW_EV_BAD_TYPE,     /* type field not a string */
    PW_EV_NO_TIME,      /* time field missing or null */
    PW_EV_BAD_TIME,     /* time field unparsable or out of range */
    PW_EV__COUNT
} pw_ev_err;

/* Stable snake_case name of a reason ("not_json"), used in logs and metrics. */
const char *pw_ev_err_name(pw_ev_err e);

typedef struct pw_event {
    const pw_value *fields; /* one per fieldset slot; borrowed (see lifetime) */
    int nfields;
    const char *type;       /* the type field's string; borrowed */
    uint32_t type_len;
    int64_t ts;             /* event time, ms since epoch */
    const char *id;         /* id label text, "" if absent; borrowed */
    uint32_t id_len;
} pw_event;

typedef struct pw_decoder_conf {
    int type_slot;          /* fieldset slot of the type field (required) */
    int time_slot;          /* fieldset slot of the time field (required) */
    int id_slot;            /* fieldset slot of the id field, or -1 */
    size_t max_size;        /* largest accepted message in bytes (default 1 MiB if 0) */
    int max_depth;          /* deepest accepted nesting (default 64 if 0) */
} pw_decoder_conf;

typedef struct pw_decoder pw_decoder;

/* fs is borrowed and must outlive the decoder (it belongs to the rule set).
 * NULL on allocation failure, or if a conf slot is not in fs (type/time must
 * be, id may be -1) or max_size exceeds UINT32_MAX. */
pw_decoder *pw_decoder_new(const pw_fieldset *fs, const pw_decoder_conf *conf);
void pw_decoder_destroy(pw_decoder *d); /* accepts NULL */

/* Decode buf[0..len) (need not be NUL-terminated). PW_EV_OK fills *out. */
pw_ev_err pw_decoder_decode(pw_decoder *d, const char *buf, size_t len, pw_event *out);

/* JSON lines without a separate scan for each line's end: decode the line at
 * the start of buf[0..avail) (the text up to the first '\n', or all of it),
 * finding its end while parsing. Returns 1 if the line is a valid event:
 * *out is what pw_decoder_decode(d, buf, *len, out) would give, *len the
 * line's length without the '\n'. Returns 0 otherwise (not valid, longer
 * than max_size, blank): the caller then finds the line and calls
 * pw_decoder_decode for the reason. */
int pw_decoder_decode_line(pw_decoder *d, const char *buf, size_t avail, pw_event *out, size_t *len);

#endif
