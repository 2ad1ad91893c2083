#define _GNU_SOURCE
#include "CIMCSys.h"
#include "internal.h"
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <spawn.h>

int imc_open_in_root(int dirfd, const char *path, int flags, unsigned int mode) {
    struct open_how how;
    memset(&how, 0, sizeof(how));
    how.flags = (uint64_t)flags | O_CLOEXEC;
    how.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0;
    how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
    long fd;
    do {
        fd = syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
    } while (fd < 0 && (errno == EAGAIN || errno == EINTR));
    return (int)fd;
}

uint64_t imc_makedev(unsigned int major, unsigned int minor) { return makedev(major, minor); }

int imc_link_fd(int fd, int newdirfd, const char *newpath) {
    return linkat(fd, "", newdirfd, newpath, AT_EMPTY_PATH);
}

#include <sys/xattr.h>
const int IMC_O_PATH = O_PATH;
int imc_syncfs(int fd) { return syncfs(fd); }
int imc_fsetxattr(int fd, const char *name, const void *value, size_t size) { return fsetxattr(fd, name, value, size, 0); }
long imc_lgetxattr(const char *path, const char *name, void *value, size_t size) { return lgetxattr(path, name, value, size); }
long imc_llistxattr(const char *path, char *list, size_t size) { return llistxattr(path, list, size); }

#include <sys/ioctl.h>
// From <linux/fs.h>, which cannot be included beside glibc 2.36's <sys/mount.h>.
#define IMC_FS_IOC_GETFLAGS _IOR('f', 1, long)
#define IMC_FS_IOC_SETFLAGS _IOW('f', 2, long)
#define IMC_FS_IMMUTABLE_FL 0x00000010
#define IMC_FICLONE _IOW(0x94, 9, int)
int imc_ficlone(int dest_fd, int src_fd) { return ioctl(dest_fd, IMC_FICLONE, src_fd); }
long long imc_seek_data(int fd, long long offset) { return (long long)lseek(fd, (off_t)offset, SEEK_DATA); }

#include <sys/mount.h>

int imc_set_immutable(int fd, int on) {
    int flags = 0;
    if (ioctl(fd, IMC_FS_IOC_GETFLAGS, &flags) != 0) return -1;
    if (on) flags |= IMC_FS_IMMUTABLE_FL; else flags &= ~IMC_FS_IMMUTABLE_FL;
    return ioctl(fd, IMC_FS_IOC_SETFLAGS, &flags);
}

int imc_get_flags(int fd) {
    int flags = 0;
    return ioctl(fd, IMC_FS_IOC_GETFLAGS, &flags) == 0 ? flags : -1;
}

int imc_mount(const char *source, const char *target, const char *type, unsigned long flags, const char *data) {
    return mount(source, target, type, flags, data);
}

int imc_umount(const char *target, int detach) { return umount2(target, detach ? MNT_DETACH : 0); }

#include <sched.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <signal.h>
#include <sys/wait.h>

int imc_mount_in(const char *directory, const char *source, const char *target, const char *type, unsigned long flags,
                 const char *data) {
    int status = 0;
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        if (chdir(directory) != 0) _exit(errno & 0xff);
        _exit(mount(source, target, type, flags, data) == 0 ? 0 : (errno & 0xff));
    }
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) return -1;
    }
    if (!WIFEXITED(status)) { errno = EINTR; return -1; }
    if (WEXITSTATUS(status) != 0) { errno = WEXITSTATUS(status); return -1; }
    return 0;
}

int imc_write_all(const char *path, const char *text) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t n = write(fd, text, strlen(text));
    int saved = errno;
    close(fd);
    errno = saved;
    return n == (ssize_t)strlen(text) ? 0 : -1;
}

int imc_userns_fd(unsigned int base, unsigned int count) {
    int ready[2], done[2];
    if (pipe2(ready, O_CLOEXEC) != 0) return -1;
    if (pipe2(done, O_CLOEXEC) != 0) { close(ready[0]); close(ready[1]); return -1; }
    pid_t pid = fork();
    if (pid < 0) { close(ready[0]); close(ready[1]); close(done[0]); close(done[1]); return -1; }
    if (pid == 0) {
        char c = unshare(CLONE_NEWUSER) == 0 ? 1 : 0;
        if (write(ready[1], &c, 1) != 1) _exit(1);
        if (read(done[0], &c, 1) != 1) _exit(1);
        _exit(0);
    }
    close(ready[1]);
    close(done[0]);
    char ok = 0;
    int fd = -1, saved = 0;
    if (read(ready[0], &ok, 1) == 1 && ok == 1) {
        char path[64], map[64];
        snprintf(map, sizeof map, "0 %u %u\n", base, count);
        snprintf(path, sizeof path, "/proc/%d/uid_map", (int)pid);
        if (imc_write_all(path, map) == 0) {
            snprintf(path, sizeof path, "/proc/%d/gid_map", (int)pid);
            if (imc_write_all(path, map) == 0) {
                snprintf(path, sizeof path, "/proc/%d/ns/user", (int)pid);
                fd = open(path, O_RDONLY | O_CLOEXEC);
            }
        }
        if (fd < 0) saved = errno;
    } else {
        saved = EPERM;
    }
    close(ready[0]);
    // A byte, not the pipe's end: another thread's fork may hold a copy of this end open.
    char bye = 0;
    if (write(done[1], &bye, 1) != 1) kill(pid, SIGKILL);
    close(done[1]);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {}
    if (fd < 0) errno = saved;
    return fd;
}

int imc_mount_idmapped(const char *source, const char *target, int userns_fd) {
    int tree = (int)syscall(SYS_open_tree, AT_FDCWD, source, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
    if (tree < 0) return -1;
    struct mount_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.attr_set = MOUNT_ATTR_IDMAP | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
    attr.userns_fd = (unsigned long long)userns_fd;
    int rc = (int)syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH, &attr, sizeof attr);
    if (rc == 0) rc = (int)syscall(SYS_move_mount, tree, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH);
    int saved = errno;
    close(tree);
    errno = saved;
    return rc;
}

int imc_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC); }

int imc_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }

int imc_epoll_add(int epfd, int fd, uint64_t key) {
    struct epoll_event event;
    memset(&event, 0, sizeof(event));
    event.events = EPOLLIN | EPOLLRDHUP;
    event.data.u64 = key;
    return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &event);
}

int imc_epoll_remove(int epfd, int fd) {
    struct epoll_event event;
    memset(&event, 0, sizeof(event));
    return epoll_ctl(epfd, EPOLL_CTL_DEL, fd, &event);
}

int imc_epoll_wait(int epfd, uint64_t *keys, int max, int timeout_ms) {
    struct epoll_event events[64];
    if (max > 64) max = 64;
    int n = epoll_wait(epfd, events, max, timeout_ms);
    for (int i = 0; i < n; i++) keys[i] = events[i].data.u64;
    return n;
}

#include <linux/loop.h>

int imc_loop_attach(const char *image, int direct_io, char *device, unsigned long device_len) {
    int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
    if (ctl < 0) return -1;
    int file = open(image, O_RDWR | O_CLOEXEC);
    if (file < 0) { int e = errno; close(ctl); errno = e; return -1; }
    int result = -1, saved = EBUSY;
    for (int attempt = 0; attempt < 64; attempt++) {
        int n = ioctl(ctl, LOOP_CTL_GET_FREE);
        if (n < 0) { saved = errno; break; }
        snprintf(device, device_len, "/dev/loop%d", n);
        int dev = open(device, O_RDWR | O_CLOEXEC);
        if (dev < 0) {
            saved = errno;
            if (errno == ENOENT) { usleep(2000); continue; }  // devtmpfs has not made the node yet
            break;
        }
        struct loop_config config;
        memset(&config, 0, sizeof config);
        config.fd = (unsigned int)file;
        config.info.lo_flags = LO_FLAGS_AUTOCLEAR | (direct_io ? LO_FLAGS_DIRECT_IO : 0);
        strncpy((char *)config.info.lo_file_name, image, LO_NAME_SIZE - 1);
        if (ioctl(dev, LOOP_CONFIGURE, &config) == 0) { result = dev; break; }
        saved = errno;
        close(dev);
        if (saved == EBUSY) continue;  // another process took it first
        if (saved == EINVAL && direct_io) { direct_io = 0; continue; }  // a backing file without O_DIRECT
        break;
    }
    close(file);
    close(ctl);
    if (result < 0) errno = saved;
    return result;
}

int imc_spawn_to_files(const char *path, char *const argv[], const char *out, const char *err, pid_t *pid) {
    extern char **environ;
    posix_spawn_file_actions_t actions;
    int rc = posix_spawn_file_actions_init(&actions);
    if (rc != 0) return rc;
    rc = posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    if (rc == 0) rc = posix_spawn_file_actions_addopen(&actions, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (rc == 0) rc = posix_spawn_file_actions_addopen(&actions, 2, err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (rc == 0) rc = posix_spawn_file_actions_addclosefrom_np(&actions, 3);
    if (rc == 0) rc = posix_spawn(pid, path, &actions, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    return rc;
}

#include <sched.h>
#include <stdlib.h>
#include <sys/socket.h>
int imc_socket_in_netns(const char *netns_path, int domain, int type) {
    int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (self < 0) return -1;
    int target = open(netns_path, O_RDONLY | O_CLOEXEC);
    if (target < 0) {
        int e = errno;
        close(self);
        errno = e;
        return -1;
    }
    int fd = -1;
    if (setns(target, CLONE_NEWNET) == 0) {
        fd = socket(domain, type | SOCK_CLOEXEC, 0);
        int e = errno;
        // A thread of imc's left in a Pod's network would make its next socket there: never.
        if (setns(self, CLONE_NEWNET) != 0) abort();
        errno = e;
    }
    close(target);
    close(self);
    return fd;
}
