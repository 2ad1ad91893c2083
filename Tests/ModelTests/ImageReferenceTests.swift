import IMCModel
import Testing

struct ImageReferenceTests {
    @Test(arguments: [
        ("nginx", "docker.io/library/nginx:latest"),
        ("nginx:1.25", "docker.io/library/nginx:1.25"),
        ("library/nginx", "docker.io/library/nginx:latest"),
        ("docker.io/nginx", "docker.io/library/nginx:latest"),
        ("index.docker.io/library/nginx:1", "docker.io/library/nginx:1"),
        ("user/app", "docker.io/user/app:latest"),
        ("localhost/app", "localhost/app:latest"),
        ("localhost:5000/a/b", "localhost:5000/a/b:latest"),
        ("127.0.0.1:5000/a/b:v1.2-rc_3", "127.0.0.1:5000/a/b:v1.2-rc_3"),
        ("ccr.ccs.tencentyun.com/ns/app:1", "ccr.ccs.tencentyun.com/ns/app:1"),
        ("[::1]:5000/a:t", "[::1]:5000/a:t"),
        ("a.b/c__d/e--f.g", "a.b/c__d/e--f.g:latest"),
        (
            "localhost:5000/a/b@sha256:" + String(repeating: "a", count: 64),
            "localhost:5000/a/b@sha256:" + String(repeating: "a", count: 64)
        ),
        (
            "nginx:1.25@sha256:" + String(repeating: "0", count: 64),
            "docker.io/library/nginx:1.25@sha256:" + String(repeating: "0", count: 64)
        ),
        ("Example.com/app", "Example.com/app:latest"),
    ])
    func normalisesAsDockerDoes(input: String, expected: String) throws {
        #expect(try ImageReference(parsing: input).description == expected)
    }

    @Test(arguments: [
        ("", "empty"),
        ("Nginx", "lowercase"),
        ("nginx:", "bad tag"),
        ("nginx:-bad", "bad tag"),
        ("nginx@sha256:abc", "bad digest"),
        ("nginx@md5:" + String(repeating: "a", count: 32), "bad digest"),
        ("nginx@sha256:" + String(repeating: "A", count: 64), "bad digest"),
        ("a//b", "empty path component"),
        ("a/b/", "empty path component"),
        ("has space", "white space"),
        ("a/.b", "bad path component"),
        ("a/b-", "bad path component"),
        ("localhost:abc/x", "bad registry host"),
        ("-host.com/x", "bad registry host"),
        (":tag", "no repository"),
        ("nginx:" + String(repeating: "t", count: 129), "bad tag"),
        ("x/" + String(repeating: "a", count: 260), "longer than 255"),
    ])
    func refusesBadReferencesNamingThem(input: String, why: String) {
        do {
            _ = try ImageReference(parsing: input)
            Issue.record("\(input) was accepted")
        } catch {
            #expect(error.code == .invalidReference)
            #expect(error.message.contains(why), "\(error.message)")
            #expect(error.message.contains("\"\(input.prefix(100))"), "the message names the reference: \(error.message)")
        }
    }

    @Test func partsAndEndpoints() throws {
        let r = try ImageReference(parsing: "nginx")
        #expect(r.registry == "docker.io" && r.repository == "library/nginx" && r.tag == "latest" && r.digest == nil)
        #expect(r.endpointHost == "registry-1.docker.io")
        #expect(r.manifestReference == "latest")
        let d = try ImageReference(parsing: "localhost:5000/a@sha256:" + String(repeating: "b", count: 64))
        #expect(d.tag == nil)
        #expect(d.manifestReference == "sha256:" + String(repeating: "b", count: 64))
        #expect(d.endpointHost == "localhost:5000")
    }
}

struct DigestAndPlatformTests {
    @Test func digestsAreValidatedBeforeUse() throws {
        let good = "sha256:" + String(repeating: "0123456789abcdef", count: 4)
        #expect(try Digest(parsing: good).description == good)
        for bad in [
            "sha256:", "sha256:../../etc/passwd" + String(repeating: "a", count: 40), "sha512:" + String(repeating: "a", count: 128),
            "nocolon", good + "0", good.uppercased(),
        ] {
            #expect(throws: ModelError.self) { try Digest(parsing: bad) }
        }
    }

    @Test(arguments: [
        ("linux/amd64", "linux/amd64"), ("amd64", "linux/amd64"), ("linux/x86_64", "linux/amd64"), ("linux/aarch64", "linux/arm64"),
        ("linux/arm64/v8", "linux/arm64"), ("linux/arm", "linux/arm/v7"), ("linux/arm/v6", "linux/arm/v6"),
        ("windows/amd64", "windows/amd64"),
    ])
    func platformsNormalise(input: String, expected: String) throws {
        #expect(try Platform(parsing: input).description == expected)
    }

    @Test func platformErrorsNameTheValue() {
        #expect(throws: ModelError.self) { try Platform(parsing: "linux//amd64") }
        do { _ = try Platform(parsing: "a/b/c/d") } catch { #expect(error.message.contains("a/b/c/d")) }
    }

    @Test func platformMatching() {
        let arm64 = Platform(os: "linux", architecture: "arm64")
        #expect(arm64.matches(Platform(os: "linux", architecture: "aarch64", variant: "v8")))
        #expect(!arm64.matches(Platform(os: "linux", architecture: "amd64")))
        #expect(Platform(os: "linux", architecture: "amd64").matches(Platform(os: "linux", architecture: "amd64", variant: "v3")))
    }
}
