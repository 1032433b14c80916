// hb_sender.c: a heartbeat sender for bench/run.sh. One UDP socket (or, with
// -u, one Unix datagram socket), its own pid in every datagram (so the agent
// can verify it), a fixed datagram:
//   {"process_name":NAME,"pid":PID,"run_command":CMD,"version":{"major":1,"minor":0,"patch":0}}
//
// usage: hb_sender -p PORT [-u PATH] [-n NAME] [-c COUNT] [-r RATE] [-q KIB] [-t SECONDS] [-w WARMUP] [-g] [-C CMD | -A] [-V X.Y.Z]
//   -u PATH     send to the agent's Unix socket PATH (wdog/heartbeat.sock), blocking:
//               a full queue makes the sender wait, so nothing is dropped
//   -c COUNT    heartbeats to send (default: no limit)
//   -r RATE     heartbeats per second, fractions allowed (0: as fast as possible)
//   -q KIB      flow control: before each burst of 32, wait while the receiving
//               socket (127.0.0.1:PORT in /proc/net/udp) has more than KIB KiB
//               queued, so the kernel never drops (its buffer holds ~208 KiB)
//   -t SECONDS  stop after this long (default: no limit)
//   -w WARMUP   first send WARMUP heartbeats, 10 ms apart (registration)
//   -g          after the warm-up print "ready" and wait for a line on stdin
//   -C CMD      the run_command sent (default "/bin/sleep 3600")
//   -A          the run_command sent is this program's own command line (arguments
//               joined by spaces: none may hold a space), so that the agent restarts it
//               as it is (tests/soak)
//   -V X.Y.Z    the version sent (default 1.0.0)
// Prints "sent N errors E seconds S rate R" at the end.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

// Bytes queued on the socket bound to 127.0.0.1:port, from /proc/net/udp.
static long queued(int fd, int port) {
    static char buf[1 << 16];
    char key[32];
    snprintf(key, sizeof key, ": 0100007F:%04X ", port);  // the local address, not a remote one
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    if (n <= 0) return 0;
    buf[n] = 0;
    char *line = strstr(buf, key);
    unsigned long tx, rx;
    if (!line || sscanf(line + 2, "%*s %*s %*s %lx:%lx", &tx, &rx) != 2) return 0;
    return (long)rx;
}

static void sleep_until(int64_t t) {
    struct timespec ts = {t / 1000000000, t % 1000000000};
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
}

int main(int argc, char **argv) {
    int port = 0, gate = 0, queue_kib = 0;
    long long count = -1, warmup = 0;
    double rate = 0, seconds = 0;
    const char *name = "bench", *cmd = "/bin/sleep 3600", *unix_path = NULL;
    unsigned major = 1, minor = 0, patch = 0;
    char self[512] = "";
    for (int c; (c = getopt(argc, argv, "p:u:n:c:r:q:t:w:gC:AV:")) != -1;) {
        switch (c) {
        case 'p': port = atoi(optarg); break;
        case 'u': unix_path = optarg; break;
        case 'n': name = optarg; break;
        case 'c': count = atoll(optarg); break;
        case 'r': rate = atof(optarg); break;
        case 'q': queue_kib = atoi(optarg); break;
        case 't': seconds = atof(optarg); break;
        case 'w': warmup = atoll(optarg); break;
        case 'g': gate = 1; break;
        case 'C': cmd = optarg; break;
        case 'A':
            for (int i = 0; i < argc; i++) {
                size_t used = strlen(self);
                if (snprintf(self + used, sizeof self - used, "%s%s", i ? " " : "", argv[i]) >= (int)(sizeof self - used)) {
                    fprintf(stderr, "hb_sender: command line too long for -A\n");
                    return 64;
                }
            }
            cmd = self;
            break;
        case 'V':
            if (sscanf(optarg, "%u.%u.%u", &major, &minor, &patch) != 3) { fprintf(stderr, "hb_sender: -V wants X.Y.Z\n"); return 64; }
            break;
        default: fprintf(stderr, "usage: see the comment at the top of hb_sender.c\n"); return 64;
        }
    }
    if (port <= 0) { fprintf(stderr, "hb_sender: -p PORT is required\n"); return 64; }

    char msg[1024];
    int len = snprintf(msg, sizeof msg,
                       "{\"process_name\":\"%s\",\"pid\":%d,\"run_command\":\"%s\","
                       "\"version\":{\"major\":%u,\"minor\":%u,\"patch\":%u}}",
                       name, (int)getpid(), cmd, major, minor, patch);
    int fd;
    if (unix_path) {
        struct sockaddr_un to = {.sun_family = AF_UNIX};
        snprintf(to.sun_path, sizeof to.sun_path, "%s", unix_path);
        fd = socket(AF_UNIX, SOCK_DGRAM, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&to, sizeof to) != 0) { perror("hb_sender"); return 71; }
        queue_kib = 0;  // /proc/net/udp says nothing about it; blocking sends pace it
    } else {
        struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(port)};
        to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        fd = socket(AF_INET, SOCK_DGRAM, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&to, sizeof to) != 0) { perror("hb_sender"); return 71; }
    }

    long long sent = 0, errors = 0;
    for (long long i = 0; i < warmup; i++) {
        if (send(fd, msg, len, 0) != len) errors++;
        usleep(10000);
    }
    if (gate) {
        char line[64];
        printf("ready\n");
        fflush(stdout);
        if (!fgets(line, sizeof line, stdin)) return 0;
    }

    // Paced in bursts of up to 32 datagrams (a ~256-datagram socket buffer
    // absorbs them); slow rates send one at a time.
    int burst = rate >= 10000 || rate == 0 ? 32 : 1;
    int proc = queue_kib > 0 ? open("/proc/net/udp", O_RDONLY | O_CLOEXEC) : -1;
    long waits = 0;
    int64_t period = rate > 0 ? (int64_t)(1e9 * burst / rate) : 0;
    int64_t start = now_ns(), next = start;
    int64_t stop = seconds > 0 ? start + (int64_t)(seconds * 1e9) : INT64_MAX;
    while (count < 0 || sent < count) {
        if (proc >= 0) {
            while (queued(proc, port) > queue_kib * 1024L && now_ns() < stop) {
                waits++;
                struct timespec pause = {0, 20000};
                nanosleep(&pause, NULL);
            }
        }
        for (int b = 0; b < burst && (count < 0 || sent < count); b++) {
            if (send(fd, msg, len, 0) == len) sent++; else errors++;
        }
        if (period > 0) {
            next += period;
            int64_t t = now_ns();
            if (t >= stop) break;
            if (next > t) sleep_until(next);
            else if (t - next > 100000000) next = t;  // fell far behind: don't burst
        } else if (sent % 1024 < (long long)burst && now_ns() >= stop) {
            break;
        }
    }
    double elapsed = (now_ns() - start) / 1e9;
    printf("sent %lld errors %lld seconds %.6f rate %.0f queue_waits %ld\n", sent, errors, elapsed, sent / elapsed, waits);
    fflush(stdout);
    if (gate) {  // stay alive (and registered) until told to go
        char line[64];
        if (!fgets(line, sizeof line, stdin)) return 0;
    }
    return 0;
}
