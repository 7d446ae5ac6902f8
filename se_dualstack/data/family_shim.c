/* se_dualstack family shim: LD_PRELOADed into ONE gfal2 worker process to force one address family.
 *
 * Why: gfal2 2.21 has no real switch for gsiftp (IPV6=true only prefers IPv6) or davs (none at all),
 * and a real site has no single-family DNS aliases. This shim makes the worker behave like a host
 * that only has the forced family, for every library in the process (globus, davix, XrdCl):
 *
 *   getaddrinfo(): AF_UNSPEC lookups become lookups of the forced family; AI_V4MAPPED is dropped
 *                  when IPv6 is forced; answers of the other family on the wire are removed.
 *   connect():     a TCP connect to the other family on the wire (IPv4-mapped IPv6 counts as IPv4)
 *                  fails with ENETUNREACH, as on a host without that family; UDP (DNS) is untouched.
 *
 * Every TCP connect and every refusal is appended to $SE6_CONNLOG as one line
 * "connect|refused <wire family> <address> <port> <rc> <errno>", the worker's record of the addresses
 * it used. SE6_FAMILY=4|6 selects the family; anything else makes the shim a pass-through.
 *
 * SE6_PIN=name=address[,name=address...] pins names to one address each: getaddrinfo() for a pinned
 * name answers that address only (as if DNS published nothing else), so a transfer tests exactly one
 * of a name's A/AAAA records while URLs and TLS/GSI name checks keep the name.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

static int want;        /* 4, 6, or 0 = pass-through */
static int logfd = -1;

#define SE6_MAXPIN 16
static char pin_name[SE6_MAXPIN][256];
static char pin_addr[SE6_MAXPIN][INET6_ADDRSTRLEN];
static int npins;

static void parse_pins(const char *spec)
{
    char buf[4096];
    if (!spec || !*spec || strlen(spec) >= sizeof buf)
        return;
    strcpy(buf, spec);
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok && npins < SE6_MAXPIN; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        if (!eq || eq == tok || strlen(tok) >= sizeof pin_name[0] || strlen(eq + 1) >= sizeof pin_addr[0])
            continue;
        *eq = '\0';
        if (eq - tok > 1 && eq[-1] == '.')
            eq[-1] = '\0';
        strcpy(pin_name[npins], tok);
        strcpy(pin_addr[npins], eq + 1);
        npins++;
    }
}

/* The pinned address of a name (a trailing dot and letter case do not matter), or NULL. */
static const char *pinned(const char *node)
{
    size_t n = strlen(node);
    if (n && node[n - 1] == '.')
        n--;
    for (int i = 0; i < npins; i++)
        if (strlen(pin_name[i]) == n && strncasecmp(pin_name[i], node, n) == 0)
            return pin_addr[i];
    return NULL;
}

__attribute__((constructor)) static void se6_init(void)
{
    const char *f = getenv("SE6_FAMILY");
    want = f ? atoi(f) : 0;
    if (want != 4 && want != 6)
        want = 0;
    const char *p = getenv("SE6_CONNLOG");
    if (p && *p)
        logfd = open(p, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    parse_pins(getenv("SE6_PIN"));
}

/* 4 or 6 as seen on the wire, 0 for anything that is not IP. */
static int wire_family(const struct sockaddr *sa)
{
    if (!sa)
        return 0;
    if (sa->sa_family == AF_INET)
        return 4;
    if (sa->sa_family == AF_INET6)
        return IN6_IS_ADDR_V4MAPPED(&((const struct sockaddr_in6 *)sa)->sin6_addr) ? 4 : 6;
    return 0;
}

static void logline(const char *what, const struct sockaddr *sa, int rc, int err)
{
    if (logfd < 0)
        return;
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &s->sin_addr, host, sizeof host);
        port = ntohs(s->sin_port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &s->sin6_addr, host, sizeof host);
        port = ntohs(s->sin6_port);
    }
    char buf[160];
    int n = snprintf(buf, sizeof buf, "%s %d %s %d %d %d\n", what, wire_family(sa), host, port, rc, err);
    if (n > 0 && write(logfd, buf, (size_t)n) < 0)
        return;
}

int connect(int fd, const struct sockaddr *sa, socklen_t len)
{
    static int (*real)(int, const struct sockaddr *, socklen_t);
    if (!real)
        real = (int (*)(int, const struct sockaddr *, socklen_t))dlsym(RTLD_NEXT, "connect");
    int fam = wire_family(sa);
    int type = 0;
    socklen_t tl = sizeof type;
    if (!fam || getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) != 0 || type != SOCK_STREAM)
        return real(fd, sa, len);
    if (want && fam != want) {
        logline("refused", sa, -1, ENETUNREACH);
        errno = ENETUNREACH;
        return -1;
    }
    int rc = real(fd, sa, len);
    int err = errno;
    logline("connect", sa, rc, rc ? err : 0);
    errno = err;
    return rc;
}

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints, struct addrinfo **res)
{
    static int (*real)(const char *, const char *, const struct addrinfo *, struct addrinfo **);
    if (!real)
        real = (int (*)(const char *, const char *, const struct addrinfo *, struct addrinfo **))dlsym(
            RTLD_NEXT, "getaddrinfo");
    if ((!want && !npins) || !node)  /* node == NULL: a local (bind) address, no traffic of its own */
        return real(node, service, hints, res);
    struct addrinfo h;
    if (hints) {
        h = *hints;
    } else {
        memset(&h, 0, sizeof h);
        h.ai_flags = AI_V4MAPPED | AI_ADDRCONFIG;  /* glibc's meaning of hints == NULL */
    }
    const char *pin = pinned(node);
    if (pin) {
        node = pin;
        h.ai_flags |= AI_NUMERICHOST;
    }
    if (!want)
        return real(node, service, &h, res);
    if (h.ai_family == AF_UNSPEC)
        h.ai_family = want == 6 ? AF_INET6 : AF_INET;
    if (want == 6)
        h.ai_flags &= ~AI_V4MAPPED;
    int rc = real(node, service, &h, res);
    if (rc != 0)
        return rc;
    /* Drop what would go over the other family on the wire (e.g. an explicit AF_INET request). */
    struct addrinfo *keep = NULL, **tail = &keep, *next;
    for (struct addrinfo *ai = *res; ai; ai = next) {
        next = ai->ai_next;
        ai->ai_next = NULL;
        if (wire_family(ai->ai_addr) == want) {
            *tail = ai;
            tail = &ai->ai_next;
        } else {
            freeaddrinfo(ai);  /* glibc frees node by node: a single node is a valid list */
        }
    }
    *res = keep;
    if (!keep)
        return EAI_ADDRFAMILY;
    return 0;
}
