/* fieldset.c -- interned field paths -> slot numbers.
 *
 * Design: a plain array searched linearly at intern time. Rule sets reference
 * tens of paths, and interning happens only while loading, never per event,
 * so a hash table would buy nothing.
 */
#include "fieldset.h"

#include <stdlib.h>
#include <string.h>

struct pw_fieldset {
    char **paths;
    int n, cap;
};

pw_fieldset *pw_fieldset_new(void) { return calloc(1, sizeof(pw_fieldset)); }

void pw_fieldset_destroy(pw_fieldset *fs) {
    if (!fs) return;
    for (int i = 0; i < fs->n; i++) free(fs->paths[i]);
    free(fs->paths);
    free(fs);
}

int pw_fieldset_find(const pw_fieldset *fs, const char *path, int len) {
    for (int i = 0; i < fs->n; i++)
        if ((int)strlen(fs->paths[i]) == len && memcmp(fs->paths[i], path, (size_t)len) == 0) return i;
    return -1;
}

int pw_fieldset_intern(pw_fieldset *fs, const char *path, int len) {
    int i = pw_fieldset_find(fs, path, len);
    if (i >= 0) return i;
    if (fs->n == fs->cap) {
        int cap = fs->cap ? fs->cap * 2 : 16;
        char **p = realloc(fs->paths, (size_t)cap * sizeof *p);
        if (!p) return -1;
        fs->paths = p;
        fs->cap = cap;
    }
    char *s = malloc((size_t)len + 1);
    if (!s) return -1;
    memcpy(s, path, (size_t)len);
    s[len] = 0;
    fs->paths[fs->n] = s;
    return fs->n++;
}

int pw_fieldset_count(const pw_fieldset *fs) { return fs->n; }

const char *pw_fieldset_path(const pw_fieldset *fs, int slot) {
    return slot >= 0 && slot < fs->n ? fs->paths[slot] : NULL;
}
