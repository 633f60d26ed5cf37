/* lines.h -- bounded line reader for JSON-lines input (files, stdin).
 *
 * A regular file (also a file redirected to stdin) is memory-mapped and lines
 * are handed out as pointers into the mapping: no copy, no read(2). Anything
 * else (a pipe, a terminal, a FILE without a descriptor) is read in large
 * blocks, and lines are handed out without copying when they fit in the
 * block. Both modes return the same lines. A line longer than max_line is not
 * kept: it is skipped up to its newline and reported as too long, so the
 * reader's memory stays bounded by max_line whatever the input holds (mapped
 * pages already consumed are released as the reader moves on, so RSS does not
 * grow with the file either). A final line without '\n' is still a line.
 * Not thread-safe; one reader per stream.
 */
#ifndef PW_LINES_H
#define PW_LINES_H

#include <stddef.h>
#include <stdio.h>

typedef struct pw_lines pw_lines;

/* f is borrowed (not closed by pw_lines_destroy) and must not be read by the
 * caller meanwhile. Reading starts at f's current position. NULL on
 * allocation failure. */
pw_lines *pw_lines_new(FILE *f, size_t max_line);
void pw_lines_destroy(pw_lines *l);

/* Next line without its '\n' (a trailing '\r' is kept: JSON treats it as
 * whitespace). Returns 1 and sets *line and *len (valid until the next call),
 * 2 for a line longer than max_line (*len = its length as far as read, at
 * least max_line + 1; *line undefined), 0 at end of input, -1 on a read error
 * (errno set). */
int pw_lines_next(pw_lines *l, const char **line, size_t *len);
/* The rest of a mapped input, to find the next line without a separate scan
 * for its end (the event decoder's pw_decoder_decode_line does it while
 * parsing): returns the bytes left from the next unread one (*rest), 0 at the
 * end or if the input is not mapped (then use pw_lines_next). The caller
 * passes the length of the line it found (without its '\n', at most what
 * peek returned) to pw_lines_skip, which consumes the line and its '\n' and
 * counts it; or it calls pw_lines_next, which returns the same line. */
size_t pw_lines_peek(pw_lines *l, const char **rest);
void pw_lines_skip(pw_lines *l, size_t len);
/* 1-based number of the line last returned. */
unsigned long pw_lines_lineno(const pw_lines *l);
/* 1 if the input is read through a memory mapping (for tests). */
int pw_lines_mapped(const pw_lines *l);

#endif
