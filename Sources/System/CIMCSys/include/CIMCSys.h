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

/// The errno of the calling thread.
int imc_errno(void);


#include <stddef.h>
/// O_PATH, which Glibc's Swift overlay does not export.
extern const int IMC_O_PATH;
/// syncfs(2).
int imc_syncfs(int fd);
/// fsetxattr(2) / fgetxattr(2) / lgetxattr(2) / llistxattr(2).
int imc_fsetxattr(int fd, const char *name, const void *value, size_t size);
long imc_fgetxattr(int fd, const char *name, void *value, size_t size);
long imc_lgetxattr(const char *path, const char *name, void *value, size_t size);
long imc_llistxattr(const char *path, char *list, size_t size);
/// Starts writeback of a file's dirty pages without waiting for it (sync_file_range WRITE),
/// so that the disk works while the CPU unpacks and the final sync has little left to wait for.
int imc_start_writeback(int fd);
/// ioctl(FICLONE): makes dest share src's extents (a reflink copy); fails where the
/// filesystem cannot (EOPNOTSUPP, EXDEV).
int imc_ficlone(int dest_fd, int src_fd);
/// lseek(SEEK_DATA) / lseek(SEEK_HOLE): walk a sparse file's data extents.
long long imc_seek_data(int fd, long long offset);
long long imc_seek_hole(int fd, long long offset);
/// Sets or clears the immutable attribute (chattr +i / -i) of an open file: while set, not even
/// root can write, rename, link or delete it, and clearing it changes the file's ctime.
int imc_set_immutable(int fd, int on);
/// The file's attribute flags (FS_IOC_GETFLAGS), or -1.
int imc_get_flags(int fd);
/// mount(2) of an overlay filesystem at `target` with `options` (nosuid, nodev).
int imc_mount_overlay(const char *target, const char *options);
/// umount2(2) with MNT_DETACH when `detach` is set.
int imc_umount(const char *target, int detach);
/// prctl(PR_SET_PDEATHSIG, sig) for the calling thread's process.
int imc_set_parent_death_signal(int sig);
/// posix_spawn(3) of `argv` with `envp`: standard input from /dev/null, standard output and
/// error appended to `log_path`, every other descriptor closed, signals unblocked and at their
/// defaults, in a session of its own. Returns the pid, or -1 with errno set.
int imc_spawn(const char *path, char *const argv[], char *const envp[], const char *log_path);
#endif
