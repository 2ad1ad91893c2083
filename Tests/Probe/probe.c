// The walls' probe: a static program run inside an instance by the tests, as a hostile tenant
// would, trying each wall imc puts around a tenant's container. It prints one line per wall,
// "WALL held|BROKEN detail", and never stops at the first broken one.
//
//   probe walls [FORBIDDEN...]   every wall; FORBIDDEN are host paths that must not show inside
//   probe eat MIB                touches MIB MiB of memory (the memory limit must stop it)
//   probe fork N                 starts N processes that wait (the pids limit must stop it)
//   probe absent PATH...         each PATH must not exist (a sandbox's view of the host)
//   probe net-...                what a tenant sends on the network (net.c)
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static void report(const char *wall, int held, const char *detail) {
    printf("%s %s %s\n", wall, held ? "held" : "BROKEN", detail);
    fflush(stdout);
}

static char *slurp(const char *path) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return NULL;
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    ssize_t n;
    while ((n = read(fd, buf + len, cap - len - 1)) > 0) {
        len += n;
        if (len + 1 >= cap) { cap *= 2; buf = realloc(buf, cap); }
    }
    close(fd);
    buf[len] = 0;
    return buf;
}

/// A system call the walls must refuse: held only when it is refused (EPERM, EACCES, ENOSYS),
/// not when it merely failed on the probe's arguments (a call that got that far was let in).
static void refused(const char *wall, long rc) {
    char detail[128];
    if (rc < 0) {
        int e = errno;
        snprintf(detail, sizeof detail, "%s: %s", e == EPERM || e == EACCES || e == ENOSYS ? "refused" : "let in, then failed", strerror(e));
        report(wall, e == EPERM || e == EACCES || e == ENOSYS, detail);
    } else {
        snprintf(detail, sizeof detail, "succeeded (returned %ld)", rc);
        report(wall, 0, detail);
    }
}

/// unshare(flags) in a child, whose answer comes back through a pipe, so that this process keeps
/// its own namespaces and capabilities for the walls tried after it.
static void refused_in_child(const char *wall, int flags) {
    int p[2];
    if (pipe(p) != 0) { report(wall, 0, "cannot make a pipe"); return; }
    pid_t pid = fork();
    if (pid == 0) {
        long rc = unshare(flags);
        int result[2] = {(int)rc, rc < 0 ? errno : 0};
        if (write(p[1], result, sizeof result) != sizeof result) _exit(1);
        _exit(0);
    }
    close(p[1]);
    int result[2] = {0, 0};
    ssize_t n = read(p[0], result, sizeof result);
    close(p[0]);
    waitpid(pid, NULL, 0);
    if (n != sizeof result) { report(wall, 0, "the child did not answer"); return; }
    errno = result[1];
    refused(wall, result[0]);
}

static void walls(int argc, char **argv) {
    // Container root is not host root: the uid map is not the identity of the whole range.
    char *map = slurp("/proc/self/uid_map");
    int identity = map && strstr(map, "0          0 4294967295") != NULL;
    char detail[256];
    snprintf(detail, sizeof detail, "uid_map: %s", map ? strtok(map, "\n") : "unreadable");
    report("user-namespace", map && !identity, detail);

    int nnp = prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);
    report("no-new-privileges", nnp == 1, nnp == 1 ? "set" : "not set");

    char *status = slurp("/proc/self/status");
    char *sc = status ? strstr(status, "Seccomp:") : NULL;
    int mode = sc ? atoi(sc + 8) : -1;
    snprintf(detail, sizeof detail, "Seccomp: %d", mode);
    report("seccomp-filter", mode == 2, detail);
    char *caps = status ? strstr(status, "CapEff:") : NULL;
    unsigned long long eff = caps ? strtoull(caps + 7, NULL, 16) : ~0ULL;
    snprintf(detail, sizeof detail, "CapEff %016llx", eff);
    report("no-sys-admin", !(eff & (1ULL << 21)), detail);
    // Calls that would change this process (new namespaces) are tried in a child of it.
    refused_in_child("unshare-user-net", CLONE_NEWUSER | CLONE_NEWNET);
    refused_in_child("unshare-mount", CLONE_NEWNS);
    refused("add-key", syscall(SYS_add_key, "user", "probe", "x", 1, -3 /* KEY_SPEC_SESSION_KEYRING */));
    refused("keyctl", syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3, 0));
    refused("request-key", syscall(SYS_request_key, "user", "probe", NULL, 0));
    refused("bpf", syscall(SYS_bpf, 0, NULL, 0));
    refused("perf-event-open", syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0));
    refused("userfaultfd", syscall(SYS_userfaultfd, 0));
    refused("io-uring-setup", syscall(SYS_io_uring_setup, 1, NULL));
    refused("mount", mount("none", "/tmp", "tmpfs", 0, NULL));
    refused("kexec-load", syscall(SYS_kexec_load, 0, 0, NULL, 0));
    refused("init-module", syscall(SYS_finit_module, -1, "", 0));
    refused("ptrace", syscall(SYS_ptrace, 16 /* PTRACE_ATTACH */, 1, NULL, NULL));
    refused("mknod-block", syscall(SYS_mknodat, AT_FDCWD, "/tmp/probe-block", S_IFBLK | 0600, (unsigned)makedev(7, 0)));
    unlink("/tmp/probe-block");

    // Other tenants' disks: the loop devices' backing files must not be readable.
    glob_t g;
    int found = 0;
    if (glob("/sys/block/loop*/loop/backing_file", 0, NULL, &g) == 0) {
        for (size_t i = 0; i < g.gl_pathc; i++) {
            char *f = slurp(g.gl_pathv[i]);
            if (f && f[0]) found++;
            free(f);
        }
        globfree(&g);
    }
    snprintf(detail, sizeof detail, "%d backing files readable", found);
    report("loop-backing-files", found == 0, detail);

    // Masked kernel paths.
    glob_t p;
    int powercap = glob("/sys/devices/virtual/powercap/*", 0, NULL, &p) == 0 ? (int)p.gl_pathc : 0;
    if (powercap) globfree(&p);
    snprintf(detail, sizeof detail, "%d entries", powercap);
    report("powercap-masked", powercap == 0, detail);

    // No host path shows inside.
    char *mounts = slurp("/proc/self/mountinfo");
    const char *leak = NULL;
    for (int i = 0; i < argc && mounts; i++) {
        if (argv[i][0] && strstr(mounts, argv[i])) leak = argv[i];
    }
    if (mounts && !leak && strstr(mounts, ".img")) leak = ".img";
    snprintf(detail, sizeof detail, "%s", leak ? leak : "none of the forbidden paths in mountinfo");
    report("host-paths", mounts && !leak, detail);

    // A cgroup namespace: the container's cgroups are its root.
    char *cg = slurp("/proc/self/cgroup");
    int outside = 0;
    for (char *line = cg ? strtok(cg, "\n") : NULL; line; line = strtok(NULL, "\n")) {
        char *colon = strrchr(line, ':');
        if (colon && strcmp(colon, ":/") != 0) outside++;
    }
    snprintf(detail, sizeof detail, "%d cgroup paths below the namespace's root", outside);
    report("cgroup-namespace", cg && outside == 0, detail);

}

static int eat(long mib) {
    for (long i = 0; i < mib; i++) {
        char *p = malloc(1 << 20);
        if (!p) { printf("malloc failed at %ld MiB\n", i); return 1; }
        memset(p, 1, 1 << 20);
    }
    printf("touched %ld MiB\n", mib);
    return 0;
}

static int forks(long n) {
    long started = 0;
    for (; started < n; started++) {
        pid_t pid = fork();
        if (pid < 0) break;
        if (pid == 0) { pause(); _exit(0); }
    }
    printf("started %ld of %ld processes\n", started, n);
    fflush(stdout);
    kill(0, SIGKILL);
    return 0;
}

static int absent(int argc, char **argv) {
    for (int i = 0; i < argc; i++) {
        struct stat st;
        char wall[512];
        snprintf(wall, sizeof wall, "absent:%s", argv[i]);
        report(wall, stat(argv[i], &st) != 0, stat(argv[i], &st) != 0 ? "not there" : "visible");
    }
    return 0;
}

int net_main(int argc, char **argv);

int main(int argc, char **argv) {
    if (argc >= 2) {
        int rc = net_main(argc, argv);
        if (rc >= 0) return rc;
    }
    if (argc >= 2 && strcmp(argv[1], "absent") == 0) return absent(argc - 2, argv + 2);
    if (argc >= 2 && strcmp(argv[1], "walls") == 0) { walls(argc - 2, argv + 2); return 0; }
    if (argc >= 3 && strcmp(argv[1], "eat") == 0) return eat(atol(argv[2]));
    if (argc >= 3 && strcmp(argv[1], "fork") == 0) return forks(atol(argv[2]));
    fprintf(stderr, "usage: probe walls [FORBIDDEN...] | eat MIB | fork N | absent PATH... | the network's (net.c)\n");
    return 64;
}
