// dummy.c: the one supervised process for bench/compare.py, the same for
// tinyagent, monit and supervisord.
//
// usage: dummy LOGFILE [--port P --name N] [--touch FILE] [--pidfile FILE]
//              [--interval-ms MS] [--hang-after-ms MS]
// Every interval (default 1000 ms) it sends a heartbeat to 127.0.0.1:P (its own
// pid, run_command = how to start it again) and/or touches FILE, until
// --hang-after-ms; then it stays alive but silent (a hang). SIGTERM ends it.
// It appends CLOCK_MONOTONIC nanoseconds to LOGFILE: "start PID T",
// "hang PID T" (when it went silent), "term PID T".
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void record(const char *logfile, const char *what) {
    char line[128];
    int n = snprintf(line, sizeof line, "%s %d %lld\n", what, (int)getpid(), (long long)now_ns());
    int fd = open(logfile, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd >= 0) { (void)!write(fd, line, n); close(fd); }
}

static volatile sig_atomic_t terminated;
static void on_term(int sig) { (void)sig; terminated = 1; }

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: dummy LOGFILE [options]\n"); return 64; }
    const char *log = argv[1], *name = "dummy", *touch = NULL, *pidfile = NULL;
    int port = 0;
    long interval_ms = 1000, hang_after_ms = -1;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--port")) port = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--name")) name = argv[i + 1];
        else if (!strcmp(argv[i], "--touch")) touch = argv[i + 1];
        else if (!strcmp(argv[i], "--pidfile")) pidfile = argv[i + 1];
        else if (!strcmp(argv[i], "--interval-ms")) interval_ms = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--hang-after-ms")) hang_after_ms = atol(argv[i + 1]);
        else { fprintf(stderr, "dummy: unknown option %s\n", argv[i]); return 64; }
    }
    struct sigaction sa = {.sa_handler = on_term};
    sigaction(SIGTERM, &sa, NULL);
    record(log, "start");
    if (pidfile) {
        FILE *f = fopen(pidfile, "w");
        if (f) { fprintf(f, "%d\n", (int)getpid()); fclose(f); }
    }
    // run_command: this command line again, quoted for sh.
    char command[768] = "exec";
    for (int i = 0; i < argc; i++) {
        size_t used = strlen(command);
        snprintf(command + used, sizeof command - used, " '%s'", argv[i]);
    }
    char msg[1024];
    int len = snprintf(msg, sizeof msg,
                       "{\"process_name\":\"%s\",\"pid\":%d,\"run_command\":\"%s\","
                       "\"version\":{\"major\":1,\"minor\":0,\"patch\":0}}", name, (int)getpid(), command);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(port)};
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int64_t started = now_ns(), hang_at = hang_after_ms < 0 ? -1 : started + hang_after_ms * 1000000;
    int hung = 0;
    while (!terminated) {
        if (hang_at >= 0 && now_ns() >= hang_at && !hung) { record(log, "hang"); hung = 1; }
        if (!hung) {
            if (port) sendto(fd, msg, len, 0, (struct sockaddr *)&to, sizeof to);
            if (touch) { int t = open(touch, O_WRONLY | O_CREAT | O_CLOEXEC, 0644); if (t >= 0) { futimens(t, NULL); close(t); } }
        }
        struct timespec pause = {interval_ms / 1000, (interval_ms % 1000) * 1000000};
        nanosleep(&pause, NULL);
    }
    record(log, "term");
    return 0;
}
