#ifndef CIMCSYS_H
#define CIMCSYS_H
#include <stdint.h>
#include <sys/types.h>

/// openat2(2) with RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS: `path` is resolved as if `dirfd`
/// were the root directory, so neither `..` nor a symlink can lead out of it.
/// Returns the new fd, or -1 with errno set.
int imc_open_in_root(int dirfd, const char *path, int flags, unsigned int mode);

/// A socket(2) made in the network namespace at `netns_path` (a Pod's): the calling thread
/// enters it for that call only and returns to its own (or the process aborts). -1 with errno.
int imc_socket_in_netns(const char *netns_path, int domain, int type);

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
/// mount(2) done from within `directory` (a child process changes to it and mounts), so that
/// relative paths in `data` are resolved there and recorded as given: an overlay mounted so
/// shows no host path in the mount table. Returns 0, or -1 with errno set.
int imc_mount_in(const char *directory, const char *source, const char *target, const char *type, unsigned long flags,
                 const char *data);
/// A user namespace whose uid and gid 0..count-1 map to host ids base..base+count-1, as an open
/// file descriptor (a child process makes it and exits). Returns the fd, or -1 with errno set.
int imc_userns_fd(unsigned int base, unsigned int count);

/// Makes a network namespace, owned by the user namespace `userns_fd` when it is not -1 (so that a
/// container of that user namespace may mount its own sysfs), with its loopback up and IPv6 off
/// for every interface added later (`net.ipv6.conf.default.disable_ipv6`; the loopback keeps
/// `::1`), and binds it at `target` (a file, made if missing). 0, or -1 with errno.
int imc_netns_create(int userns_fd, const char *target);

/// Adds (or replaces) a static entry for the Ethernet address `mac` on the bridge port `port`
/// (`bridge fdb replace MAC dev PORT master static`), through rtnetlink. 0, or -1 with errno.
int imc_bridge_fdb_add(const char *port, const unsigned char mac[6]);

/// Attaches `image` to a free loop device (autoclear: it detaches with its last user; direct I/O
/// when asked and the backing file allows it), writes its path into `device`, and returns an open
/// descriptor of it (keep it until the filesystem is mounted), or -1 with errno.
int imc_loop_attach(const char *image, int direct_io, char *device, unsigned long device_len);

/// pipe2(O_CLOEXEC): a pipe neither end of which leaks into children.
int imc_pipe_cloexec(int fds[2]);
/// A new epoll instance (close-on-exec), or -1 with errno.
int imc_epoll_create(void);
/// Watches `fd` for reading on the epoll instance `epfd` (level-triggered, hang-ups included);
/// `key` comes back from imc_epoll_wait. 0, or -1 with errno.
int imc_epoll_add(int epfd, int fd, uint64_t key);
/// Stops watching `fd` (before it is closed). 0, or -1 with errno.
int imc_epoll_remove(int epfd, int fd);
/// Waits for watched descriptors; writes up to `max` keys of ready ones into `keys` and returns
/// how many, or -1 with errno (EINTR). The packed epoll_event stays on the C side.
int imc_epoll_wait(int epfd, uint64_t *keys, int max, int timeout_ms);
/// An idmapped copy of the directory `source` mounted at `target`: ids on disk are shown
/// through the user namespace `userns_fd` (open_tree, mount_setattr(MOUNT_ATTR_IDMAP),
/// move_mount). Returns 0, or -1 with errno set.
int imc_mount_idmapped(const char *source, const char *target, int userns_fd);
/// posix_spawn(3) of `path` with `argv` (NULL-terminated), standard input from /dev/null,
/// standard output and error into the files `out` and `err` (created or truncated), and every
/// other descriptor closed in the child. Returns 0 and the child's pid, or an errno.
int imc_spawn_to_files(const char *path, char *const argv[], const char *out, const char *err, pid_t *pid);
/// A new pseudo-terminal in raw mode: its master and its slave (both close-on-exec, the slave
/// not made anyone's controlling terminal), `rows` by `columns`. 0, or -1 with errno set.
int imc_open_terminal(int *master, int *slave, unsigned short rows, unsigned short columns);
/// Sets a terminal's window size (TIOCSWINSZ). 0, or -1 with errno.
int imc_set_window_size(int fd, unsigned short rows, unsigned short columns);

#endif
