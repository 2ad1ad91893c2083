import CIMCSys
import Foundation
import IMCInstance
import IMCOS
import IMCRuntime
import IMCServiceSupport

/// A Pod's volumes on the node: emptyDirs on the instance's disk (or a tmpfs), ConfigMap,
/// Secret, downward API and projected files written as the kubelet writes them (a timestamped
/// directory behind a `..data` symlink, swapped atomically when what they come from changes),
/// and the bind mounts each container sees them through.
extension InstanceRun {
    var volumesRoot: String { diskRoot + "/volumes" }
    func volumeDirectory(_ name: String) -> String { volumesRoot + "/" + name }

    /// Makes every volume (again: what exists is kept, files are rewritten only when they
    /// changed). A ConfigMap or Secret that is not there is the container's config error.
    func prepareVolumes() async throws {
        guard !instance.volumes.isEmpty else { return }
        try makeDirectory(volumesRoot, mode: 0o711)
        let owner = idRange?.base ?? 0
        for volume in instance.volumes {
            let dir = volumeDirectory(volume.name)
            switch volume.source {
            case .emptyDir(let memory, let limit):
                if !FileManager.default.fileExists(atPath: dir) { try makeDirectory(dir, mode: 0o777) }
                if memory, !MountTable.isMountPoint(dir) {
                    let data = "mode=0777" + (limit.map { ",size=\(max(4096, $0))" } ?? "")
                    let target = dir
                    try await BlockingPool.shared.run {
                        try Mount(type: "tmpfs", source: "tmpfs", target: target, flags: [.noSetUID, .noDevices], data: data).mount()
                    }
                }
            case .files(let files):
                _ = try await writeFiles(files, name: volume.name, at: dir, owner: owner)
            case .nfs(let server, let path, let readOnly):
                try await mountNFS(volume.name, server: server, path: path, readOnly: readOnly, at: dir)
            }
        }
    }

    /// Writes a file volume when its content differs from what is there; returns whether it did.
    func writeFiles(_ volume: FileVolume, name: String, at dir: String, owner: UInt32) async throws -> Bool {
        let names = VolumeFiles.objects(of: volume)
        let objects =
            names.isEmpty
            ? [:] : try await parts.objects.data(names, account: instance.account, namespace: instance.kubernetes?.namespace ?? "default")
        let files: [VolumeFiles.File]
        do { files = try VolumeFiles.render(volume, name: name, of: instance, objects: objects) } catch {
            throw ContainerConfigError(container: instance.containers.first?.name ?? "", message: error.message)
        }
        return try AtomicDirectory.write(files, to: dir, owner: owner)
    }

    /// Keeps file volumes up to date while the instance runs (every 2 s, as the kubelet's sync
    /// does, sooner), and evicts it when a disk emptyDir holds more than its sizeLimit.
    func refreshVolumes() async {
        let files = instance.volumes.filter { if case .files = $0.source { return true } else { return false } }
        let limited = instance.volumes.compactMap { v -> (String, Int64)? in
            if case .emptyDir(false, let limit?) = v.source { return (v.name, limit) }
            return nil
        }
        guard !files.isEmpty || !limited.isEmpty else { return }
        // Started again by the next supervision (a restart of an instance that had ended).
        defer { held.refreshingVolumes = false }
        // A walk of a disk emptyDir costs what the Pod put there (a million empty files is a
        // long walk): the next check waits ten times as long as the last walk took, so a Pod
        // cannot hold a blocking thread of imc's for more than a tenth of the time.
        var pause: Duration = .seconds(2)
        while !life.isStopping {
            try? await parts.clock.sleep(for: pause)
            pause = .seconds(2)
            guard !life.isStopping, !instance.status.isEnded else { return }
            guard instance.status == .running else { continue }
            for volume in files {
                guard case .files(let f) = volume.source else { continue }
                if (try? await writeFiles(f, name: volume.name, at: volumeDirectory(volume.name), owner: idRange?.base ?? 0)) == true {
                    parts.logger.debug("volume files updated", metadata: ["instance": "\(id)", "volume": "\(volume.name)"])
                }
            }
            for (name, limit) in limited {
                let dir = volumeDirectory(name)
                let began = ContinuousClock.now
                let used = await BlockingPool.shared.run { AtomicDirectory.bytesUsed(under: dir, stopPast: limit) }
                pause = max(pause, (ContinuousClock.now - began) * 10)
                if used > limit {
                    await perform(
                        life.evicted("Usage of EmptyDir volume \"\(name)\" exceeds the limit \"\(limit)\" bytes.", at: now))
                    return
                }
            }
        }
    }

    /// The bind mounts of `spec`'s volumeMounts (a subPath bound first, resolved inside its
    /// volume, onto a staging path of the run directory).
    func volumeMounts(for spec: ContainerSpec) throws -> [Isolation.BindMount] {
        var out: [Isolation.BindMount] = []
        for (j, m) in (spec.volumeMounts ?? []).enumerated() {
            guard let volume = instance.volumes.first(where: { $0.name == m.name }) else { continue }
            let filesVolume: Bool
            var readOnlyVolume = false
            switch volume.source {
            case .files: filesVolume = true
            case .nfs(_, _, let readOnly): (filesVolume, readOnlyVolume) = (false, readOnly)
            case .emptyDir: filesVolume = false
            }
            var source = volumeDirectory(volume.name)
            if let sub = m.subPath {
                source = try bindSubPath(sub, in: source, staging: runDirectory + "/subpaths/\(spec.name)/\(j)", create: !filesVolume)
            }
            out.append(
                Isolation.BindMount(destination: m.mountPath, source: source, readOnly: m.readOnly || filesVolume || readOnlyVolume))
        }
        return out
    }

    /// Resolves `path` inside `root` (no `..` or symlink leads out: `openat2(RESOLVE_IN_ROOT)`),
    /// creating it as a directory when asked and it is not there, and binds what it names onto
    /// `staging`, which the container's mount then uses: a symlink the container plants later
    /// changes nothing.
    func bindSubPath(_ path: String, in root: String, staging: String, create: Bool) throws -> String {
        if MountTable.isMountPoint(staging) { return staging }
        let rootFD = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard rootFD >= 0 else { throw ServiceError.failed("volume directory \(root) cannot be opened") }
        defer { close(rootFD) }
        var fd = imc_open_in_root(rootFD, path, IMC_O_PATH | O_CLOEXEC, 0)
        if fd < 0, errno == ENOENT, create {
            // Made a part at a time, each resolved inside the volume.
            var made = ""
            for part in path.split(separator: "/") {
                made += (made.isEmpty ? "" : "/") + part
                let parent = imc_open_in_root(
                    rootFD, (made as NSString).deletingLastPathComponent.isEmpty ? "." : (made as NSString).deletingLastPathComponent,
                    O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0)
                guard parent >= 0 else { break }
                mkdirat(parent, String(part), 0o777)
                close(parent)
            }
            fd = imc_open_in_root(rootFD, path, IMC_O_PATH | O_CLOEXEC, 0)
        }
        guard fd >= 0 else { throw ServiceError.failed("subPath \(path) is not in its volume") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw ServiceError.failed("subPath \(path) cannot be read") }
        try FileManager.default.createDirectory(
            atPath: (staging as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        if (st.st_mode & S_IFMT) == S_IFDIR {
            try makeDirectory(staging, mode: 0o755)
        } else {
            let created = open(staging, O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
            if created >= 0 { close(created) }
        }
        try Mount(type: "", source: "/proc/self/fd/\(fd)", target: staging, flags: [.bind]).mount()
        return staging
    }

    private func makeDirectory(_ path: String, mode: mode_t) throws {
        if mkdir(path, mode) != 0, errno != EEXIST { throw ServiceError.failed("cannot make \(path): \(String(cString: strerror(errno)))") }
        chmod(path, mode)
    }
}

/// The kubelet's atomic writer: a volume's files in `..TIMESTAMP/`, `..data` a symlink to it,
/// and each top-level name a symlink through `..data`; an update writes a new directory and
/// renames a new `..data` over the old, so a reader sees the old files or the new, never a mix.
enum AtomicDirectory {
    /// Writes `files` under `dir` unless they are what is there; returns whether it wrote.
    static func write(_ files: [VolumeFiles.File], to dir: String, owner: UInt32) throws -> Bool {
        let fm = FileManager.default
        if !fm.fileExists(atPath: dir) {
            mkdir(dir, 0o755)
            chmod(dir, 0o755)
        }
        let data = dir + "/..data"
        if let current = try? fm.destinationOfSymbolicLink(atPath: data), same(files, in: dir + "/" + current) { return false }
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let stamp = "..\(now.tv_sec)_\(now.tv_nsec)"
        let fresh = dir + "/" + stamp
        guard mkdir(fresh, 0o755) == 0 else { throw ServiceError.failed("cannot make \(fresh)") }
        chmod(fresh, 0o755)
        for file in files {
            let path = fresh + "/" + file.path
            try fm.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try AtomicFile.write(file.data, to: path, mode: mode_t(file.mode))
            chmod(path, mode_t(file.mode))
            chown(path, owner, owner)
        }
        let old = try? fm.destinationOfSymbolicLink(atPath: data)
        let temporary = dir + "/..data_tmp"
        unlink(temporary)
        guard symlink(stamp, temporary) == 0, rename(temporary, data) == 0 else { throw ServiceError.failed("cannot swap \(data)") }
        // The top-level names: new ones linked, gone ones removed.
        let tops = Set(files.map { String($0.path.split(separator: "/")[0]) })
        for top in tops where (try? fm.destinationOfSymbolicLink(atPath: dir + "/" + top)) == nil {
            symlink("..data/" + top, dir + "/" + top)
        }
        for entry in (try? fm.contentsOfDirectory(atPath: dir)) ?? [] where !entry.hasPrefix("..") && !tops.contains(entry) {
            unlink(dir + "/" + entry)
        }
        if let old, old != stamp { try? fm.removeItem(atPath: dir + "/" + old) }
        return true
    }

    /// Whether `dir` holds exactly `files` with their modes.
    static func same(_ files: [VolumeFiles.File], in dir: String) -> Bool {
        var count = 0
        for file in files {
            let path = dir + "/" + file.path
            var st = stat()
            guard lstat(path, &st) == 0, Int(st.st_mode & 0o777) == file.mode,
                let data = FileManager.default.contents(atPath: path), Array(data) == file.data
            else { return false }
            count += 1
        }
        let enumerator = FileManager.default.enumerator(atPath: dir)
        var present = 0
        while let name = enumerator?.nextObject() as? String {
            var st = stat()
            if lstat(dir + "/" + name, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG { present += 1 }
        }
        return present == count
    }

    /// Bytes the files under `dir` take on its disk (not following symlinks), counted until
    /// the total passes `stopPast`.
    static func bytesUsed(under dir: String, stopPast limit: Int64 = .max) -> Int64 {
        var total: Int64 = 0
        guard let enumerator = FileManager.default.enumerator(atPath: dir) else { return 0 }
        while total <= limit, let name = enumerator.nextObject() as? String {
            var st = stat()
            if lstat(dir + "/" + name, &st) == 0 { total += Int64(st.st_blocks) * 512 }
        }
        return total
    }
}
