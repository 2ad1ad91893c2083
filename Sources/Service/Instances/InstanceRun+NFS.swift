import CIMCSys
import Foundation
import IMCInstance
import IMCOS
import IMCRegistry
import IMCServiceSupport

/// A Pod's NFS volumes: each mounted on the node by imc's userspace client (`imc-nfs`, NFSv4
/// over libnfs through FUSE: these hosts' kernel has no NFS client), one process per volume. The
/// server is checked against the operator's address policy (the registries' allowed networks:
/// a tenant cannot point a volume at the host or the network behind it), by every address it
/// resolves to, and the client is given the address, never the name. imc opens /dev/fuse and
/// mounts it itself; the client gets only the open descriptor and runs as nobody, with no
/// capabilities and no new privileges, so a hostile server reaches a process that can serve its
/// one mount and nothing else. Owners are mapped through the instance's id range.
extension InstanceRun {
    /// The client beside imc's own executable.
    static var nfsClient: String {
        let me = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: me).deletingLastPathComponent().appendingPathComponent("imc-nfs").path
    }

    func mountNFS(_ name: String, server: String, path: String, readOnly: Bool, at dir: String) async throws {
        if let client = held.nfsClients[name], client.exitStatus == nil, MountTable.isMountPoint(dir) { return }
        let policy = parts.images.clientOptions.addressPolicy
        let addresses = await BlockingPool.shared.run { IPAddress.resolve(server) }
        guard let address = addresses.first(where: \.isIPv4) else {
            throw await failedMount(name, "the NFS server \(server.prefix(60)) has no IPv4 address")
        }
        for a in addresses {
            if let rule = policy.refusal(a) {
                throw await failedMount(
                    name,
                    "the NFS server \(server.prefix(60)) is at \(a), which the operator's address policy refuses (\(rule.rawValue)); the operator allows more with registries.allowedNetworks"
                )
            }
        }
        let client = Self.nfsClient
        guard FileManager.default.isExecutableFile(atPath: client) else {
            throw await failedMount(name, "imc's NFS client is not installed beside imc (\(client))")
        }
        if !FileManager.default.fileExists(atPath: dir) {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        }
        if MountTable.isMountPoint(dir) { try? Mount.unmount(dir, detach: true) }
        held.nfsClients[name]?.signal(SIGKILL)
        let fuse = open("/dev/fuse", O_RDWR | O_CLOEXEC)
        guard fuse >= 0 else { throw await failedMount(name, "cannot open /dev/fuse: \(String(cString: strerror(errno)))") }
        let target = dir
        do {
            try await BlockingPool.shared.run {
                try Mount(
                    type: "fuse.imc-nfs", source: "\(address):\(path)", target: target,
                    flags: readOnly ? [.noSetUID, .noDevices, .readOnly] : [.noSetUID, .noDevices],
                    data: "fd=\(fuse),rootmode=40000,user_id=0,group_id=0,allow_other"
                ).mount()
            }
        } catch {
            close(fuse)
            throw await failedMount(name, "cannot mount FUSE at the volume's directory: \(error)")
        }
        let range = idRange ?? IDRange(base: 0, count: 1 << 31)
        let log = runDirectory + "/nfs-\(name).log"
        unlink(log)
        let output = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        let argv =
            [
                "/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all",
                "--no-new-privs", client, address.description, path, "/dev/fd/0", "--uid-base", "\(range.base)", "--uid-count",
                "\(range.count)",
            ] + (readOnly ? ["--read-only"] : [])
        let process: ChildProcess
        do { process = try await ChildProcess.start(argv, input: fuse, output: output, error: dup(output)) } catch {
            try? Mount.unmount(dir, detach: true)
            throw await failedMount(name, "cannot start imc's NFS client: \(error)")
        }
        held.nfsClients[name] = process
        // Serving once it has mounted the export (it says so); a server that refuses or does not
        // answer ends it.
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            let said = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            if said.contains("imc-nfs: serving") {
                await event(
                    .mounted,
                    "NFS volume \(name) mounted from \(server):\(path)\(readOnly ? " read-only" : "") by imc's userspace client (NFSv4 over libnfs, through FUSE): this node's kernel has no NFS client"
                )
                return
            }
            if process.exitStatus != nil { break }
            try? await Task.sleep(for: .milliseconds(50))
        }
        process.signal(SIGKILL)
        try? Mount.unmount(dir, detach: true)
        held.nfsClients[name] = nil
        let said = ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        throw await failedMount(
            name, said.isEmpty ? "the NFS server \(server):\(path) did not answer within 20 s" : String(said.suffix(300)))
    }

    /// The NFS volumes unmounted and their clients ended (before the run directory's mounts go).
    func unmountNFS() async {
        for volume in instance.volumes {
            guard case .nfs = volume.source else { continue }
            let dir = volumeDirectory(volume.name)
            if MountTable.isMountPoint(dir) { try? Mount.unmount(dir, detach: true) }
        }
        for (_, client) in held.nfsClients { client.signal(SIGTERM) }
        held.nfsClients = [:]
    }

    /// A FailedMount event, and the error that fails the start.
    private func failedMount(_ name: String, _ why: String) async -> ServiceError {
        let message = "MountVolume.SetUp failed for volume \"\(name)\": \(why)"
        await event(.failedMount, message)
        return ServiceError.failed(message)
    }
}
