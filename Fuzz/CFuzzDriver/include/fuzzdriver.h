#ifndef TA_FUZZDRIVER_H
#define TA_FUZZDRIVER_H

#include <stddef.h>
#include <stdint.h>

/// Runs libFuzzer (`LLVMFuzzerRunDriver`) with `test` as the target and the
/// process's arguments as its options. SwiftPM renames a Swift executable's
/// entry point to `<module>_main` and points `main` at it, so libFuzzer's own
/// `main` is never linked; each target's `<module>_main` calls this instead.
int ta_fuzz_run(int argc, char **argv, int (*test)(const uint8_t *data, size_t size));

#endif
