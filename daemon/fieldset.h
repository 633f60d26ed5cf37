/* fieldset.h -- the set of event field paths that a rule set reads.
 *
 * Every dotted path that any rule references (type/time/id fields, `where`,
 * `value`, `field`, `by`, pair keys) is interned once at load time and gets a
 * slot number. The event decoder fills one pw_value per slot, so evaluation
 * reads fields by index and never looks a name up per event.
 *
 * A path is split on '.': "customer.region" reaches {"customer":{"region":..}}.
 * Keys that themselves contain '.' cannot be addressed (documented limit).
 * Not thread-safe while interning; read-only (and shareable) after load.
 */
#ifndef PW_FIELDSET_H
#define PW_FIELDSET_H

typedef struct pw_fieldset pw_fieldset;

pw_fieldset *pw_fieldset_new(void);
void pw_fieldset_destroy(pw_fieldset *fs);               /* accepts NULL */
/* Slot of `path` (len bytes), interning it if new. -1 on allocation failure. */
int pw_fieldset_intern(pw_fieldset *fs, const char *path, int len);
/* Slot of an interned path, or -1. */
int pw_fieldset_find(const pw_fieldset *fs, const char *path, int len);
int pw_fieldset_count(const pw_fieldset *fs);
const char *pw_fieldset_path(const pw_fieldset *fs, int slot); /* NUL-terminated, borrowed */

#endif
