// Shared by the spawning shims (not part of the module's API).
#pragma once

// In a forked child before exec: the signal mask and SIGPIPE disposition
// the agent set for itself are not the child's. Async-signal-safe.
void ta_child_reset_signals(void);
