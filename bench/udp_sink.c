// udp_sink.c: the reference for the ingest figure in bench/run.sh. A plain C
// loop that receives datagrams on 127.0.0.1:PORT (blocking recvfrom into a
// buffer, sender address taken, no parsing) and counts them; on SIGTERM it
// prints the count and exits.
// usage: udp_sink PORT
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static volatile sig_atomic_t stop;
static void on_term(int sig) { (void)sig; stop = 1; }

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: udp_sink PORT\n"); return 64; }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_term;  // no SA_RESTART: recvfrom returns EINTR
    sigaction(SIGTERM, &sa, NULL);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[1]))};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0) { perror("udp_sink"); return 71; }
    static char buf[2049];
    long long count = 0;
    while (!stop) {
        struct sockaddr_in from;
        socklen_t len = sizeof from;
        if (recvfrom(fd, buf, sizeof buf, MSG_TRUNC, (struct sockaddr *)&from, &len) >= 0) count++;
    }
    printf("%lld\n", count);
    return 0;
}
