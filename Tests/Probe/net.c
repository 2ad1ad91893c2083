// The network half of the walls' probe: what a hostile tenant sends from inside an instance to
// pose as another address, to read another's traffic, or to fill the host's tables. Every
// attempt prints one line; the tests read what arrived on the other side.
//
//   probe net-caps                          which sockets the container may open (raw, packet)
//   probe udp-listen PORT SECONDS           "ready", then "from ADDRESS PAYLOAD" per datagram
//   probe udp-send DST PORT PAYLOAD         an honest datagram
//   probe raw-udp SRC DST PORT PAYLOAD      a datagram with a forged IPv4 source (IP_HDRINCL)
//   probe packet-udp DSTMAC SRCMAC SRC DST PORT PAYLOAD
//                                           the same as a whole Ethernet frame (AF_PACKET);
//                                           SRCMAC or SRC "own" is the instance's
//   probe arp SENDERMAC SENDERIP            a gratuitous ARP reply, broadcast ("own" allowed)
//   probe ipv6 DSTMAC                       an IPv6 frame (IPv6 is off on instance ports)
//   probe tcp-get DST PORT                  connects (3 s at most) and prints what it read
//   probe syn-flood DST PORT COUNT SECONDS  COUNT connection attempts (raw SYNs when raw sockets
//                                           are allowed, else connects abandoned at once)
//   probe sniff SECONDS                     "ready", then how many frames for others it has seen,
//                                           every half second
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <net/ethernet.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <netinet/udp.h>
#include <netpacket/packet.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static int parse_mac(const char *text, unsigned char mac[6]) {
    unsigned int b[6];
    if (sscanf(text, "%x:%x:%x:%x:%x:%x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]) != 6) return -1;
    for (int i = 0; i < 6; i++) mac[i] = (unsigned char)b[i];
    return 0;
}

static int own_mac(unsigned char mac[6]) {
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strncpy(ifr.ifr_name, "eth0", IFNAMSIZ - 1);
    int rc = s >= 0 ? ioctl(s, SIOCGIFHWADDR, &ifr) : -1;
    if (s >= 0) close(s);
    if (rc == 0) memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
    return rc;
}

/// The instance's own IPv4 address (eth0's), or INADDR_NONE.
static in_addr_t own_ip(void) {
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strncpy(ifr.ifr_name, "eth0", IFNAMSIZ - 1);
    ifr.ifr_addr.sa_family = AF_INET;
    int rc = s >= 0 ? ioctl(s, SIOCGIFADDR, &ifr) : -1;
    if (s >= 0) close(s);
    return rc == 0 ? ((struct sockaddr_in *)&ifr.ifr_addr)->sin_addr.s_addr : INADDR_NONE;
}

/// An IPv4 address, or the instance's own for "own".
static in_addr_t address(const char *text) { return strcmp(text, "own") == 0 ? own_ip() : inet_addr(text); }

static uint16_t checksum(const void *data, size_t length) {
    const uint8_t *p = data;
    uint32_t sum = 0;
    for (size_t i = 0; i + 1 < length; i += 2) sum += (uint32_t)(p[i] << 8 | p[i + 1]);
    if (length & 1) sum += (uint32_t)(p[length - 1] << 8);
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return htons((uint16_t)~sum);
}

/// An IPv4 header for `length` bytes of `protocol` after it.
static void ip_header(struct iphdr *ip, in_addr_t src, in_addr_t dst, int protocol, size_t length) {
    memset(ip, 0, sizeof *ip);
    ip->version = 4;
    ip->ihl = 5;
    ip->ttl = 64;
    ip->protocol = (uint8_t)protocol;
    ip->tot_len = htons((uint16_t)(sizeof *ip + length));
    ip->id = htons((uint16_t)(rand() & 0xffff));
    ip->saddr = src;
    ip->daddr = dst;
    ip->check = checksum(ip, sizeof *ip);
}

/// An IPv4 UDP datagram (without a UDP checksum, which IPv4 allows) into `out`; its length.
static size_t udp_packet(unsigned char *out, in_addr_t src, in_addr_t dst, int port, const char *payload) {
    size_t n = strlen(payload);
    struct udphdr *udp = (struct udphdr *)(out + sizeof(struct iphdr));
    ip_header((struct iphdr *)out, src, dst, IPPROTO_UDP, sizeof *udp + n);
    udp->source = htons(40000);
    udp->dest = htons((uint16_t)port);
    udp->len = htons((uint16_t)(sizeof *udp + n));
    udp->check = 0;
    memcpy(out + sizeof(struct iphdr) + sizeof *udp, payload, n);
    return sizeof(struct iphdr) + sizeof *udp + n;
}

static void said(const char *what, int rc) {
    if (rc < 0) printf("%s refused: %s\n", what, strerror(errno)); else printf("%s sent\n", what);
    fflush(stdout);
}

static int net_caps(void) {
    int raw = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
    printf("raw-socket %s\n", raw >= 0 ? "allowed" : strerror(errno));
    int packet = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
    printf("packet-socket %s\n", packet >= 0 ? "allowed" : strerror(errno));
    return 0;
}

static int udp_listen(int port, double seconds) {
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) != 0) { perror("bind"); return 1; }
    printf("ready\n");
    fflush(stdout);
    double end = now() + seconds;
    while (now() < end) {
        struct pollfd p = {.fd = s, .events = POLLIN};
        if (poll(&p, 1, 100) <= 0) continue;
        char buf[512];
        struct sockaddr_in from;
        socklen_t len = sizeof from;
        ssize_t n = recvfrom(s, buf, sizeof buf - 1, 0, (struct sockaddr *)&from, &len);
        if (n < 0) continue;
        buf[n] = 0;
        printf("from %s %s\n", inet_ntoa(from.sin_addr), buf);
        fflush(stdout);
    }
    return 0;
}

static int udp_send(const char *dst, int port, const char *payload) {
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = inet_addr(dst)};
    said("udp", (int)sendto(s, payload, strlen(payload), 0, (struct sockaddr *)&a, sizeof a));
    return 0;
}

static int raw_udp(const char *src, const char *dst, int port, const char *payload) {
    int s = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
    if (s < 0) { said("raw-udp", -1); return 0; }
    unsigned char packet[1500];
    size_t n = udp_packet(packet, inet_addr(src), inet_addr(dst), port, payload);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = inet_addr(dst)};
    said("raw-udp", (int)sendto(s, packet, n, 0, (struct sockaddr *)&a, sizeof a));
    return 0;
}

/// Sends one Ethernet frame of `type` out of eth0.
static int send_frame(const char *what, const unsigned char dst[6], const unsigned char src[6], uint16_t type,
                      const unsigned char *body, size_t length) {
    int s = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
    if (s < 0) { said(what, -1); return 0; }
    unsigned char frame[1600];
    memcpy(frame, dst, 6);
    memcpy(frame + 6, src, 6);
    frame[12] = (unsigned char)(type >> 8);
    frame[13] = (unsigned char)type;
    memcpy(frame + 14, body, length);
    struct sockaddr_ll to = {.sll_family = AF_PACKET, .sll_ifindex = (int)if_nametoindex("eth0"), .sll_halen = 6};
    memcpy(to.sll_addr, dst, 6);
    said(what, (int)sendto(s, frame, 14 + length, 0, (struct sockaddr *)&to, sizeof to));
    return 0;
}

static int source_mac(const char *text, unsigned char mac[6]) {
    if (strcmp(text, "own") == 0) return own_mac(mac);
    return parse_mac(text, mac);
}

static int packet_udp(char **argv) {
    unsigned char dst[6], src[6], packet[1500];
    if (parse_mac(argv[0], dst) != 0 || source_mac(argv[1], src) != 0) { fprintf(stderr, "bad MAC\n"); return 64; }
    size_t n = udp_packet(packet, address(argv[2]), inet_addr(argv[3]), atoi(argv[4]), argv[5]);
    return send_frame("packet-udp", dst, src, 0x0800, packet, n);
}

static int arp(const char *sender_mac, const char *sender_ip) {
    unsigned char mac[6], own[6], body[28];
    static const unsigned char broadcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    if (source_mac(sender_mac, mac) != 0 || own_mac(own) != 0) { fprintf(stderr, "bad MAC\n"); return 64; }
    in_addr_t ip = address(sender_ip);
    body[0] = 0; body[1] = 1;        // Ethernet
    body[2] = 8; body[3] = 0;        // IPv4
    body[4] = 6; body[5] = 4;
    body[6] = 0; body[7] = 2;        // reply
    memcpy(body + 8, mac, 6);
    memcpy(body + 14, &ip, 4);
    memset(body + 18, 0xff, 6);
    memcpy(body + 24, &ip, 4);
    // The frame's own source is the instance's: the claim is in the ARP body.
    return send_frame("arp", broadcast, own, 0x0806, body, sizeof body);
}

static int ipv6(const char *dstmac) {
    unsigned char dst[6], own[6], body[40];
    if (parse_mac(dstmac, dst) != 0 || own_mac(own) != 0) { fprintf(stderr, "bad MAC\n"); return 64; }
    memset(body, 0, sizeof body);
    body[0] = 0x60;
    body[6] = 59;  // no next header
    body[7] = 64;
    return send_frame("ipv6", dst, own, 0x86dd, body, sizeof body);
}

static int tcp_get(const char *dst, int port) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = inet_addr(dst)};
    fcntl(s, F_SETFL, O_NONBLOCK);
    connect(s, (struct sockaddr *)&a, sizeof a);
    struct pollfd p = {.fd = s, .events = POLLOUT};
    int error = ETIMEDOUT;
    socklen_t len = sizeof error;
    if (poll(&p, 1, 3000) == 1) getsockopt(s, SOL_SOCKET, SO_ERROR, &error, &len);
    if (error != 0) { printf("tcp failed: %s\n", strerror(error)); return 0; }
    char buf[256];
    p.events = POLLIN;
    ssize_t n = poll(&p, 1, 3000) == 1 ? read(s, buf, sizeof buf - 1) : -1;
    buf[n > 0 ? n : 0] = 0;
    buf[strcspn(buf, "\n")] = 0;
    printf("tcp read %s\n", buf);
    return 0;
}

/// Raw SYNs from the instance's own address to DST:PORT, each from another port; or, without raw
/// sockets, non-blocking connects closed at once (the SYN is sent, the socket forgotten).
static int syn_flood(const char *dst, int port, long count, double seconds) {
    int raw = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = inet_addr(dst)};
    in_addr_t own = 0;
    if (raw >= 0) {
        // The instance's own address: the one its kernel picks for the destination.
        int u = socket(AF_INET, SOCK_DGRAM, 0);
        struct sockaddr_in self;
        socklen_t len = sizeof self;
        if (connect(u, (struct sockaddr *)&to, sizeof to) == 0 && getsockname(u, (struct sockaddr *)&self, &len) == 0)
            own = self.sin_addr.s_addr;
        close(u);
    }
    double end = now() + seconds;
    long sent = 0;
    for (long i = 0; i < count && now() < end; i++) {
        if (raw >= 0 && own != 0) {
            unsigned char packet[sizeof(struct iphdr) + sizeof(struct tcphdr)];
            struct tcphdr *tcp = (struct tcphdr *)(packet + sizeof(struct iphdr));
            memset(tcp, 0, sizeof *tcp);
            tcp->source = htons((uint16_t)(10000 + i % 50000));
            tcp->dest = htons((uint16_t)port);
            tcp->seq = htonl((uint32_t)rand());
            tcp->doff = 5;
            tcp->syn = 1;
            tcp->window = htons(64240);
            struct { in_addr_t s, d; uint8_t zero, protocol; uint16_t length; struct tcphdr tcp; } pseudo = {
                own, to.sin_addr.s_addr, 0, IPPROTO_TCP, htons(sizeof(struct tcphdr)), *tcp};
            tcp->check = checksum(&pseudo, sizeof pseudo);
            ip_header((struct iphdr *)packet, own, to.sin_addr.s_addr, IPPROTO_TCP, sizeof *tcp);
            if (sendto(raw, packet, sizeof packet, 0, (struct sockaddr *)&to, sizeof to) > 0) sent++;
        } else {
            int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
            if (s < 0) break;
            if (connect(s, (struct sockaddr *)&to, sizeof to) == 0 || errno == EINPROGRESS) sent++;
            close(s);
        }
    }
    printf("syn-flood sent %ld via %s\n", sent, raw >= 0 && own != 0 ? "raw" : "connect");
    return 0;
}

static int sniff(double seconds) {
    int s = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
    if (s < 0) { printf("ready\nsniff refused: %s\n", strerror(errno)); return 0; }
    struct packet_mreq promiscuous = {.mr_ifindex = (int)if_nametoindex("eth0"), .mr_type = PACKET_MR_PROMISC};
    int promisc = setsockopt(s, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &promiscuous, sizeof promiscuous);
    printf("ready\n");
    fflush(stdout);
    long others = 0, total = 0;
    double end = now() + seconds, next = now() + 0.5;
    while (now() < end) {
        if (now() >= next) {
            // A running tally, so that a reader need not wait for the end.
            printf("sniff promiscuous=%s others=%ld total=%ld\n", promisc == 0 ? "yes" : "no", others, total);
            fflush(stdout);
            next = now() + 0.5;
        }
        struct pollfd p = {.fd = s, .events = POLLIN};
        if (poll(&p, 1, 100) <= 0) continue;
        unsigned char frame[2048];
        struct sockaddr_ll from;
        socklen_t len = sizeof from;
        if (recvfrom(s, frame, sizeof frame, 0, (struct sockaddr *)&from, &len) < 0) continue;
        total++;
        if (from.sll_pkttype == PACKET_OTHERHOST) others++;
    }
    printf("sniff promiscuous=%s others=%ld total=%ld\n", promisc == 0 ? "yes" : "no", others, total);
    return 0;
}

int net_main(int argc, char **argv) {
    const char *c = argv[1];
    if (strcmp(c, "net-caps") == 0) return net_caps();
    if (strcmp(c, "udp-listen") == 0 && argc >= 4) return udp_listen(atoi(argv[2]), atof(argv[3]));
    if (strcmp(c, "udp-send") == 0 && argc >= 5) return udp_send(argv[2], atoi(argv[3]), argv[4]);
    if (strcmp(c, "raw-udp") == 0 && argc >= 6) return raw_udp(argv[2], argv[3], atoi(argv[4]), argv[5]);
    if (strcmp(c, "packet-udp") == 0 && argc >= 8) return packet_udp(argv + 2);
    if (strcmp(c, "arp") == 0 && argc >= 4) return arp(argv[2], argv[3]);
    if (strcmp(c, "ipv6") == 0 && argc >= 3) return ipv6(argv[2]);
    if (strcmp(c, "tcp-get") == 0 && argc >= 4) return tcp_get(argv[2], atoi(argv[3]));
    if (strcmp(c, "syn-flood") == 0 && argc >= 6) return syn_flood(argv[2], atoi(argv[3]), atol(argv[4]), atof(argv[5]));
    if (strcmp(c, "sniff") == 0 && argc >= 3) return sniff(atof(argv[2]));
    return -1;
}
