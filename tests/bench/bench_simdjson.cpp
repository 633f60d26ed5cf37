/* bench_simdjson.cpp -- the fastest-decoder baseline of issue 8: simdjson's DOM parser, parse only.
 *
 *   bench_simdjson FILE
 *
 * Design: the counterpart of `bench_decode cjson` (bench_decode.c), with the same output line so that
 * tests/bench/run reads both alike. The file is mapped (populated) and split into (pointer, length)
 * lines before the clock starts. In the timed loop each line is copied into one reused buffer with
 * simdjson::SIMDJSON_PADDING bytes of zeroed padding after it (simdjson reads up to that many bytes
 * past the end of its input; copying is what a consumer holding a Kafka message would have to do too)
 * and parsed in full by one reused simdjson::dom::parser (validating: UTF-8, structure, numbers,
 * strings; the whole document becomes a tape, nothing is skipped). Run-time CPU dispatch picks the
 * implementation (haswell, icelake, westmere, fallback); its name is printed as `impl=`.
 *
 * Built by tests/bench/run with c++ against Debian's libsimdjson-dev; not part of the daemon's build
 * (pipewatch itself is C and does not link simdjson; see README "Benchmarks" for the decision).
 *
 * Output: one line of key=value pairs on stdout, e.g.
 *   mode=simdjson impl=icelake events=1000000 bytes=199663973 seconds=0.2000 events_per_s=5000000
 *   cpu_seconds=0.2000 events_per_cpu_s=5000000 failed=0
 * A line that fails to parse is counted in `failed` (exit status 1 if any). Blank lines are skipped.
 * Limits: as bench_decode.c (lines end with '\n'; the whole file must fit in memory).
 */
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <simdjson.h>

namespace {

struct line {
    const char *p;
    size_t n;
};

double clock_s(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

}  // namespace

int main(int argc, char **argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: bench_simdjson FILE\n");
        return 2;
    }
    int fd = open(argv[1], O_RDONLY);
    if (fd < 0) {
        std::fprintf(stderr, "bench_simdjson: open %s: %s\n", argv[1], std::strerror(errno));
        return 1;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || st.st_size == 0) {
        std::fprintf(stderr, "bench_simdjson: %s: empty or fstat failed\n", argv[1]);
        return 1;
    }
    size_t len = (size_t)st.st_size;
    void *map = mmap(nullptr, len, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) {
        std::fprintf(stderr, "bench_simdjson: mmap %s: %s\n", argv[1], std::strerror(errno));
        return 1;
    }
    const char *buf = static_cast<const char *>(map);

    std::vector<line> lines;
    size_t longest = 0;
    for (const char *p = buf, *end = buf + len; p < end;) {
        const char *nl = static_cast<const char *>(std::memchr(p, '\n', (size_t)(end - p)));
        const char *e = nl ? nl : end;
        const char *q = p;
        while (q < e && (*q == ' ' || *q == '\t' || *q == '\r')) q++;
        if (q < e) {
            lines.push_back({p, (size_t)(e - p)});
            if ((size_t)(e - p) > longest) longest = (size_t)(e - p);
        }
        p = e + 1;
    }

    /* one padded buffer and one parser, both sized before the clock starts */
    std::vector<char> pad(longest + simdjson::SIMDJSON_PADDING, 0);
    simdjson::dom::parser parser;
    if (parser.allocate(longest) != simdjson::SUCCESS) {
        std::fprintf(stderr, "bench_simdjson: cannot allocate a parser for %zu bytes\n", longest);
        return 1;
    }

    unsigned long long failed = 0;
    double t0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
    for (const line &l : lines) {
        std::memcpy(pad.data(), l.p, l.n);
        std::memset(pad.data() + l.n, 0, simdjson::SIMDJSON_PADDING);
        simdjson::dom::element doc;
        if (parser.parse(pad.data(), l.n, false).get(doc) != simdjson::SUCCESS) failed++;
    }
    double secs = clock_s(CLOCK_MONOTONIC) - t0, cpu = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;

    size_t n = lines.size();
    std::printf("mode=simdjson impl=%s events=%zu bytes=%zu seconds=%.4f events_per_s=%.0f cpu_seconds=%.4f "
                "events_per_cpu_s=%.0f failed=%llu\n",
                simdjson::get_active_implementation()->name().c_str(), n, len, secs,
                secs > 0 ? (double)n / secs : 0.0, cpu, cpu > 0 ? (double)n / cpu : 0.0, failed);
    munmap(map, len);
    return failed ? 1 : 0;
}
