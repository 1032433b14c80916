// Name resolution, for the XMPP link's diagnosis of a failed attempt.
#define _GNU_SOURCE
#include "cshims.h"
#include <netdb.h>
#include <string.h>
#include <sys/socket.h>

int ta_resolve(const char *host) {
    struct addrinfo hints, *list = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int code = getaddrinfo(host, NULL, &hints, &list);
    if (list) freeaddrinfo(list);
    return code;
}

const char *ta_gai_strerror(int code) { return gai_strerror(code); }
