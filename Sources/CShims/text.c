// Short texts without the printf engine: text.h.
#include "text.h"
#include <string.h>

struct ta_text ta_text_in(char *buf, size_t cap) {
    buf[0] = 0;
    return (struct ta_text){.buf = buf, .cap = cap, .len = 0, .ok = 1};
}

void ta_text_str(struct ta_text *t, const char *s) {
    size_t n = strlen(s);
    if (!t->ok || n >= t->cap - t->len) {
        t->ok = 0;
        return;
    }
    memcpy(t->buf + t->len, s, n + 1);
    t->len += n;
}

void ta_text_uint(struct ta_text *t, uint64_t value) {
    char digits[21];
    char *p = digits + sizeof digits - 1;
    *p = 0;
    do *--p = (char)('0' + value % 10); while (value /= 10);
    ta_text_str(t, p);
}
