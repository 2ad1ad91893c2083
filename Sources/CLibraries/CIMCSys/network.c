// Network namespaces and bridge ports, in process: what `ip netns add` and `bridge fdb` would
// otherwise cost a process each on an instance's start.
#define _GNU_SOURCE
#include "CIMCSys.h"
#include "internal.h"
#include <errno.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

/// In a child: joins the owner (if any), makes the namespace, brings up its loopback and turns
/// IPv6 off for interfaces added later. The child stays until the parent has bound the
/// namespace, then exits.
int imc_netns_create(int userns_fd, const char *target) {
    int ready[2], done[2];
    if (pipe2(ready, O_CLOEXEC) != 0) return -1;
    if (pipe2(done, O_CLOEXEC) != 0) { close(ready[0]); close(ready[1]); return -1; }
    pid_t pid = fork();
    if (pid < 0) { close(ready[0]); close(ready[1]); close(done[0]); close(done[1]); return -1; }
    if (pid == 0) {
        char c = ((userns_fd < 0 || setns(userns_fd, CLONE_NEWUSER) == 0) && unshare(CLONE_NEWNET) == 0) ? 1 : 0;
        if (c) {
            // The loopback up, from inside (root of the namespace's owner has CAP_NET_ADMIN here).
            int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
            struct ifreq ifr;
            memset(&ifr, 0, sizeof ifr);
            strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
            if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) != 0) c = 0;
            ifr.ifr_flags |= IFF_UP;
            if (c && ioctl(s, SIOCSIFFLAGS, &ifr) != 0) c = 0;
            if (s >= 0) close(s);
            // An instance's port carries IPv4 and ARP only: its eth0, added later, gets no IPv6.
            // (A kernel without IPv6 has no such file, and nothing to turn off.)
            if (c && access("/proc/sys/net/ipv6/conf/default/disable_ipv6", F_OK) == 0
                && imc_write_all("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1") != 0)
                c = 0;
        }
        if (write(ready[1], &c, 1) != 1) _exit(1);
        if (read(done[0], &c, 1) != 1) _exit(1);
        _exit(0);
    }
    close(ready[1]);
    close(done[0]);
    char ok = 0;
    int rc = -1, saved = EPERM;
    if (read(ready[0], &ok, 1) == 1 && ok == 1) {
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/ns/net", (int)pid);
        int fd = open(target, O_RDONLY | O_CREAT | O_CLOEXEC, 0444);
        if (fd >= 0) close(fd);
        rc = mount(path, target, NULL, MS_BIND, NULL);
        saved = errno;
    }
    close(ready[0]);
    char bye = 0;
    if (write(done[1], &bye, 1) != 1) kill(pid, SIGKILL);
    close(done[1]);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {}
    if (rc != 0) errno = saved;
    return rc;
}

int imc_bridge_fdb_add(const char *port, const unsigned char mac[6]) {
    unsigned int index = if_nametoindex(port);
    if (index == 0) return -1;
    struct {
        struct nlmsghdr header;
        struct ndmsg neighbour;
        char attributes[64];
    } request;
    memset(&request, 0, sizeof request);
    request.header.nlmsg_len = NLMSG_LENGTH(sizeof(struct ndmsg));
    request.header.nlmsg_type = RTM_NEWNEIGH;
    request.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE;
    request.header.nlmsg_seq = 1;
    request.neighbour.ndm_family = AF_BRIDGE;
    request.neighbour.ndm_ifindex = (int)index;
    request.neighbour.ndm_state = NUD_NOARP;  // `static`: never aged, never learned over
    request.neighbour.ndm_flags = NTF_MASTER;
    struct rtattr *lladdr = (struct rtattr *)((char *)&request + NLMSG_ALIGN(request.header.nlmsg_len));
    lladdr->rta_type = NDA_LLADDR;
    lladdr->rta_len = RTA_LENGTH(ETH_ALEN);
    memcpy(RTA_DATA(lladdr), mac, ETH_ALEN);
    request.header.nlmsg_len = NLMSG_ALIGN(request.header.nlmsg_len) + RTA_ALIGN(lladdr->rta_len);

    int s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (s < 0) return -1;
    struct sockaddr_nl kernel;
    memset(&kernel, 0, sizeof kernel);
    kernel.nl_family = AF_NETLINK;
    int rc = -1, saved = EIO;
    if (sendto(s, &request, request.header.nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0) {
        saved = errno;
    } else {
        char answer[512];
        ssize_t n;
        do { n = recv(s, answer, sizeof answer, 0); } while (n < 0 && errno == EINTR);
        if (n < 0) {
            saved = errno;
        } else {
            struct nlmsghdr *h = (struct nlmsghdr *)answer;
            if (NLMSG_OK(h, (unsigned int)n) && h->nlmsg_type == NLMSG_ERROR) {
                int error = ((struct nlmsgerr *)NLMSG_DATA(h))->error;
                if (error == 0) rc = 0; else saved = -error;
            }
        }
    }
    close(s);
    if (rc != 0) errno = saved;
    return rc;
}

int imc_open_terminal(int *master, int *slave, unsigned short rows, unsigned short columns) {
    int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (m < 0) return -1;
    char name[128];
    if (grantpt(m) < 0 || unlockpt(m) < 0 || ptsname_r(m, name, sizeof(name)) != 0) {
        int saved = errno;
        close(m);
        errno = saved;
        return -1;
    }
    int s = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (s < 0) {
        int saved = errno;
        close(m);
        errno = saved;
        return -1;
    }
    struct termios mode;
    if (tcgetattr(s, &mode) == 0) {
        cfmakeraw(&mode);
        tcsetattr(s, TCSANOW, &mode);
    }
    imc_set_window_size(m, rows, columns);
    *master = m;
    *slave = s;
    return 0;
}

int imc_set_window_size(int fd, unsigned short rows, unsigned short columns) {
    struct winsize size;
    memset(&size, 0, sizeof(size));
    size.ws_row = rows;
    size.ws_col = columns;
    return ioctl(fd, TIOCSWINSZ, &size);
}
