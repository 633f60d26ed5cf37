/* test_owner.c -- the owner lock's identity and verdict (owner.h): the value round-trips, foreign or
 * damaged values are not read as ours, and a starting daemon takes a lock over only when its holder cannot
 * be running any more. The Redis side runs in tests/scenarios/snapshot_owner.sh against a real redis-server.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "owner.h"

Test(owner, self_reads_this_process) {
    pw_owner_id me;
    pw_owner_self(&me);
    cr_expect_eq(me.pid, (long)getpid());
    cr_expect(me.host[0] && !strchr(me.host, ':') && !strchr(me.host, ' '), "host '%s'", me.host);
    cr_expect_eq(strlen(me.nonce), 16);
    cr_expect(me.boot[0], "boot id read from /proc");
    cr_expect(me.pidns > 0, "pid namespace read from /proc");
    cr_expect(me.start > 0 && me.start == pw_owner_proc_start(me.pid));
    pw_owner_id other;
    pw_owner_self(&other);
    cr_expect(strcmp(me.nonce, other.nonce), "two takes of the identity differ by their nonce");
}

Test(owner, value_round_trips) {
    pw_owner_id me, back;
    pw_owner_self(&me);
    char v[PW_OWNER_VALUE_MAX];
    pw_owner_format(&me, v, sizeof v);
    cr_assert_eq(pw_owner_parse(v, &back), 0, "%s", v);
    cr_expect_str_eq(back.host, me.host);
    cr_expect_eq(back.pid, me.pid);
    cr_expect_str_eq(back.nonce, me.nonce);
    cr_expect_eq(back.since_ms, me.since_ms);
    cr_expect_str_eq(back.boot, me.boot);
    cr_expect_eq(back.pidns, me.pidns);
    cr_expect_eq(back.start, me.start);
    char host_with_colon[] = "db:1:0123456789abcdef since=5 boot=b pidns=7 start=9";
    cr_expect_eq(pw_owner_parse(host_with_colon, &back), 0);
    cr_expect_str_eq(back.host, "db");
    cr_expect_eq(back.pid, 1);
}

Test(owner, foreign_values_are_not_read) {
    const char *bad[] = {
        "", "pipewatch", "somehost:12:0123456789abcdef", /* no fields */
        "somehost:12:0123 since=1 boot=b pidns=1 start=1",                  /* short nonce */
        "somehost:x:0123456789abcdef since=1 boot=b pidns=1 start=1",       /* pid */
        ":12:0123456789abcdef since=1 boot=b pidns=1 start=1",              /* no host */
        "somehost:12:0123456789abcdef since=1 boot=b pidns=1",              /* missing field */
        "somehost:12:0123456789abcdef since=1 boot=b pidns=1 start=1 more", /* trailing text */
        "12:0123456789abcdef since=1 boot=b pidns=1 start=1",               /* one colon */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        pw_owner_id id;
        cr_expect_eq(pw_owner_parse(bad[i], &id), -1, "accepted '%s'", bad[i]);
    }
}

static pw_owner_id id(const char *host, const char *boot, unsigned long long pidns, long pid, unsigned long long start) {
    pw_owner_id x;
    memset(&x, 0, sizeof x);
    snprintf(x.host, sizeof x.host, "%s", host);
    snprintf(x.boot, sizeof x.boot, "%s", boot);
    x.pidns = pidns;
    x.pid = pid;
    x.start = start;
    return x;
}

Test(owner, verdicts) {
    pw_owner_id me = id("db1", "boot-a", 7, 100, 5000);
    struct {
        pw_owner_id holder;
        unsigned long long now_start; /* the holder's pid's start time here now (0: no such process) */
        pw_owner_verdict want;
        const char *why;
    } rows[] = {
        {id("db1", "boot-a", 7, 42, 4000), 4000, PW_OWNER_RUNNING, "it is running on this host"},
        {id("db1", "boot-a", 7, 42, 4000), 0, PW_OWNER_GONE, "its process no longer runs"},           /* kill -9 */
        {id("db1", "boot-a", 7, 42, 4000), 4900, PW_OWNER_GONE, "its pid now belongs to another process"},
        {id("db1", "boot-a", 7, 42, 0), 4900, PW_OWNER_UNKNOWN, "its process's start time is unknown"},
        {id("db1", "boot-z", 7, 42, 4000), 4000, PW_OWNER_GONE, "it ran in an earlier boot of this host"},
        {id("db1", "boot-a", 8, 42, 4000), 0, PW_OWNER_UNKNOWN, "it is in another pid namespace (another container?) on this host"},
        {id("db2", "boot-a", 7, 42, 4000), 0, PW_OWNER_UNKNOWN, "it is on another host"},
        {id("db1", "", 7, 42, 4000), 0, PW_OWNER_UNKNOWN, "this host's boot id is unknown"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
        const char *why = NULL;
        pw_owner_verdict v = pw_owner_judge(&me, &rows[i].holder, rows[i].now_start, &why);
        cr_expect_eq(v, rows[i].want, "row %zu: verdict %d", i, (int)v);
        cr_expect_str_eq(why, rows[i].why, "row %zu", i);
    }
}

/* A real process that exited: its pid has no start time any more (the kill -9 case, judged from /proc). */
Test(owner, a_process_that_exited_is_gone) {
    pid_t child = fork();
    if (child == 0) _exit(0);
    cr_assert(child > 0);
    pw_owner_id me, h;
    pw_owner_self(&me);
    h = me;
    h.pid = child;
    h.start = pw_owner_proc_start(child); /* a zombie until reaped: still listed */
    cr_expect(h.start > 0);
    cr_expect_eq(pw_owner_judge(&me, &h, pw_owner_proc_start(child), NULL), PW_OWNER_RUNNING);
    waitpid(child, NULL, 0);
    cr_expect_eq(pw_owner_proc_start(child), 0);
    cr_expect_eq(pw_owner_judge(&me, &h, pw_owner_proc_start(child), NULL), PW_OWNER_GONE);
}
