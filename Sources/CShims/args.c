// Command-line arguments for Embedded Swift, which has no CommandLine: glibc
// passes argc/argv to ELF constructors.
#include "cshims.h"

static int saved_argc;
static char **saved_argv;

__attribute__((constructor)) static void save_arguments(int argc, char **argv, char **envp) {
    (void)envp;
    saved_argc = argc;
    saved_argv = argv;
}

int ta_argc(void) { return saved_argc; }
const char *ta_argv(int index) { return index < saved_argc ? saved_argv[index] : 0; }
