// idle_ref.c: the reference for the idle-memory figure in bench/run.sh. It
// links the agent's shared libraries (bench/run.sh passes the agent's DT_NEEDED list; built with
// --no-as-needed so none is dropped) and does nothing but sleep. Built with -DLIBC_ONLY it
// links the C library alone: the second reference line.
#include <unistd.h>
#ifndef LIBC_ONLY
#include <systemd/sd-daemon.h>
#endif

int main(int argc, char **argv) {
    (void)argv;
#ifndef LIBC_ONLY
    if (argc > 99) return sd_notify(0, "READY=1");  // never: keeps the links honest
#else
    (void)argc;
#endif
    for (;;) pause();
}
