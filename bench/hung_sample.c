// hung_sample.c: a supervised process that hangs, for bench/run.sh's
// restart-latency figure.
//
// usage: hung_sample PORT NAME LOGFILE
// Sends 3 heartbeats 20 ms apart (its own pid, run_command = how to start it
// again), then goes silent but stays alive. When the agent's SIGTERM comes it
// exits. It appends to LOGFILE, with CLOCK_MONOTONIC nanoseconds (the clock
// the agent's deadlines use):
//   start PID T   when it started
//   last PID T    just before sending its last heartbeat
//   term PID T    when SIGTERM arrived
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void record(const char *logfile, const char *what, int64_t t) {
    char line[128];
    int n = snprintf(line, sizeof line, "%s %d %lld\n", what, (int)getpid(), (long long)t);
    int fd = open(logfile, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd >= 0) { (void)!write(fd, line, n); close(fd); }
}

int main(int argc, char **argv) {
    int64_t started = now_ns();
    if (argc != 4) { fprintf(stderr, "usage: hung_sample PORT NAME LOGFILE\n"); return 64; }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigprocmask(SIG_BLOCK, &set, NULL);
    record(argv[3], "start", started);

    char msg[1024];
    int len = snprintf(msg, sizeof msg,
                       "{\"process_name\":\"%s\",\"pid\":%d,\"run_command\":\"exec %s %s %s %s\","
                       "\"version\":{\"major\":1,\"minor\":0,\"patch\":0}}",
                       argv[2], (int)getpid(), argv[0], argv[1], argv[2], argv[3]);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[1]))};
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int64_t last = 0;
    for (int i = 0; i < 3; i++) {
        if (i > 0) usleep(20000);
        last = now_ns();
        sendto(fd, msg, len, 0, (struct sockaddr *)&to, sizeof to);
    }
    record(argv[3], "last", last);

    int sig;
    sigwait(&set, &sig);
    record(argv[3], "term", now_ns());
    return 0;
}
