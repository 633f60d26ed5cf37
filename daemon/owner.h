/* owner.h -- who owns a Redis key prefix: the identity a daemon writes into its owner lock, and how a
 * starting daemon judges a lock it finds held.
 *
 * Why: two daemons sharing one `redis.key_prefix` would overwrite each other's snapshots and delivery
 * ledger. At start the daemon takes PREFIX owner (SET NX PX, redis_store.h), refreshes it while it runs
 * and releases it at an orderly stop (server.c; README "Snapshots", "One daemon per prefix").
 *
 * The value names the holder precisely: "HOST:PID:NONCE since=MS boot=BOOT_ID pidns=INODE start=TICKS"
 * (host name, process id, 64 random bits; when it took the lock, the kernel's boot id, the inode of its
 * pid namespace and the process's start time in clock ticks since boot, from /proc). After a kill -9 the
 * lock stays until it expires; a restarted daemon does not wait for that when it can tell the holder is
 * gone: same host, same boot and same pid namespace (systemd restarting it, or an operator): the holder's
 * pid no longer runs, or runs another process (another start time); same host name and another boot: that
 * boot is over. Anything else (another host, another pid namespace, a value it cannot read) cannot be
 * judged from here: the daemon refuses to start, with the holder and when its lock expires.
 *
 * Limits: the host name is the machine's identity; two machines (or containers with host networking) with
 * the same host name and another boot id would each take the other's lock as one of an earlier boot (the
 * daemon that loses it stops writing and says so, see server.c).
 */
#ifndef PW_OWNER_H
#define PW_OWNER_H

#include <stddef.h>
#include <stdint.h>

typedef struct pw_owner_id {
    char host[256];
    long pid;
    char nonce[17];             /* 16 hex digits */
    int64_t since_ms;           /* wall ms when it took the lock */
    char boot[40];              /* /proc/sys/kernel/random/boot_id, "" if unknown */
    unsigned long long pidns;   /* inode of /proc/self/ns/pid, 0 if unknown */
    unsigned long long start;   /* /proc/PID/stat field 22, 0 if unknown */
} pw_owner_id;

/* This process (reads /proc; a random nonce). */
void pw_owner_self(pw_owner_id *me);
/* The lock's value (NUL-terminated, < PW_OWNER_VALUE_MAX). */
#define PW_OWNER_VALUE_MAX 512
void pw_owner_format(const pw_owner_id *id, char *out, size_t n);
/* Parse a value written by pw_owner_format. 0, or -1 if it is not one. */
int pw_owner_parse(const char *s, pw_owner_id *out);

typedef enum pw_owner_verdict {
    PW_OWNER_RUNNING = 0,       /* the holder runs (same host, boot, pid namespace, pid and start time) */
    PW_OWNER_GONE,              /* it cannot be running any more: take the lock over */
    PW_OWNER_UNKNOWN            /* cannot tell from here (another host or pid namespace) */
} pw_owner_verdict;
/* Pure. holder_start: the start time of the holder's pid in this pid namespace now (0: no such process),
 * as pw_owner_proc_start gives. *why (may be NULL): a static phrase for the log. */
pw_owner_verdict pw_owner_judge(const pw_owner_id *me, const pw_owner_id *holder, unsigned long long holder_start,
                                const char **why);
/* The start time of pid here (/proc/PID/stat field 22), 0 if there is no such process. */
unsigned long long pw_owner_proc_start(long pid);

#endif
