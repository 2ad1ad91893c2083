// imc-nfs: an NFS export as a FUSE filesystem, through libnfs (a userspace NFS client: these
// hosts' kernel has none). One process per mount, as rbd-fuse is. imc opens /dev/fuse and mounts
// it itself, then starts this program with the open descriptor as its mount point (/dev/fd/N),
// as an unprivileged user with no capabilities: what a hostile NFS server sends reaches a process
// that can do nothing but answer the FUSE requests of its one mount.
//
// Owners are mapped as the instance's user namespace maps them: a request from host uid
// base + n is sent to the server as uid n; a file the server says is uid n is shown as base + n
// (ids past the range are sent as nobody, 65534). Operations are served one at a time (`-s`):
// a libnfs context is not shared between threads.
//
// usage: imc-nfs SERVER EXPORT /dev/fd/N [--uid-base B --uid-count C] [--read-only]
#define FUSE_USE_VERSION 35
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <fuse3/fuse.h>
#include <nfsc/libnfs.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

static struct nfs_context *nfs;
static unsigned long uid_base, uid_count = 1UL << 32;
static int read_only;

static uint32_t to_server(uid_t host) {
    if (host < uid_base || host - uid_base >= uid_count) return 65534;
    return (uint32_t)(host - uid_base);
}

static uid_t to_host(uint64_t server) {
    if (server >= uid_count) return 65534;
    return (uid_t)(uid_base + server);
}

// The caller's ids, for the next request.
static void as_caller(void) {
    struct fuse_context *c = fuse_get_context();
    nfs_set_uid(nfs, (int)to_server(c->uid));
    nfs_set_gid(nfs, (int)to_server(c->gid));
}

static void fill(struct stat *st, const struct nfs_stat_64 *s) {
    memset(st, 0, sizeof(*st));
    st->st_ino = s->nfs_ino;
    st->st_mode = s->nfs_mode;
    st->st_nlink = s->nfs_nlink;
    st->st_uid = to_host(s->nfs_uid);
    st->st_gid = to_host(s->nfs_gid);
    st->st_size = s->nfs_size;
    st->st_blksize = s->nfs_blksize;
    st->st_blocks = s->nfs_blocks;
    st->st_atim.tv_sec = s->nfs_atime;
    st->st_atim.tv_nsec = s->nfs_atime_nsec;
    st->st_mtim.tv_sec = s->nfs_mtime;
    st->st_mtim.tv_nsec = s->nfs_mtime_nsec;
    st->st_ctim.tv_sec = s->nfs_ctime;
    st->st_ctim.tv_nsec = s->nfs_ctime_nsec;
}

static int op_getattr(const char *path, struct stat *st, struct fuse_file_info *fi) {
    struct nfs_stat_64 s;
    as_caller();
    int r = nfs_lstat64(nfs, path, &s);
    if (r < 0) return r;
    fill(st, &s);
    return 0;
}

static int op_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t offset, struct fuse_file_info *fi,
                      enum fuse_readdir_flags flags) {
    struct nfsdir *dir;
    as_caller();
    int r = nfs_opendir(nfs, path, &dir);
    if (r < 0) return r;
    struct nfsdirent *e;
    while ((e = nfs_readdir(nfs, dir)) != NULL) {
        struct stat st;
        memset(&st, 0, sizeof(st));
        st.st_ino = e->inode;
        st.st_mode = e->mode;
        if (filler(buf, e->name, &st, 0, 0)) break;
    }
    nfs_closedir(nfs, dir);
    return 0;
}

static int refuse_if_read_only(void) { return read_only ? -EROFS : 0; }

// An open file: libnfs's handle, and for a file this mount created, the mode to set once it is
// closed (libnfs's NFSv4 create leaves the server's default mode, and a SETATTR while the file is
// open makes the server refuse the open's later writes as a bad state id).
struct open_file {
    struct nfsfh *fh;
    int mode;
    // Who created it (a release comes without a caller).
    uint32_t uid, gid;
    char path[];
};

static uint64_t handle(struct nfsfh *fh, const char *path, int mode) {
    size_t n = mode >= 0 ? strlen(path) + 1 : 1;
    struct open_file *f = calloc(1, sizeof(struct open_file) + n);
    if (f == NULL) return 0;
    f->fh = fh;
    f->mode = mode;
    f->uid = to_server(fuse_get_context()->uid);
    f->gid = to_server(fuse_get_context()->gid);
    if (mode >= 0) memcpy(f->path, path, n);
    return (uint64_t)(uintptr_t)f;
}

static struct nfsfh *fh_of(struct fuse_file_info *fi) { return ((struct open_file *)(uintptr_t)fi->fh)->fh; }

static int op_open(const char *path, struct fuse_file_info *fi) {
    if ((fi->flags & O_ACCMODE) != O_RDONLY && read_only) return -EROFS;
    struct nfsfh *fh;
    as_caller();
    int r = nfs_open(nfs, path, fi->flags & ~(O_CREAT | O_EXCL | O_NOCTTY), &fh);
    if (r < 0) return r;
    if ((fi->fh = handle(fh, path, -1)) == 0) {
        nfs_close(nfs, fh);
        return -ENOMEM;
    }
    return 0;
}

static int op_create(const char *path, mode_t mode, struct fuse_file_info *fi) {
    if (read_only) return -EROFS;
    struct nfsfh *fh;
    as_caller();
    int r = nfs_create(nfs, path, fi->flags & ~O_NOCTTY, (int)(mode & 07777), &fh);
    if (r < 0) return r;
    if ((fi->fh = handle(fh, path, (int)(mode & 07777))) == 0) {
        nfs_close(nfs, fh);
        return -ENOMEM;
    }
    return 0;
}

static int op_read(const char *path, char *buf, size_t size, off_t offset, struct fuse_file_info *fi) {
    as_caller();
    return nfs_pread(nfs, fh_of(fi), (uint64_t)offset, size, buf);
}

static int op_write(const char *path, const char *buf, size_t size, off_t offset, struct fuse_file_info *fi) {
    if (read_only) return -EROFS;
    as_caller();
    size_t done = 0;
    while (done < size) {
        int r = nfs_pwrite(nfs, fh_of(fi), (uint64_t)offset + done, size - done, buf + done);
        if (r < 0) return done > 0 ? (int)done : r;
        if (r == 0) break;
        done += (size_t)r;
    }
    return (int)done;
}

static int op_release(const char *path, struct fuse_file_info *fi) {
    struct open_file *f = (struct open_file *)(uintptr_t)fi->fh;
    nfs_close(nfs, f->fh);
    if (f->mode >= 0) {
        nfs_set_uid(nfs, (int)f->uid);
        nfs_set_gid(nfs, (int)f->gid);
        nfs_chmod(nfs, f->path, f->mode);
    }
    free(f);
    return 0;
}

static int op_fsync(const char *path, int datasync, struct fuse_file_info *fi) {
    as_caller();
    return nfs_fsync(nfs, fh_of(fi));
}

static int op_truncate(const char *path, off_t size, struct fuse_file_info *fi) {
    int r = refuse_if_read_only();
    if (r) return r;
    as_caller();
    if (fi) return nfs_ftruncate(nfs, fh_of(fi), (uint64_t)size);
    return nfs_truncate(nfs, path, (uint64_t)size);
}

static int op_mkdir(const char *path, mode_t mode) {
    int r = refuse_if_read_only();
    if (r) return r;
    as_caller();
    return nfs_mkdir2(nfs, path, (int)(mode & 07777));
}

static int op_rmdir(const char *path) {
    int r = refuse_if_read_only();
    if (r) return r;
    as_caller();
    return nfs_rmdir(nfs, path);
}

static int op_unlink(const char *path) {
    int r = refuse_if_read_only();
    if (r) return r;
    as_caller();
    return nfs_unlink(nfs, path);
}

static int op_rename(const char *from, const char *to, unsigned int flags) {
    int r = refuse_if_read_only();
    if (r) return r;
    if (flags) return -EINVAL;
    as_caller();
    return nfs_rename(nfs, from, to);
}

static int op_chmod(const char *path, mode_t mode, struct fuse_file_info *fi) {
    int r = refuse_if_read_only();
    if (r) return r;
    as_caller();
    return nfs_chmod(nfs, path, (int)(mode & 07777));
}

static int op_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi) {
    int r = refuse_if_read_only();
    if (r) return r;
    as_caller();
    struct nfs_stat_64 s;
    if ((uid == (uid_t)-1 || gid == (gid_t)-1) && (r = nfs_lstat64(nfs, path, &s)) < 0) return r;
    return nfs_chown(nfs, path, (int)(uid == (uid_t)-1 ? s.nfs_uid : to_server(uid)),
                     (int)(gid == (gid_t)-1 ? s.nfs_gid : to_server(gid)));
}

static int op_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi) {
    int r = refuse_if_read_only();
    if (r) return r;
    as_caller();
    struct timeval times[2];
    struct timeval now;
    gettimeofday(&now, NULL);
    for (int i = 0; i < 2; i++) {
        if (tv[i].tv_nsec == UTIME_NOW) {
            times[i] = now;
        } else if (tv[i].tv_nsec == UTIME_OMIT) {
            struct nfs_stat_64 s;
            if ((r = nfs_lstat64(nfs, path, &s)) < 0) return r;
            times[i].tv_sec = (time_t)(i == 0 ? s.nfs_atime : s.nfs_mtime);
            times[i].tv_usec = (suseconds_t)((i == 0 ? s.nfs_atime_nsec : s.nfs_mtime_nsec) / 1000);
        } else {
            times[i].tv_sec = tv[i].tv_sec;
            times[i].tv_usec = tv[i].tv_nsec / 1000;
        }
    }
    return nfs_utimes(nfs, path, times);
}

static int op_readlink(const char *path, char *buf, size_t size) {
    as_caller();
    int r = nfs_readlink(nfs, path, buf, (int)size);
    if (r < 0) return r;
    buf[size - 1] = 0;
    return 0;
}

static int op_symlink(const char *target, const char *path) {
    int r = refuse_if_read_only();
    if (r) return r;
    as_caller();
    return nfs_symlink(nfs, target, path);
}

static int op_statfs(const char *path, struct statvfs *out) {
    struct nfs_statvfs_64 s;
    as_caller();
    int r = nfs_statvfs64(nfs, path, &s);
    if (r < 0) return r;
    memset(out, 0, sizeof(*out));
    out->f_bsize = s.f_bsize;
    out->f_frsize = s.f_frsize;
    out->f_blocks = s.f_blocks;
    out->f_bfree = s.f_bfree;
    out->f_bavail = s.f_bavail;
    out->f_files = s.f_files;
    out->f_ffree = s.f_ffree;
    out->f_favail = s.f_favail;
    out->f_namemax = s.f_namemax;
    if (read_only) out->f_flag |= ST_RDONLY;
    return 0;
}

static const struct fuse_operations operations = {
    .getattr = op_getattr,
    .readlink = op_readlink,
    .mkdir = op_mkdir,
    .unlink = op_unlink,
    .rmdir = op_rmdir,
    .symlink = op_symlink,
    .rename = op_rename,
    .chmod = op_chmod,
    .chown = op_chown,
    .truncate = op_truncate,
    .open = op_open,
    .read = op_read,
    .write = op_write,
    .statfs = op_statfs,
    .release = op_release,
    .fsync = op_fsync,
    .readdir = op_readdir,
    .create = op_create,
    .utimens = op_utimens,
};

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: imc-nfs SERVER EXPORT /dev/fd/N [--uid-base B --uid-count C] [--read-only]\n");
        return 2;
    }
    const char *server = argv[1], *export = argv[2], *mountpoint = argv[3];
    for (int i = 4; i < argc; i++) {
        if (strcmp(argv[i], "--uid-base") == 0 && i + 1 < argc) {
            uid_base = strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--uid-count") == 0 && i + 1 < argc) {
            uid_count = strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--read-only") == 0) {
            read_only = 1;
        } else {
            fprintf(stderr, "imc-nfs: unknown argument %s\n", argv[i]);
            return 2;
        }
    }
    nfs = nfs_init_context();
    if (nfs == NULL) {
        fprintf(stderr, "imc-nfs: cannot make an NFS context\n");
        return 1;
    }
    nfs_set_version(nfs, 4);  // NFS_V4 (libnfs-raw-nfs4.h): the servers here speak v4 without rpcbind
    nfs_set_timeout(nfs, 30000);
    nfs_set_autoreconnect(nfs, -1);
    if (nfs_mount(nfs, server, export) != 0) {
        fprintf(stderr, "imc-nfs: cannot mount %s:%s: %s\n", server, export, nfs_get_error(nfs));
        return 1;
    }
    fprintf(stderr, "imc-nfs: serving %s:%s\n", server, export);
    // The mount point is the /dev/fuse descriptor imc mounted; FUSE serves it single-threaded.
    // Every user of the instance reaches it (the server checks each request's ids).
    char *args[] = {argv[0], "-f", "-s", "-o", "allow_other", (char *)mountpoint, NULL};
    int code = fuse_main(6, args, &operations, NULL);
    nfs_destroy_context(nfs);
    return code;
}
