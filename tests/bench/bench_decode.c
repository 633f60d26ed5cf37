/* bench_decode.c -- one timed pass over a JSON-lines file held in memory: the parse-only baselines.
 *
 *   bench_decode cjson   FILE           cJSON_ParseWithLength + cJSON_Delete per line
 *   bench_decode decoder FILE RULES...  pipewatch's pw_decoder_decode per line (the rule set's fieldset)
 *   bench_decode engine  FILE RULES...  pw_decoder_decode + pw_engine_event per line (replay without I/O)
 *
 * Design: the file is mapped (populated) and split into (pointer, length) lines before the clock
 * starts, so the timed loop measures parsing (and, in `engine` mode, the engine) and nothing else: no
 * read(2), no line splitting, no process start. Every line is parsed where it lies in the file buffer
 * (no copy; both parsers take a length and need no NUL). The decoder and engine are built from the same
 * rule files as `pipewatch replay`, so `decoder` decodes exactly the fields replay decodes, and `engine`
 * minus `decoder` is the engine's own cost per event. One pass per process: tests/bench/run starts it
 * once per run and takes the median, interleaved with the replay runs so that noise on a shared machine
 * hits every row alike.
 *
 * Output: one line of key=value pairs on stdout, the timed loop's wall time (CLOCK_MONOTONIC) and CPU
 * time (CLOCK_PROCESS_CPUTIME_ID: on a shared machine, the part of a core this process actually got):
 *   mode=cjson events=1000000 bytes=199663973 seconds=1.1630 events_per_s=859845 cpu_seconds=0.5712
 *   events_per_cpu_s=1750700 failed=0
 * A line that fails to parse is counted in `failed` (exit status 1 if any, as the generator's output is
 * all valid). Blank lines are skipped as replay skips them.
 *
 * Limits: lines end with '\n' only (a '\r' stays part of the line, which both parsers treat as
 * whitespace); the whole file must fit in memory (1M generated events: ~200 MB).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "engine.h"
#include "event.h"
#include "ruleset.h"

typedef struct line { const char *p; size_t n; } line;

static double clock_s(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Map the whole file, populated (read ahead) so that page faults on it stay out of the timed loop, and
 * privately so that the malloc heap the engine uses is not disturbed by a 200 MB buffer and its growth
 * (glibc moves its mmap threshold after a large free; replay never allocates such a block). */
static int map_file(const char *path, const char **buf, size_t *len) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) { fprintf(stderr, "bench_decode: open %s: %s\n", path, strerror(errno)); return -1; }
    struct stat st;
    if (fstat(fd, &st) < 0 || st.st_size == 0) {
        fprintf(stderr, "bench_decode: %s: empty or fstat failed\n", path);
        close(fd);
        return -1;
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    int saved = errno;
    close(fd);
    if (p == MAP_FAILED) { fprintf(stderr, "bench_decode: mmap %s: %s\n", path, strerror(saved)); return -1; }
    *buf = p;
    *len = (size_t)st.st_size;
    return 0;
}

/* Split buf into non-blank lines, in one array allocated once (counted first). Returns the count and
 * sets *out (malloc'ed), or returns 0 with *out NULL on allocation failure. */
static size_t split_lines(const char *buf, size_t len, line **out) {
    size_t cap = 1;
    for (const char *p = buf, *end = buf + len; (p = memchr(p, '\n', (size_t)(end - p))) != NULL; p++) cap++;
    line *v = malloc(cap * sizeof *v);
    size_t n = 0;
    const char *p = buf, *end = buf + len;
    while (v && p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end;
        const char *q = p;
        while (q < e && (*q == ' ' || *q == '\t' || *q == '\r')) q++;
        if (q < e) {
            v[n].p = p;
            v[n].n = (size_t)(e - p);
            n++;
        }
        p = e + 1;
    }
    *out = v;
    return n;
}

static uint64_t notifications;
static void on_notify(const pw_notification *n, void *ud) { (void)n; (void)ud; notifications++; }

int main(int argc, char **argv) {
    if (argc < 3 || (strcmp(argv[1], "cjson") && argc < 4)) {
        fprintf(stderr, "usage: bench_decode cjson FILE | bench_decode decoder|engine FILE RULES...\n");
        return 2;
    }
    const char *mode = argv[1];
    int m_cjson = !strcmp(mode, "cjson"), m_decoder = !strcmp(mode, "decoder");
    int m_engine = !strcmp(mode, "engine");
    if (!m_cjson && !m_decoder && !m_engine) {
        fprintf(stderr, "bench_decode: unknown mode '%s'\n", mode);
        return 2;
    }

    const char *buf;
    size_t len;
    if (map_file(argv[2], &buf, &len) < 0) return 1;
    line *lines;
    size_t n = split_lines(buf, len, &lines);
    if (!lines) { fprintf(stderr, "bench_decode: out of memory splitting lines\n"); return 1; }

    pw_ruleset *rs = NULL;
    pw_decoder *dec = NULL;
    pw_engine *eng = NULL;
    if (!m_cjson) {
        pw_diag diag;
        pw_diag_init(&diag);
        rs = pw_ruleset_load((const char *const *)argv + 3, argc - 3, NULL, &diag);
        pw_diag_print(&diag, stderr);
        pw_diag_free(&diag);
        if (!rs) return 1;
        /* The same decoder configuration as cmd_replay.c (max event size 1 MiB, depth 64). */
        pw_decoder_conf dc = {rs->type_slot, rs->time_slot, rs->id_slot, 1 << 20, 64};
        dec = pw_decoder_new(rs->fields, &dc);
        if (m_engine) eng = pw_engine_new(rs, NULL, on_notify, NULL);
        if (!dec || (m_engine && !eng)) { fprintf(stderr, "bench_decode: out of memory\n"); return 1; }
    }

    uint64_t failed = 0;
    double t0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
    if (m_cjson) {
        for (size_t i = 0; i < n; i++) {
            cJSON *j = cJSON_ParseWithLength(lines[i].p, lines[i].n);
            if (!j) failed++;
            cJSON_Delete(j);
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            pw_event ev;
            if (pw_decoder_decode(dec, lines[i].p, lines[i].n, &ev) != PW_EV_OK) { failed++; continue; }
            if (eng) pw_engine_event(eng, &ev);
        }
    }
    double secs = clock_s(CLOCK_MONOTONIC) - t0, cpu = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;

    printf("mode=%s events=%zu bytes=%zu seconds=%.4f events_per_s=%.0f cpu_seconds=%.4f "
           "events_per_cpu_s=%.0f failed=%llu", mode, n, len, secs, secs > 0 ? (double)n / secs : 0.0, cpu,
           cpu > 0 ? (double)n / cpu : 0.0, (unsigned long long)failed);
    if (eng) printf(" notifications=%llu", (unsigned long long)notifications);
    printf("\n");
    pw_engine_destroy(eng);
    pw_decoder_destroy(dec);
    pw_ruleset_destroy(rs);
    free(lines);
    munmap((void *)buf, len);
    return failed ? 1 : 0;
}
