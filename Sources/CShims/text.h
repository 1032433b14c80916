// Short texts (paths under /proc, environment entries) built without the printf engine,
// which the idle agent otherwise called for these alone and which faulted ~120 KiB of libc
// into it (BENCHMARKS.md §3). Shared by the shims (not part of the module's API).
#pragma once
#include <stddef.h>
#include <stdint.h>

// A text being built in `buf` (capacity `cap`, at least 1): always NUL-terminated; `ok`
// turns 0 once a piece did not fit whole (and that piece is left out).
struct ta_text {
    char *buf;
    size_t cap, len;
    int ok;
};

struct ta_text ta_text_in(char *buf, size_t cap);
void ta_text_str(struct ta_text *t, const char *s);
void ta_text_uint(struct ta_text *t, uint64_t value);  // in decimal
