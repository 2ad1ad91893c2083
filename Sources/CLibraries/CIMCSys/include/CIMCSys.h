#ifndef CIMCSYS_H
#define CIMCSYS_H
#include <stdint.h>
#include <sys/types.h>

/// openat2(2) with RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS: `path` is resolved as if `dirfd`
/// were the root directory, so neither `..` nor a symlink can lead out of it.
/// Returns the new fd, or -1 with errno set.
int imc_open_in_root(int dirfd, const char *path, int flags, unsigned int mode);

/// makedev(3), which is a macro in glibc and so invisible to Swift.
uint64_t imc_makedev(unsigned int major, unsigned int minor);

/// linkat(2) of an O_PATH fd with AT_EMPTY_PATH: links exactly the inode `fd` refers to.
int imc_link_fd(int fd, int newdirfd, const char *newpath);

#include <stddef.h>
/// O_PATH, which Glibc's Swift overlay does not export.
extern const int IMC_O_PATH;
/// syncfs(2).
int imc_syncfs(int fd);
/// fsetxattr(2) / lgetxattr(2) / llistxattr(2).
int imc_fsetxattr(int fd, const char *name, const void *value, size_t size);
long imc_lgetxattr(const char *path, const char *name, void *value, size_t size);
long imc_llistxattr(const char *path, char *list, size_t size);
/// ioctl(FICLONE): makes dest share src's extents (a reflink copy); fails where the
/// filesystem cannot (EOPNOTSUPP, EXDEV).
int imc_ficlone(int dest_fd, int src_fd);
/// lseek(SEEK_DATA): the next data extent of a sparse file at or after `offset`.
long long imc_seek_data(int fd, long long offset);
/// Sets or clears the immutable attribute (chattr +i / -i) of an open file: while set, not even
/// root can write, rename, link or delete it, and clearing it changes the file's ctime.
int imc_set_immutable(int fd, int on);
/// The file's attribute flags (FS_IOC_GETFLAGS), or -1.
int imc_get_flags(int fd);
/// mount(2).
int imc_mount(const char *source, const char *target, const char *type, unsigned long flags, const char *data);
/// umount2(2) with MNT_DETACH when `detach` is set.
int imc_umount(const char *target, int detach);
#endif
