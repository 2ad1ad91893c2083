import Foundation
import IMCCache
import IMCOS
import IMCRuntime
import IMCServiceSupport
import IMCStore
import Logging
import Synchronization

/// Runs build jobs (`imc build-sandbox`) each in a sandbox of its own (`SandboxSpec`): a user
/// namespace with an id range taken like an instance's, the build disk shown to it through an
/// idmapped mount (what it writes as its root lands on the disk as root, and nothing else of
/// the host is writable to it), the job's description (with the registry passwords) readable by
/// it alone, its messages read back from its output. No database, no master key, no other disk
/// is in its view; a layer that escaped the extractor would meet an empty, read-only root.
public struct BuildSandbox: Sendable {
    /// The imc program the sandbox runs.
    let program: String
    let runc: Runc
    /// Where each job's bundle is made.
    let bundles: String
    let ranges: any IDRangeRepository
    let pool: IDRangePool
    let logger: Logger

    /// `root` holds the bundles and the runtime's state; it must be traversable (0711) by the
    /// sandboxes' unprivileged roots, as must every directory above it.
    public init(
        program: String = BuildSandbox.currentProgram, root: String, ranges: any IDRangeRepository, pool: IDRangePool = IDRangePool(),
        logger: Logger
    ) throws {
        self.program = program
        runc = Runc(root: root + "/runc")
        bundles = root + "/bundles"
        self.ranges = ranges
        self.pool = pool
        self.logger = logger
        for (dir, mode) in [(root, 0o711), (root + "/runc", 0o700), (bundles, 0o711)] {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            chmod(dir, mode_t(mode))
        }
    }

    /// This process's own program.
    public static var currentProgram: String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }

    /// The directories outside /usr of the shared libraries `program` loads (the Swift runtime's,
    /// when it is not linked in), from `ldd`; looked up once per program.
    static func libraryDirectories(of program: String) async -> [String] {
        if let known = libraryCache.withLock({ $0[program] }) { return known }
        var dirs = Set<String>()
        if let result = try? await Command.run(["/usr/bin/ldd", program], captureOutput: true), result.status == 0 {
            for line in result.output.split(separator: "\n") {
                // "libfoo.so => /opt/swift/usr/lib/swift/linux/libfoo.so (0x...)"
                guard let arrow = line.range(of: "=> ") else { continue }
                let path = line[arrow.upperBound...].split(separator: " ").first.map(String.init) ?? ""
                let dir = (path as NSString).deletingLastPathComponent
                if dir.hasPrefix("/"), !dir.hasPrefix("/usr/"), !dir.hasPrefix("/lib") { dirs.insert(dir) }
            }
        }
        let found = dirs.sorted()
        libraryCache.withLock { $0[program] = found }
        return found
    }

    private static let libraryCache = Mutex<[String: [String]]>([:])

    /// Runs `job` on the build disk mounted at `root`; returns when it succeeded, throws its
    /// `BuildFailure` (or `CancellationError` when stopped: the sandbox is killed).
    func run(_ job: BuildJob, root: String, emit: @Sendable (BuildMessage) -> Void) async throws {
        let id = "build-\(job.cacheID)"
        let bundle = "\(bundles)/\(job.cacheID)"
        await runc.delete(id: id)
        Mount.unmountAll(under: bundle)
        try? FileManager.default.removeItem(atPath: bundle)
        let base = try await ranges.allocateIDRange(instanceID: id, first: pool.first, size: pool.size, count: pool.count)
        let range = IDRange(base: base, count: pool.size)
        let cgroup = InstanceCgroup(instance: id)
        defer {
            Mount.unmountAll(under: bundle)
            try? FileManager.default.removeItem(atPath: bundle)
            cgroup.remove()
        }
        do { try await sandboxed(job, root: root, bundle: bundle, id: id, range: range, cgroup: cgroup, emit: emit) } catch {
            try? await ranges.releaseIDRange(instanceID: id)
            throw error
        }
        try? await ranges.releaseIDRange(instanceID: id)
    }

    /// The sandbox's run itself, once its id range is taken (`run` gives the range back after).
    private func sandboxed(
        _ job: BuildJob, root: String, bundle: String, id: String, range: IDRange, cgroup: InstanceCgroup,
        emit: @Sendable (BuildMessage) -> Void
    ) async throws {
        try FileManager.default.createDirectory(atPath: bundle + "/disk", withIntermediateDirectories: true)
        chmod(bundle, 0o711)
        let namespace = try UserNamespace(range: range)
        try Mount.idmapped(root, at: bundle + "/disk", through: namespace)
        let encoder = JSONEncoder()
        try AtomicFile.write(Array(try encoder.encode(job)), to: bundle + "/job.json", sync: false)
        chmod(bundle + "/job.json", 0o400)
        chown(bundle + "/job.json", range.base, range.base)
        var spec = SandboxSpec(program: program, arguments: ["build-sandbox", "--job", "/job.json", "--root", "/build"], ids: range)
        spec.libraries = await Self.libraryDirectories(of: program)
        spec.binds = [(bundle + "/disk", "/build", true), (bundle + "/job.json", "/job.json", false)]
        try cgroup.create(memoryBytes: spec.memoryBytes, cpus: spec.cpus, pids: spec.pids)
        try spec.write(bundle: bundle, cgroupsPath: cgroup.container("job"))

        let (writer, lines) = try LineReader.pipe()
        let child = try await runc.run(id: id, bundle: bundle, output: writer)
        var failure: BuildFailure?
        var done = false
        var tail: [String] = []
        let runtime = runc
        await withTaskCancellationHandler {
            for await line in lines {
                if let message = BuildMessage(line: line) {
                    switch message.kind {
                    case .failed:
                        failure = BuildFailure(message.reason.flatMap(CacheEventReason.init(rawValue:)) ?? .buildFailed, message.message)
                    case .done: done = true
                    default: emit(message)
                    }
                } else {
                    logger.debug("\(line)", metadata: ["sandbox": "\(id)"])
                    tail = Array((tail + [line]).suffix(8))
                }
            }
        } onCancel: {
            Task { await runtime.kill(id: id, signal: "KILL", all: true) }
        }
        let status = await child.exit()
        await runc.delete(id: id)
        try Task.checkCancellation()
        if let failure { throw failure }
        guard status == 0, done else {
            let why = cgroup.oomKills() > 0 ? "it ran out of memory (\(spec.memoryBytes >> 30) GiB)" : "status \(status)"
            throw BuildFailure(
                .buildFailed, "Build failed: the build sandbox ended (\(why))" + (tail.isEmpty ? "" : ": " + tail.joined(separator: " | ")))
        }
    }
}
