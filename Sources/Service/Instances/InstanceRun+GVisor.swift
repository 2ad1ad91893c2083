import Foundation
import IMCInstance
import IMCOS
import IMCRuntime
import IMCServiceSupport

/// Instances of the `gvisor` runtime class: the Pod is one gVisor sandbox (a kernel in user space
/// of its own, which the containers' system calls reach instead of the host's), started with a
/// pause process as containerd's CRI plugin starts one; the containers join it and share its
/// loopback. The sentry is the wall here: the containers see their files with the ids the image
/// gave them (no idmapped layers), and gVisor applies its own system call filter to itself.
extension InstanceRun {
    /// The runtime id of the Pod's sandbox (no container name can give it: names do not start
    /// with '-').
    var sandboxID: String { "\(id)--sandbox" }

    /// The program the sandbox's pause process runs: Debian's static busybox, bound read-only.
    static let pauseProgram = "/bin/busybox"

    /// Starts the Pod's sandbox, unless it runs.
    func startSandbox() async throws {
        guard instance.runtimeClass == .gvisor else { return }
        if let sandbox = held.sandbox, sandbox.exitStatus == nil { return }
        guard FileManager.default.isExecutableFile(atPath: Self.pauseProgram) else {
            throw ServiceError.failed("the gvisor runtime class needs \(Self.pauseProgram) (Debian's busybox-static) on the host")
        }
        let root = runDirectory + "/sandbox/rootfs"
        let bundle = runDirectory + "/sandbox"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: root + "/busybox", contents: nil)
        var isolation = Isolation()
        isolation.seccomp = false
        isolation.sandbox = .sandbox
        var spec = RuntimeSpec.make(
            process: ProcessSpec(args: ["/busybox", "sleep", "2147483647"], env: ["PATH=/"], cwd: "/", uid: 65534, gid: 65534),
            rootfs: root, hostname: InstanceService.isDNSLabel(instance.name) ? instance.name : id,
            cgroupsPath: cgroup.container("sandbox"), networkNamespace: instance.vpcID == nil ? nil : network.path,
            isolation: isolation)
        spec.root.readonly = true
        spec.mounts.append(
            .init(destination: "/busybox", type: "bind", source: Self.pauseProgram, options: ["bind", "ro", "nosuid", "nodev"]))
        try RuntimeSpec.write(spec, bundle: bundle)
        if runtime.exists(id: sandboxID) { await runtime.delete(id: sandboxID) }
        held.sandbox = try await runtime.start(id: sandboxID, bundle: bundle, log: runDirectory + "/sandbox.log")
    }

    /// Ends the sandbox (after its containers): the runtime kills it; if its `run` has not
    /// ended 10 s later, that process is killed too.
    func stopSandbox() async {
        guard instance.runtimeClass == .gvisor else { return }
        await runtime.kill(id: sandboxID, signal: "KILL", all: true)
        if let sandbox = held.sandbox {
            let clock = parts.clock
            await firstOf({ _ = await sandbox.exit() }, { try? await clock.sleep(for: .seconds(10)) })
            if sandbox.exitStatus == nil {
                sandbox.signal(SIGKILL)
                _ = await sandbox.exit()
            }
        }
        held.sandbox = nil
        await runtime.delete(id: sandboxID)
    }
}
