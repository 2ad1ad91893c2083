#define _GNU_SOURCE
#include "CIMCSys.h"
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

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
