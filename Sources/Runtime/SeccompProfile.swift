/// The system calls a tenant's container may make: the rules of Docker's default profile
/// (moby's `profiles/seccomp`), written as imc's own data. An allow-list: anything not listed is
/// refused with EPERM. A container never has CAP_SYS_ADMIN here, so the calls Docker allows only
/// with it are not listed: no namespaces (`unshare`, `setns`, `clone` with a namespace flag), no
/// mounts, no keyrings (`add_key`, `keyctl`, `request_key`), no `bpf`, `perf_event_open`,
/// `userfaultfd`, io_uring, module loading, `kexec`, `ptrace` or clock setting.
public enum SeccompProfile {
    /// Allowed with any arguments.
    public static let allowed: [String] = [
        "accept", "accept4", "access", "alarm", "bind", "brk", "capget", "capset", "chdir", "chmod", "chown", "clock_getres",
        "clock_gettime", "clock_nanosleep", "close", "close_range", "connect", "copy_file_range", "creat", "dup", "dup2", "dup3",
        "epoll_create", "epoll_create1", "epoll_ctl", "epoll_pwait", "epoll_pwait2", "epoll_wait", "eventfd", "eventfd2", "execve",
        "execveat", "exit", "exit_group", "faccessat", "faccessat2", "fadvise64", "fallocate", "fanotify_mark", "fchdir", "fchmod",
        "fchmodat", "fchmodat2", "fchown", "fchownat", "fcntl", "fdatasync", "fgetxattr", "flistxattr", "flock", "fork",
        "fremovexattr", "fsetxattr", "fstat", "fstatfs", "fsync", "ftruncate", "futex", "futex_waitv", "futimesat", "getcpu", "getcwd",
        "getdents", "getdents64", "getegid", "geteuid", "getgid", "getgroups", "getitimer", "getpeername", "getpgid", "getpgrp",
        "getpid", "getppid", "getpriority", "getrandom", "getresgid", "getresuid", "getrlimit", "get_robust_list", "getrusage",
        "getsid", "getsockname", "getsockopt", "get_thread_area", "gettid", "gettimeofday", "getuid", "getxattr", "inotify_add_watch",
        "inotify_init", "inotify_init1", "inotify_rm_watch", "io_cancel", "ioctl", "io_destroy", "io_getevents", "io_pgetevents",
        "ioprio_get", "ioprio_set", "io_setup", "io_submit", "kill", "landlock_add_rule", "landlock_create_ruleset",
        "landlock_restrict_self", "lchown", "lgetxattr", "link", "linkat", "listen", "listxattr", "llistxattr", "lremovexattr",
        "lseek", "lsetxattr", "lstat", "madvise", "membarrier", "memfd_create", "memfd_secret", "mincore", "mkdir", "mkdirat", "mknod",
        "mknodat", "mlock", "mlock2", "mlockall", "mmap", "mprotect", "mq_getsetattr", "mq_notify", "mq_open", "mq_timedreceive",
        "mq_timedsend", "mq_unlink", "mremap", "msgctl", "msgget", "msgrcv", "msgsnd", "msync", "munlock", "munlockall", "munmap",
        "nanosleep", "newfstatat", "open", "openat", "openat2", "pause", "pidfd_open", "pidfd_send_signal", "pipe",
        "pipe2", "pkey_alloc", "pkey_free", "pkey_mprotect", "poll", "ppoll", "prctl", "pread64", "preadv", "preadv2", "prlimit64",
        "process_mrelease", "pselect6", "pwrite64", "pwritev", "pwritev2", "read", "readahead", "readlink", "readlinkat", "readv",
        "recvfrom", "recvmmsg", "recvmsg", "remap_file_pages", "removexattr", "rename", "renameat", "renameat2", "restart_syscall",
        "rmdir", "rseq", "rt_sigaction", "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn", "rt_sigsuspend",
        "rt_sigtimedwait", "rt_tgsigqueueinfo", "sched_getaffinity", "sched_getattr", "sched_getparam", "sched_get_priority_max",
        "sched_get_priority_min", "sched_getscheduler", "sched_rr_get_interval", "sched_setaffinity", "sched_setattr",
        "sched_setparam", "sched_setscheduler", "sched_yield", "seccomp", "select", "semctl", "semget", "semop", "semtimedop",
        "sendfile", "sendmmsg", "sendmsg", "sendto", "setfsgid", "setfsuid", "setgid", "setgroups", "setitimer", "setpgid",
        "setpriority", "setregid", "setresgid", "setresuid", "setreuid", "setrlimit", "set_robust_list", "setsid", "setsockopt",
        "set_thread_area", "set_tid_address", "setuid", "setxattr", "shmat", "shmctl", "shmdt", "shmget", "shutdown", "sigaltstack",
        "signalfd", "signalfd4", "socket", "socketpair", "splice", "stat", "statfs", "statx", "symlink", "symlinkat", "sync",
        "sync_file_range", "syncfs", "sysinfo", "tee", "tgkill", "time", "timer_create", "timer_delete", "timer_getoverrun",
        "timer_gettime", "timer_settime", "timerfd_create", "timerfd_gettime", "timerfd_settime", "times", "tkill", "truncate",
        "umask", "uname", "unlink", "unlinkat", "utime", "utimensat", "utimes", "vfork", "vmsplice", "wait4", "waitid", "write",
        "writev", "arch_prctl", "modify_ldt",
    ]

    /// `clone` without any flag that makes a namespace (Docker's rule for a container without
    /// CAP_SYS_ADMIN): CLONE_NEWNS, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET, NEWCGROUP.
    public static let cloneNamespaceFlags: UInt64 =
        0x0002_0000 | 0x0400_0000 | 0x0800_0000 | 0x1000_0000 | 0x2000_0000 | 0x4000_0000
        | 0x0200_0000

    /// libseccomp's name for this machine's architecture.
    public static var hostArchitecture: String {
        #if arch(arm64)
            "SCMP_ARCH_AARCH64"
        #else
            "SCMP_ARCH_X86_64"
        #endif
    }

    /// The calls tests show refused, one per wall (each must stay off the allow-list).
    public static let refusedOnPurpose: [String] = [
        "unshare", "setns", "mount", "umount2", "pivot_root", "add_key", "keyctl", "request_key", "bpf", "perf_event_open",
        "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register", "kexec_load", "kexec_file_load", "init_module",
        "finit_module", "delete_module", "ptrace", "process_vm_readv", "process_vm_writev", "open_by_handle_at", "clock_settime",
        "settimeofday", "adjtimex", "reboot", "swapon", "swapoff", "acct", "quotactl", "lookup_dcookie", "vhangup", "syslog",
        "mount_setattr", "move_mount", "open_tree", "fsopen", "fsmount", "fsconfig", "fspick",
    ]

    /// The profile as the runtime spec carries it: the allow-list, `clone` without namespace
    /// flags, and `clone3` answered ENOSYS (so that the C library falls back to `clone`, whose
    /// flags the filter can see). Only the host's own 64-bit calls are let in: a 32-bit (i386,
    /// x32) call is refused like any call off the list. Docker's profile lets those ABIs in too;
    /// leaving them out refuses 32-bit programs in images (rare) and makes the runtime's filter
    /// a third the size, about 10 ms of every container's start on this hardware.
    public static func spec() -> OCISpec.Seccomp {
        OCISpec.Seccomp(
            defaultAction: "SCMP_ACT_ERRNO", architectures: [hostArchitecture],
            syscalls: [
                .init(names: allowed, action: "SCMP_ACT_ALLOW"),
                .init(names: ["personality"], action: "SCMP_ACT_ALLOW", args: [.init(index: 0, value: 0, op: "SCMP_CMP_EQ")]),
                .init(names: ["personality"], action: "SCMP_ACT_ALLOW", args: [.init(index: 0, value: 0x0008, op: "SCMP_CMP_EQ")]),
                .init(names: ["personality"], action: "SCMP_ACT_ALLOW", args: [.init(index: 0, value: 0xffff_ffff, op: "SCMP_CMP_EQ")]),
                .init(
                    names: ["clone"], action: "SCMP_ACT_ALLOW",
                    args: [.init(index: 0, value: cloneNamespaceFlags, valueTwo: 0, op: "SCMP_CMP_MASKED_EQ")]),
                .init(names: ["clone3"], action: "SCMP_ACT_ERRNO", errnoRet: 38),
            ])
    }
}
