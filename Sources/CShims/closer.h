// What the shims that receive descriptors share with closer.c (not for Swift).
#pragma once
#include <sys/socket.h>

// The most descriptors one message can carry (the kernel's SCM_MAX_FD): a control buffer
// with room for them all receives every one, so none is dropped, and closed, by the kernel.
enum { TA_SCM_MAX_FD = 253 };

// ta_discard (cshims.h) for each descriptor the message carries (SCM_RIGHTS).
void ta_discard_passed(struct msghdr *msg);
