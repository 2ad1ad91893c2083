import CRBD
import Foundation

/// One Ceph RBD pool through librbd (Debian's `librbd-dev`, linked through `CRBD`): one client
/// connection per process, kept open, so that a clone costs librbd's round trips to the
/// monitor and OSD and not a new process and a new connection each time (the `rbd` tool takes
/// about 150 ms a call here just to start and connect).
///
/// librbd's calls block; callers run them on the blocking pool.
public final class RBDPool: @unchecked Sendable {
    private let cluster: rados_t
    private let io: rados_ioctx_t
    public let pool: String
    /// The `ceph.conf` the cluster was reached with (rbd-fuse reads it too).
    public let configuration: String

    /// layering (clones), exclusive-lock (one writer at a time; fencing), object-map and
    /// fast-diff (deleting and diffing a sparse image reads only what exists), deep-flatten.
    static let features: UInt64 = 1 | 4 | 8 | 16 | 32

    /// Connects to the cluster of `configuration` and opens `pool`.
    public init(configuration: String, pool: String = "rbd") throws(DiskError) {
        var cluster: rados_t?
        try Self.check(rados_create(&cluster, nil), "connecting to Ceph (\(configuration))")
        guard let cluster else { throw DiskError(.io, "rados_create gave no handle") }
        var io: rados_ioctx_t?
        do throws(DiskError) {
            try Self.check(rados_conf_read_file(cluster, configuration), "reading \(configuration)")
            // No admin socket per client (two would collide on one path), and bounded waits: a
            // cluster that does not answer fails the call, never hangs the service.
            for (key, value) in [
                ("admin_socket", ""), ("client_mount_timeout", "15"), ("rados_mon_op_timeout", "15"), ("rados_osd_op_timeout", "60"),
                ("log_to_stderr", "false"), ("err_to_stderr", "false"),
            ] {
                rados_conf_set(cluster, key, value)
            }
            try Self.check(rados_connect(cluster), "connecting to the Ceph cluster of \(configuration)")
            try Self.check(rados_ioctx_create(cluster, pool, &io), "opening RBD pool \(pool)")
        } catch {
            rados_shutdown(cluster)
            throw error
        }
        self.cluster = cluster
        self.io = io!
        self.pool = pool
        self.configuration = configuration
    }

    deinit {
        rados_ioctx_destroy(io)
        rados_shutdown(cluster)
    }

    static func check(_ rc: Int32, _ what: @autoclosure () -> String) throws(DiskError) {
        guard rc < 0 else { return }
        let reason = String(cString: strerror(-rc))
        let code: DiskError.Code = -rc == ENOENT ? .notFound : -rc == ENOSPC || -rc == EDQUOT ? .diskFull : .io
        throw DiskError(code, "\(what()): \(reason)")
    }

    /// A new image of `bytes` (thin: it uses nothing until written).
    public func create(_ name: String, bytes: UInt64) throws(DiskError) {
        var order: Int32 = 0
        try Self.check(rbd_create2(io, name, bytes, Self.features, &order), "creating RBD image \(name)")
    }

    /// A copy-on-write clone of `parent@snapshot` (which must be protected).
    public func clone(parent: String, snapshot: String, to child: String) throws(DiskError) {
        var order: Int32 = 0
        try Self.check(rbd_clone(io, parent, snapshot, io, child, Self.features, &order), "cloning \(parent)@\(snapshot) to \(child)")
    }

    /// Removes an image; true when it is gone (or never was), false when it still has snapshots.
    /// An image that is still open (a mapping that was just ended: its rbd-fuse closes it as it
    /// exits) is tried again for up to `wait`.
    @discardableResult
    public func remove(_ name: String, wait: Duration = .seconds(10)) throws(DiskError) -> Bool {
        var rc = rbd_remove(io, name)
        let deadline = ContinuousClock.now + wait
        while rc == -EBUSY && ContinuousClock.now < deadline {
            usleep(50_000)
            rc = rbd_remove(io, name)
        }
        if rc == -ENOENT || rc == 0 { return true }
        if rc == -ENOTEMPTY { return false }
        try Self.check(rc, "removing RBD image \(name)")
        return true
    }

    /// The pool's image names.
    public func images() throws(DiskError) -> [String] {
        var count = 64
        while true {
            var specs = [rbd_image_spec_t](repeating: rbd_image_spec_t(), count: count)
            var max = count
            let rc = rbd_list2(io, &specs, &max)
            if rc == -ERANGE {
                count = max + 16
                continue
            }
            try Self.check(rc, "listing RBD pool \(pool)")
            let names = specs.prefix(max).map { String(cString: $0.name) }
            rbd_image_spec_list_cleanup(&specs, max)
            return names
        }
    }

    /// Opens an image (at `snapshot`, read-only, when given).
    public func open(_ name: String, snapshot: String? = nil) throws(DiskError) -> RBDImage {
        var image: rbd_image_t?
        if let snapshot {
            try Self.check(rbd_open_read_only(io, name, &image, snapshot), "opening \(name)@\(snapshot)")
        } else {
            try Self.check(rbd_open(io, name, &image, nil), "opening RBD image \(name)")
        }
        return RBDImage(handle: image!, name: name)
    }

    /// This client's own address (`IP:PORT/NONCE`), which fencing must never blocklist.
    public func ownAddress() -> String? {
        var address: UnsafeMutablePointer<CChar>?
        guard rados_getaddrs(cluster, &address) == 0, let address else { return nil }
        defer { free(address) }
        return String(cString: address)
    }

    /// Fences image `name`: the client holding its exclusive lock loses it and is blocklisted
    /// (librbd's lock break), and every other client that has it open is blocklisted for
    /// `seconds`; after this, no write of theirs lands. Returns the clients fenced.
    public func fence(_ name: String, seconds: UInt32 = 3600) throws(DiskError) -> [String] {
        let image = try open(name)
        var fenced: [String] = []
        var mode = RBD_LOCK_MODE_EXCLUSIVE
        var owners = [UnsafeMutablePointer<CChar>?](repeating: nil, count: 8)
        var count = owners.count
        if rbd_lock_get_owners(image.handle, &mode, &owners, &count) == 0 {
            for owner in owners.prefix(count).compactMap({ $0 }) {
                let name = String(cString: owner)
                try Self.check(rbd_lock_break(image.handle, mode, owner), "breaking the lock of \(name) on \(image.name)")
                fenced.append(name)
            }
            rbd_lock_get_owners_cleanup(&owners, count)
        }
        let own = ownAddress().map(Self.nonce)
        for watcher in try image.watchers() where Self.nonce(watcher) != own {
            try blocklist(watcher, seconds: seconds)
            fenced.append(watcher)
        }
        return fenced
    }

    /// The client's nonce in an address (`v2:IP:PORT/NONCE` or `IP:PORT/NONCE`).
    static func nonce(_ address: String) -> String { String(address.split(separator: "/").last ?? Substring(address)) }

    /// Refuses every operation of the client at `address` (`IP:PORT/NONCE`, as `watchers`
    /// tells it) for `seconds`: a lost node's writes can never land after its disks moved on.
    public func blocklist(_ address: String, seconds: UInt32) throws(DiskError) {
        var copy = Array(address.utf8CString)
        try Self.check(
            copy.withUnsafeMutableBufferPointer { rados_blocklist_add(cluster, $0.baseAddress, seconds) }, "blocklisting \(address)")
    }
}

/// One open RBD image; closed when released.
public final class RBDImage: @unchecked Sendable {
    let handle: rbd_image_t
    public let name: String

    init(handle: rbd_image_t, name: String) {
        self.handle = handle
        self.name = name
    }

    deinit { rbd_close(handle) }

    public func size() throws(DiskError) -> UInt64 {
        var size: UInt64 = 0
        try RBDPool.check(rbd_get_size(handle, &size), "reading the size of \(name)")
        return size
    }

    public func resize(bytes: UInt64) throws(DiskError) {
        try RBDPool.check(rbd_resize(handle, bytes), "resizing \(name)")
    }

    public func createProtectedSnapshot(_ snapshot: String) throws(DiskError) {
        try RBDPool.check(rbd_snap_create(handle, snapshot), "snapshotting \(name)@\(snapshot)")
        try RBDPool.check(rbd_snap_protect(handle, snapshot), "protecting \(name)@\(snapshot)")
    }

    public func hasSnapshot(_ snapshot: String) -> Bool {
        var exists = false
        return rbd_snap_exists(handle, snapshot, &exists) == 0 && exists
    }

    public func isProtected(_ snapshot: String) -> Bool {
        var protected: Int32 = 0
        return rbd_snap_is_protected(handle, snapshot, &protected) == 0 && protected == 1
    }

    /// Unprotects and removes a snapshot (its clones must be flattened or gone first).
    public func removeSnapshot(_ snapshot: String) throws(DiskError) {
        let rc = rbd_snap_unprotect(handle, snapshot)
        if rc < 0 && rc != -EINVAL && rc != -ENOENT { try RBDPool.check(rc, "unprotecting \(name)@\(snapshot)") }
        let removed = rbd_snap_remove(handle, snapshot)
        if removed != -ENOENT { try RBDPool.check(removed, "removing \(name)@\(snapshot)") }
    }

    /// The names of the images cloned from this image's snapshot `snapshot`.
    public func children(of snapshot: String) throws(DiskError) -> [String] {
        try RBDPool.check(rbd_snap_set(handle, snapshot), "reading \(name)@\(snapshot)")
        defer { rbd_snap_set(handle, nil) }
        var count = 16
        while true {
            var specs = [rbd_linked_image_spec_t](repeating: rbd_linked_image_spec_t(), count: count)
            var max = count
            let rc = rbd_list_children3(handle, &specs, &max)
            if rc == -ERANGE {
                count = max + 16
                continue
            }
            try RBDPool.check(rc, "listing the clones of \(name)@\(snapshot)")
            let names = specs.prefix(max).filter { !$0.trash }.map { String(cString: $0.image_name) }
            rbd_linked_image_spec_list_cleanup(&specs, max)
            return names
        }
    }

    /// Copies the parent's data into this clone, so that the parent's snapshot can go.
    public func flatten() throws(DiskError) {
        try RBDPool.check(rbd_flatten(handle), "flattening \(name)")
    }

    public func metadata(_ key: String) -> String? {
        var length = 256
        var buffer = [CChar](repeating: 0, count: length)
        var rc = rbd_metadata_get(handle, key, &buffer, &length)
        if rc == -ERANGE {
            buffer = [CChar](repeating: 0, count: length)
            rc = rbd_metadata_get(handle, key, &buffer, &length)
        }
        return rc == 0 ? String(cString: buffer) : nil
    }

    public func setMetadata(_ key: String, _ value: String) throws(DiskError) {
        try RBDPool.check(rbd_metadata_set(handle, key, value), "recording \(key) on \(name)")
    }

    /// The extents that hold data (`[offset, offset + length)`), parent's included.
    public func allocatedExtents() throws(DiskError) -> [(offset: UInt64, length: UInt64)] {
        final class Box { var extents: [(UInt64, UInt64)] = [] }
        let box = Box()
        let size = try size()
        let rc = rbd_diff_iterate2(
            handle, nil, 0, size, 1, 0,
            { offset, length, exists, context in
                if exists != 0 { Unmanaged<Box>.fromOpaque(context!).takeUnretainedValue().extents.append((offset, UInt64(length))) }
                return 0
            }, Unmanaged.passUnretained(box).toOpaque())
        try RBDPool.check(rc, "reading the extents of \(name)")
        return box.extents.map { (offset: $0.0, length: $0.1) }
    }

    public func read(at offset: UInt64, into buffer: UnsafeMutableRawBufferPointer) -> Int {
        rbd_read(handle, offset, buffer.count, buffer.baseAddress!.assumingMemoryBound(to: CChar.self))
    }

    /// The clients that have the image open (`IP:PORT/NONCE`): rbd-fuse of each host using it.
    public func watchers() throws(DiskError) -> [String] {
        var count = 8
        while true {
            var list = [rbd_image_watcher_t](repeating: rbd_image_watcher_t(), count: count)
            var max = count
            let rc = rbd_watchers_list(handle, &list, &max)
            if rc == -ERANGE {
                count = max + 8
                continue
            }
            try RBDPool.check(rc, "listing the watchers of \(name)")
            let addresses = list.prefix(max).map { String(cString: $0.addr) }
            rbd_watchers_list_cleanup(&list, max)
            return addresses
        }
    }
}
