/* owner.c -- the owner lock's identity and verdict (see owner.h).
 *
 * Design: the value is text so that `redis-cli GET PREFIXowner` tells an operator who holds the prefix;
 * the judging is a pure function of two identities and one /proc reading, so it is tested as a table
 * (tests/unit/test_owner.c). The Redis side (SET NX PX, refresh, compare-and-replace, release) is
 * redis_store.c's; the daemon's use of it is server.c's.
 * Limits: Linux only (/proc); see owner.h for what cannot be judged.
 */
#include "owner.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "timeutil.h"

static void read_line(const char *path, char *out, size_t n) {
    out[0] = 0;
    FILE *f = fopen(path, "r");
    if (!f) return;
    if (!fgets(out, (int)n, f)) out[0] = 0;
    fclose(f);
    out[strcspn(out, "\n")] = 0;
}

unsigned long long pw_owner_proc_start(long pid) {
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *p = strrchr(buf, ')'); /* the command name may hold spaces and parentheses */
    if (!p) return 0;
    p++;
    /* after ')': field 3 (state) ... field 22 (starttime) is the 20th */
    for (int field = 3; field < 22 && *p; field++) {
        while (*p == ' ') p++;
        while (*p && *p != ' ') p++;
    }
    return strtoull(p, NULL, 10);
}

void pw_owner_self(pw_owner_id *me) {
    memset(me, 0, sizeof *me);
    if (gethostname(me->host, sizeof me->host - 1) < 0 || !me->host[0]) snprintf(me->host, sizeof me->host, "unknown");
    for (char *c = me->host; *c; c++)
        if (*c == ' ' || *c == ':' || (unsigned char)*c < 0x21 || (unsigned char)*c > 0x7e) *c = '_';
    me->pid = (long)getpid();
    uint64_t r = 0;
    if (getrandom(&r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r)
        r = (uint64_t)pw_time_now_ms() * 0x9E3779B97F4A7C15ULL ^ (uint64_t)me->pid << 32 ^ (uint64_t)clock();
    snprintf(me->nonce, sizeof me->nonce, "%016llx", (unsigned long long)r);
    me->since_ms = pw_time_now_ms();
    read_line("/proc/sys/kernel/random/boot_id", me->boot, sizeof me->boot);
    for (char *c = me->boot; *c; c++)
        if (*c == ' ' || *c == '=') *c = '_';
    char link[64];
    ssize_t k = readlink("/proc/self/ns/pid", link, sizeof link - 1);
    if (k > 0) {
        link[k] = 0;
        const char *b = strchr(link, '[');
        if (b) me->pidns = strtoull(b + 1, NULL, 10);
    }
    me->start = pw_owner_proc_start(me->pid);
}

void pw_owner_format(const pw_owner_id *id, char *out, size_t n) {
    snprintf(out, n, "%s:%ld:%s since=%lld boot=%s pidns=%llu start=%llu", id->host, id->pid, id->nonce,
             (long long)id->since_ms, id->boot[0] ? id->boot : "-", id->pidns, id->start);
}

int pw_owner_parse(const char *s, pw_owner_id *out) {
    memset(out, 0, sizeof *out);
    const char *sp = strchr(s, ' ');
    if (!sp) return -1;
    /* HOST:PID:NONCE, read from the right (the host has no ':' when we wrote it) */
    const char *c2 = NULL, *c1 = NULL;
    for (const char *p = sp - 1; p >= s; p--) {
        if (*p != ':') continue;
        if (!c2) c2 = p;
        else { c1 = p; break; }
    }
    if (!c1 || c1 == s || (size_t)(c1 - s) >= sizeof out->host || sp - c2 - 1 != 16) return -1;
    memcpy(out->host, s, (size_t)(c1 - s));
    char *end;
    out->pid = strtol(c1 + 1, &end, 10);
    if (end != c2 || out->pid <= 0) return -1;
    memcpy(out->nonce, c2 + 1, 16);
    long long since;
    char boot[40];
    unsigned long long pidns, start;
    int used = 0;
    if (sscanf(sp, " since=%lld boot=%39s pidns=%llu start=%llu%n", &since, boot, &pidns, &start, &used) != 4 ||
        sp[used] != 0)
        return -1;
    out->since_ms = since;
    snprintf(out->boot, sizeof out->boot, "%s", strcmp(boot, "-") ? boot : "");
    out->pidns = pidns;
    out->start = start;
    return 0;
}

pw_owner_verdict pw_owner_judge(const pw_owner_id *me, const pw_owner_id *h, unsigned long long holder_start,
                                const char **why) {
    const char *w;
    pw_owner_verdict v;
    if (strcmp(me->host, h->host)) {
        w = "it is on another host";
        v = PW_OWNER_UNKNOWN;
    } else if (!me->boot[0] || !h->boot[0]) {
        w = "this host's boot id is unknown";
        v = PW_OWNER_UNKNOWN;
    } else if (strcmp(me->boot, h->boot)) {
        w = "it ran in an earlier boot of this host";
        v = PW_OWNER_GONE;
    } else if (!me->pidns || me->pidns != h->pidns) {
        w = "it is in another pid namespace (another container?) on this host";
        v = PW_OWNER_UNKNOWN;
    } else if (!holder_start) {
        w = "its process no longer runs";
        v = PW_OWNER_GONE;
    } else if (!h->start) {
        w = "its process's start time is unknown";
        v = PW_OWNER_UNKNOWN;
    } else if (holder_start != h->start) {
        w = "its pid now belongs to another process";
        v = PW_OWNER_GONE;
    } else {
        w = "it is running on this host";
        v = PW_OWNER_RUNNING;
    }
    if (why) *why = w;
    return v;
}
