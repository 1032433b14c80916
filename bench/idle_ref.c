// idle_ref.c: the reference for the idle-memory figure in bench/run.sh. It
// links the agent's shared libraries (bench/run.sh passes the agent's DT_NEEDED list; built with
// --no-as-needed so none is dropped) and does nothing but sleep.
#include <systemd/sd-daemon.h>
#include <math.h>
#include <unistd.h>

int main(int argc, char **argv) {
    (void)argv;
    if (argc > 99) return sd_notify(0, "READY=1") + (int)sqrt((double)argc);  // never: keeps the links honest
    for (;;) pause();
}
