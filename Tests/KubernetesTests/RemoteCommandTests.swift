import Foundation
import IMCDocuments
import Testing

@testable import IMCKubernetes

/// The remote command protocol's pure parts: what an exec or attach asks, the subprotocol
/// chosen, and the messages that end a command as client-go reads them.
struct RemoteCommandTests {
    @Test func anExecsQueryIsReadAsTheAPIServerReadsIt() throws {
        let options = try RemoteCommand.options(
            query: "command=%2Fbin%2Fsh&command=-c&command=echo+hi&container=main&stdin=true&stdout=1&stderr=false&tty=t",
            needsCommand: true)
        #expect(options.command == ["/bin/sh", "-c", "echo hi"])
        #expect(options.container == "main")
        #expect(options.stdin && options.stdout && !options.stderr && options.tty)
    }

    @Test(arguments: [
        ("stdout=true", true, "at least one command"),
        ("command=ls", true, "at least 1 of stdin, stdout, stderr"),
        ("command=ls&stdout=true&stderr=true&tty=true", true, "tty and stderr"),
        ("command=ls&stdout=maybe", true, "stdout must be true or false"),
        ("command=ls&stdout=true&evil=1", true, "evil is not a parameter"),
        ("command=ls&stdout=true", false, "command is not a parameter of attach"),
    ])
    func aBadQueryIsRefusedNamingWhy(query: String, exec: Bool, says: String) {
        #expect {
            try RemoteCommand.options(query: query, needsCommand: exec)
        } throws: { error in
            "\(error)".contains(says)
        }
    }

    @Test func v5IsChosenOverV4AndNothingElseIsTaken() {
        #expect(RemoteCommand.chosen(["v4.channel.k8s.io, v5.channel.k8s.io"]) == "v5.channel.k8s.io")
        #expect(RemoteCommand.chosen(["v4.channel.k8s.io"]) == "v4.channel.k8s.io")
        #expect(RemoteCommand.chosen(["channel.k8s.io", "base64.channel.k8s.io"]) == nil)
        #expect(RemoteCommand.chosen([]) == nil)
    }

    @Test func theEndingCarriesTheExitCodeAsClientGoReadsIt() throws {
        let success = try #require(JSON.parse(RemoteCommand.ending(exitCode: 0)))
        #expect(success["status"]?.string == "Success")
        let failure = try #require(JSON.parse(RemoteCommand.ending(exitCode: 7)))
        #expect(failure["status"]?.string == "Failure" && failure["reason"]?.string == "NonZeroExitCode")
        let cause = try #require(failure["details"]?["causes"]?.array?.first)
        #expect(cause["reason"]?.string == "ExitCode" && cause["message"]?.string == "7")
        // client-go reads the code as an 8-bit number: a signal's 128+n stays within it.
        let killed = try #require(JSON.parse(RemoteCommand.ending(exitCode: 137)))
        #expect(killed["details"]?["causes"]?.array?.first?["message"]?.string == "137")
        #expect(JSON.parse(RemoteCommand.ending(exitCode: 4000))?["details"]?["causes"]?.array?.first?["message"]?.string == "255")
    }

    @Test func aResizeIsTakenOnlyWhenItIsATerminalsSize() {
        #expect(RemoteCommand.size(Array(#"{"Width":120,"Height":40}"#.utf8))! == (120, 40))
        #expect(RemoteCommand.size(Array(#"{"Width":0,"Height":40}"#.utf8)) == nil)
        #expect(RemoteCommand.size(Array(#"{"Width":100000,"Height":40}"#.utf8)) == nil)
        #expect(RemoteCommand.size(Array("not json".utf8)) == nil)
        #expect(RemoteCommand.size([UInt8](repeating: 32, count: 4096)) == nil)
    }
}
