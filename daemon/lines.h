/* lines.h -- bounded line reader for JSON-lines input (files, stdin).
 *
 * Reads large blocks and hands out lines without copying when a line fits in
 * the block. A line longer than max_line is not kept: it is skipped up to its
 * newline and reported as too long, so memory stays bounded by max_line
 * whatever the input holds. A final line without '\n' is still a line.
 * Not thread-safe; one reader per stream.
 */
#ifndef PW_LINES_H
#define PW_LINES_H

#include <stddef.h>
#include <stdio.h>

typedef struct pw_lines pw_lines;

/* f is borrowed (not closed by pw_lines_destroy). NULL on allocation failure. */
pw_lines *pw_lines_new(FILE *f, size_t max_line);
void pw_lines_destroy(pw_lines *l);

/* Next line without its '\n' (a trailing '\r' is kept: JSON treats it as
 * whitespace). Returns 1 and sets *line and *len (valid until the next call),
 * 2 for a line longer than max_line (*len = bytes seen so far, capped; *line
 * undefined), 0 at end of input, -1 on a read error (errno set). */
int pw_lines_next(pw_lines *l, const char **line, size_t *len);
/* 1-based number of the line last returned. */
unsigned long pw_lines_lineno(const pw_lines *l);

#endif
