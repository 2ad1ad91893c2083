import Foundation
import IMCModel
import IMCRuntime
import IMCTestSupport
import Testing

struct ProcessSpecTests {
    func config(entrypoint: [String]?, cmd: [String]?, env: [String]? = nil, workdir: String? = nil) -> ImageConfig.Config {
        var c = ImageConfig.Config()
        c.Entrypoint = entrypoint
        c.Cmd = cmd
        c.Env = env
        c.WorkingDir = workdir
        return c
    }

    /// Kubernetes' table: command replaces Entrypoint (and drops Cmd), args replace Cmd.
    @Test(
        arguments: [
            (["/ep"], ["c1"], nil, nil, ["/ep", "c1"]),
            (["/ep"], ["c1"], ["/cmd"], nil, ["/cmd"]),
            (["/ep"], ["c1"], nil, ["a1"], ["/ep", "a1"]),
            (["/ep"], ["c1"], ["/cmd"], ["a1"], ["/cmd", "a1"]),
            (nil, ["/bin/sh"], nil, nil, ["/bin/sh"]),
            (nil, ["/bin/sh"], nil, ["-c", "x"], ["-c", "x"]),
        ] as [([String]?, [String]?, [String]?, [String]?, [String])])
    func argumentsFollowKubernetes(entrypoint: [String]?, cmd: [String]?, command: [String]?, args: [String]?, expected: [String]) throws {
        let spec = try ProcessSpec.resolve(
            image: config(entrypoint: entrypoint, cmd: cmd), command: command, args: args, env: [], workingDir: nil)
        #expect(spec.args == expected)
    }

    @Test func environmentOverridesByNameAndPathIsAlwaysSet() throws {
        let spec = try ProcessSpec.resolve(
            image: config(entrypoint: nil, cmd: ["/x"], env: ["A=1", "B=2"], workdir: "/srv"), command: nil, args: nil,
            env: [("B", "3"), ("C", "x=y")], workingDir: nil)
        #expect(spec.env == ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "A=1", "B=3", "C=x=y"])
        #expect(spec.cwd == "/srv")
    }

    @Test func nothingToRunOrABadVariableIsRefused() {
        #expect(throws: RuntimeError.self) {
            try ProcessSpec.resolve(image: config(entrypoint: nil, cmd: nil), command: nil, args: nil, env: [], workingDir: nil)
        }
        #expect(throws: RuntimeError.self) {
            try ProcessSpec.resolve(
                image: config(entrypoint: nil, cmd: ["/x"]), command: nil, args: nil, env: [("A=B", "1")], workingDir: nil)
        }
        #expect(throws: RuntimeError.self) {
            try ProcessSpec.resolve(image: config(entrypoint: nil, cmd: ["/x"]), command: nil, args: nil, env: [], workingDir: "rel")
        }
    }

    @Test func usersResolveAgainstTheImagesOwnFiles() throws {
        let passwd = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n"
        let group = "root:x:0:\nstaff:x:50:\n"
        #expect(try ImageUser.resolve(nil, passwd: passwd, group: group) == (0, 0))
        #expect(try ImageUser.resolve("app", passwd: passwd, group: group) == (1000, 1001))
        #expect(try ImageUser.resolve("1000", passwd: passwd, group: group) == (1000, 1001))
        #expect(try ImageUser.resolve("4242", passwd: passwd, group: group) == (4242, 0))
        #expect(try ImageUser.resolve("app:staff", passwd: passwd, group: group) == (1000, 50))
        #expect(try ImageUser.resolve("app:7", passwd: passwd, group: group) == (1000, 7))
        #expect(throws: RuntimeError.self) { try ImageUser.resolve("nobody", passwd: passwd, group: group) }
        #expect(throws: RuntimeError.self) { try ImageUser.resolve("app:wheel", passwd: passwd, group: group) }
    }
}

/// Real overlay mounts and real runc.
@Suite(
    .enabled(
        if: Requirements.isRoot && FileManager.default.isExecutableFile(atPath: "/usr/sbin/runc")
            && FileManager.default.isExecutableFile(atPath: "/bin/busybox"), "needs root, runc and busybox-static"))
struct RuncTests {
    /// A two-layer image: busybox below, an /etc/passwd and a data file above.
    func layers(in dir: TemporaryDirectory) throws -> [String] {
        let base = dir.appending("layer0")
        let top = dir.appending("layer1")
        let fm = FileManager.default
        try fm.createDirectory(atPath: base + "/bin", withIntermediateDirectories: true)
        try fm.copyItem(atPath: "/bin/busybox", toPath: base + "/bin/busybox")
        for tool in ["sh", "echo", "cat", "id", "sleep", "touch", "ls"] {
            try fm.createSymbolicLink(atPath: base + "/bin/\(tool)", withDestinationPath: "busybox")
        }
        for d in ["proc", "sys", "dev", "tmp", "etc"] { try fm.createDirectory(atPath: base + "/" + d, withIntermediateDirectories: true) }
        try fm.createDirectory(atPath: top + "/etc", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: top + "/data", withIntermediateDirectories: true)
        try "root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/:/bin/sh\n".write(toFile: top + "/etc/passwd", atomically: true, encoding: .utf8)
        try "from the image\n".write(toFile: top + "/data/file", atomically: true, encoding: .utf8)
        return [base, top]
    }

    func bundle(_ dir: TemporaryDirectory, name: String, lower: [String], args: [String], user: String? = nil) throws -> String {
        let rootfs = dir.appending("\(name)/rootfs")
        try Overlay.mount(lower: lower, upper: dir.appending("\(name)/upper"), work: dir.appending("\(name)/work"), at: rootfs)
        var config = ImageConfig.Config()
        config.Cmd = args
        config.User = user
        var process = try ProcessSpec.resolve(image: config, command: nil, args: nil, env: [("GREETING", "hello")], workingDir: "/data")
        let ids = try ImageUser.resolve(
            user, passwd: Overlay.readFile("/etc/passwd", inRoot: rootfs), group: Overlay.readFile("/etc/group", inRoot: rootfs))
        process.uid = ids.uid
        process.gid = ids.gid
        let bundle = dir.appending("\(name)/bundle")
        try RuntimeSpec.write(
            RuntimeSpec.make(process: process, rootfs: rootfs, hostname: name, cgroupsPath: "/imc-test/\(name)"), bundle: bundle)
        return bundle
    }

    @Test func aContainerRunsOnAnOverlayItsWritesStayInItsUpperLayerAndItsExitCodeIsKept() async throws {
        let dir = try TemporaryDirectory(prefix: "imc-runc")
        let runc = Runc(root: dir.appending("state"))
        let lower = try layers(in: dir)
        let name = "t\(UInt32.random(in: 0...UInt32.max))"
        let b = try bundle(
            dir, name: name, lower: lower,
            args: ["/bin/sh", "-c", "echo $GREETING; id -u; pwd; cat /data/file; touch /data/new; exit 3"], user: "app")
        try await withCleanup {
            // The upper layer must let uid 1000 write /data.
            chmod(lower[1] + "/data", 0o777)
            let log = dir.appending("\(name).log")
            let container = try await runc.start(id: name, bundle: b, log: log)
            #expect(container.containerPID > 0)
            #expect(await container.exit() == 3)
            let output = try String(contentsOfFile: log, encoding: .utf8)
            #expect(output == "hello\n1000\n/data\nfrom the image\n")
            #expect(FileManager.default.fileExists(atPath: dir.appending("\(name)/upper/data/new")))
            #expect(!FileManager.default.fileExists(atPath: lower[1] + "/data/new"), "the image's layer is untouched")
        } cleanup: {
            await runc.delete(id: name)
            Overlay.unmount(dir.appending("\(name)/rootfs"))
        }
    }

    @Test func aContainerThatIgnoresTermIsKilled() async throws {
        let dir = try TemporaryDirectory(prefix: "imc-runc")
        let runc = Runc(root: dir.appending("state"))
        let name = "t\(UInt32.random(in: 0...UInt32.max))"
        let b = try bundle(dir, name: name, lower: try layers(in: dir), args: ["/bin/sleep", "300"])
        try await withCleanup {
            let container = try await runc.start(id: name, bundle: b, log: dir.appending("log"))
            // sleep as pid 1 has no handler for SIGTERM, so the kernel ignores it.
            container.signal(SIGTERM)
            try await Task.sleep(for: .milliseconds(200))
            #expect(container.exitStatus == nil)
            await runc.kill(id: name, signal: "KILL", all: true)
            #expect(await container.exit() == 137)
            #expect(kill(container.containerPID, 0) != 0, "no process is left")
        } cleanup: {
            await runc.delete(id: name)
            Overlay.unmount(dir.appending("\(name)/rootfs"))
        }
    }

    @Test func aMissingExecutableIsAnErrorNamingIt() async throws {
        let dir = try TemporaryDirectory(prefix: "imc-runc")
        let runc = Runc(root: dir.appending("state"))
        let name = "t\(UInt32.random(in: 0...UInt32.max))"
        let b = try bundle(dir, name: name, lower: try layers(in: dir), args: ["/no/such/program"])
        try await withCleanup {
            do {
                let c = try await runc.start(id: name, bundle: b, log: dir.appending("log"))
                // runc may report the failed exec after the pid file appeared: then it exits non-zero.
                #expect(await c.exit() != 0)
            } catch {
                #expect((error as? RuntimeError)?.message.contains("/no/such/program") == true)
            }
            #expect(Runc.tail(of: dir.appending("log")).contains("/no/such/program"))
        } cleanup: {
            await runc.delete(id: name)
            Overlay.unmount(dir.appending("\(name)/rootfs"))
        }
    }

    @Test func anImagesSymlinkCannotMakeItReadTheHostsFiles() throws {
        let dir = try TemporaryDirectory(prefix: "imc-runc")
        let root = dir.appending("root")
        try FileManager.default.createDirectory(atPath: root + "/etc", withIntermediateDirectories: true)
        let secret = dir.appending("host-secret")
        try "app:x:0:0\n".write(toFile: secret, atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: root + "/etc/passwd", withDestinationPath: secret)
        try FileManager.default.createSymbolicLink(atPath: root + "/etc/group", withDestinationPath: "../../host-secret")
        #expect(Overlay.readFile("/etc/passwd", inRoot: root) == nil)
        #expect(Overlay.readFile("/etc/group", inRoot: root) == nil)
    }
}
