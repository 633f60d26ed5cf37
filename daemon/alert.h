/* alert.h -- the per-(rule, series) alert state machine and notifications.
 *
 *   inactive --cond--> pending --(held `for`)--> firing --(no longer holds)--> inactive
 *                        |                        (notify "firing")          (notify "resolved")
 *                        +--(cond false)--> inactive, silently
 *
 * `for: 0` goes from inactive to firing in one evaluation. While firing, the
 * condition is judged against `clear` when the rule has one (hysteresis), and
 * `repeat` re-notifies every `repeat` while it keeps holding. An undefined
 * value or a window with fewer than min_count events makes the condition
 * false. This module is pure: the engine supplies times and values.
 */
#ifndef PW_ALERT_H
#define PW_ALERT_H

#include <stdint.h>

#include "buf.h"
#include "ruleset.h"

typedef enum pw_alert_state {
    PW_ALERT_INACTIVE = 0,
    PW_ALERT_PENDING,
    PW_ALERT_FIRING
} pw_alert_state;

const char *pw_alert_state_name(pw_alert_state s); /* "inactive", "pending", "firing" */

typedef struct pw_alert {
    int64_t since;          /* PENDING/FIRING: when the condition started to hold */
    int64_t fired_at;       /* FIRING: when it fired */
    int64_t last_notified;  /* FIRING: last firing/repeat notification */
    int64_t born;           /* when this alert first left inactive (set while seq is 0): with seq, the
                             * identity of its notifications. Kept across episodes like seq; a series
                             * forgotten and made again starts a new life (new born, seq from 1). */
    uint32_t seq;           /* notifications made by this alert so far (FIRE, REPEAT and RESOLVE each
                             * add one); kept across episodes (not cleared when it resolves), so each
                             * notification of one life has a larger seq than the one before. The
                             * delivery ledger compares (born, seq) (README "Snapshots"). */
    uint8_t state;          /* pw_alert_state */
} pw_alert;

typedef enum pw_alert_action {
    PW_ALERT_NONE = 0,
    PW_ALERT_FIRE,          /* notify "firing" (first time) */
    PW_ALERT_REPEAT,        /* notify "firing" again (repeat interval elapsed) */
    PW_ALERT_RESOLVE        /* notify "resolved" */
} pw_alert_action;

/* What an evaluation saw for one series. */
typedef struct pw_alert_input {
    int defined;            /* the metric's value is defined */
    double value;
    uint64_t count;         /* events in the window (a ratio: its denominator's) */
    int has_last;           /* the series has seen an event */
    int64_t last_ts;        /* latest contributing event time */
} pw_alert_input;

/* Whether rule r's condition holds for `in` at time t. `firing` selects the
 * clear threshold (hysteresis) for above/below. */
int pw_alert_condition(const pw_rule_def *r, const pw_alert_input *in, int64_t t, int firing);

/* Advance a's state machine for an evaluation at time t; returns what to notify.
 * Every action other than NONE increments a->seq (the notification's seq). */
pw_alert_action pw_alert_step(pw_alert *a, const pw_rule_def *r, const pw_alert_input *in, int64_t t);

/* One notification, as handed to sinks. Everything is borrowed for the
 * duration of the callback only. */
typedef struct pw_notification {
    const pw_rule_def *rule;
    const pw_metric_def *metric;
    int firing;                     /* 1 "firing" (also repeats), 0 "resolved" */
    int repeat;                     /* 1 if a repeat of a firing notification */
    const char *const *label_vals;  /* metric->nby series label values, NUL-terminated */
    double value;                   /* NaN if undefined; absent rules: seconds since the last event */
    double threshold;               /* above/below: threshold; outside: lo or hi crossed; absent: seconds */
    int64_t at;                     /* evaluation time */
    int64_t active_since;           /* when the condition started to hold */
    uint64_t fingerprint;           /* pw_alert_fingerprint() */
    int64_t born;                   /* pw_alert.born */
    uint32_t seq;                   /* the alert's seq for this notification (pw_alert.seq); 0 = not
                                     * one of the alert's own transitions (alertmanager re-send rebuild):
                                     * never compared with or recorded in the delivery ledger */
} pw_notification;

/* The kind of a notification as the delivery ledger records it. */
enum { PW_NOTE_RESOLVED = 0, PW_NOTE_FIRING = 1, PW_NOTE_REPEAT = 2 };
static inline int pw_notification_kind(const pw_notification *n) {
    return n->firing ? (n->repeat ? PW_NOTE_REPEAT : PW_NOTE_FIRING) : PW_NOTE_RESOLVED;
}

/* Stable 64-bit hash of the rule name and the series labels (name=value in by
 * order). Identical across restarts, hosts and versions of pipewatch. */
uint64_t pw_alert_fingerprint(const pw_rule_def *r, const pw_metric_def *m, const char *const *label_vals);

/* Append the notification as one JSON object (no newline):
 * {"rule","state","severity","metric","labels":{series + rule labels},"value",
 *  "threshold","at","active_since","annotations":{...},"fingerprint"} */
void pw_notification_json(const pw_notification *n, pw_buf *out);

#endif
