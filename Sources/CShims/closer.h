// What the shims that receive descriptors share with closer.c (not for Swift).
#pragma once
#include <sys/socket.h>

// The most descriptors one message can carry (the kernel's SCM_MAX_FD): a control buffer
// with room for them all receives every one, so none is dropped, and closed, by the kernel.
enum { TA_SCM_MAX_FD = 253 };

// The first `max` descriptors the message carries (SCM_RIGHTS) into `fds` (`*count` of
// them); ta_discard (cshims.h) for the others: never leaked, never closed by the loop.
void ta_take_passed(struct msghdr *msg, int *fds, int max, int *count);
