/* hash.h -- a fast 64-bit hash of byte strings for in-memory tables.
 *
 * Word at a time: 8 bytes per load (two overlapping loads for the tail, so a
 * string of 1..16 bytes costs two loads and one multiply whatever its
 * length), each pair of words folded with a 64x64->128-bit multiply whose two
 * halves are xored ("multiply-fold", the mixing step of the wyhash family,
 * written here from the idea, not copied). Quality: every input byte reaches
 * every output bit through at least one full multiply; good enough for
 * open-addressing tables keyed on the full 64 bits or verified by a compare.
 * NOT a cryptographic hash: an adversary who knows the constants can build
 * collisions (tables that hash untrusted text stay correct, only slower).
 *
 * The values are not stable across versions of pipewatch: never persist them
 * (snapshots store hashes made by engine.c's stable FNV-1a instead).
 *
 * Loads never read outside p[0..n): safe on buffers that are not padded.
 */
#ifndef PW_HASH_H
#define PW_HASH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define PW_HASH_K0 0xa0761d6478bd642fULL
#define PW_HASH_K1 0xe7037ed1a0b428dbULL
#define PW_HASH_K2 0x8ebc6af09c88c6e3ULL

static inline uint64_t pw_hash_fold(uint64_t a, uint64_t b) {
#if defined(__SIZEOF_INT128__)
    __uint128_t r = (__uint128_t)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
#else
    /* portable fallback: two 32x32->64 products per half, then a xorshift-multiply */
    uint64_t lo = (a & 0xffffffffu) * (b >> 32) ^ (a >> 32) * (b & 0xffffffffu);
    uint64_t h = a * b ^ (lo << 32 | lo >> 32);
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ULL;
    return h ^ (h >> 32);
#endif
}

static inline uint64_t pw_hash_rd64(const unsigned char *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static inline uint64_t pw_hash_rd32(const unsigned char *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* Hash of p[0..n) continuing from seed (chain calls to hash several strings:
 * the length is mixed in, so "ab"+"c" and "a"+"bc" differ). */
static inline uint64_t pw_hash_bytes(const void *data, size_t n, uint64_t seed) {
    const unsigned char *p = data;
    uint64_t h = seed ^ PW_HASH_K0 ^ ((uint64_t)n * PW_HASH_K2);
    uint64_t a, b;
    if (n <= 16) {
        if (n >= 8) {
            a = pw_hash_rd64(p);
            b = pw_hash_rd64(p + n - 8);
        } else if (n >= 4) {
            a = pw_hash_rd32(p);
            b = pw_hash_rd32(p + n - 4);
        } else if (n > 0) {
            a = (uint64_t)p[0] << 16 | (uint64_t)p[n >> 1] << 8 | p[n - 1];
            b = 0;
        } else {
            a = b = 0;
        }
    } else {
        size_t i = n;
        while (i > 16) {
            h = pw_hash_fold(pw_hash_rd64(p) ^ PW_HASH_K1, pw_hash_rd64(p + 8) ^ h);
            p += 16;
            i -= 16;
        }
        a = pw_hash_rd64(p + i - 16);
        b = pw_hash_rd64(p + i - 8);
    }
    return pw_hash_fold(a ^ PW_HASH_K1, b ^ h) ^ h;
}

/* a[0..n) == b[0..n), for the short keys that hash tables compare after a hash match: two
 * overlapping word loads per side up to 16 bytes (never outside the n bytes), memcmp beyond. */
static inline int pw_bytes_eq(const void *a, const void *b, size_t n) {
    const unsigned char *x = a, *y = b;
    if (n >= 8) {
        if (n > 16) return memcmp(x, y, n) == 0;
        return pw_hash_rd64(x) == pw_hash_rd64(y) && pw_hash_rd64(x + n - 8) == pw_hash_rd64(y + n - 8);
    }
    if (n >= 4) return pw_hash_rd32(x) == pw_hash_rd32(y) && pw_hash_rd32(x + n - 4) == pw_hash_rd32(y + n - 4);
    for (size_t i = 0; i < n; i++)
        if (x[i] != y[i]) return 0;
    return 1;
}

/* Final avalanche for using the low bits of a chained hash as a table slot. */
static inline uint64_t pw_hash_final(uint64_t h) { return pw_hash_fold(h ^ PW_HASH_K0, PW_HASH_K1); }

#endif
