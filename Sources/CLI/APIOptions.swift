import ArgumentParser
import Foundation
import IMCAPI
import IMCClient

/// How the CLI reaches the service: flags, or the SDKs' environment variables.
struct APIOptions: ParsableArguments {
    @Option(help: "The service, HOST:PORT (default $IMC_ENDPOINT or 127.0.0.1:8080).")
    var endpoint: String?

    @Option(help: "SecretId (default $TENCENTCLOUD_SECRET_ID).")
    var secretId: String?

    @Option(help: "A file holding the SecretKey (default $TENCENTCLOUD_SECRET_KEY); never the key itself, which `ps` would show.")
    var secretKeyFile: String?

    @Option(help: "Region (default $TENCENTCLOUD_REGION or ap-guangzhou).")
    var region: String?

    @Flag(help: "Print JSON for scripts instead of tables.")
    var json = false

    func client() throws -> APIClient {
        let c = try credentials()
        return APIClient(.init(endpoint: c.endpoint, secretID: c.secretID, secretKey: c.secretKey, region: c.region))
    }

    /// Where the service is and the key to it, from the options, else the environment.
    func credentials() throws -> (endpoint: String, secretID: String, secretKey: String, region: String) {
        let env = ProcessInfo.processInfo.environment
        var fileKey: String?
        if let secretKeyFile {
            guard let data = FileManager.default.contentsOfFile(secretKeyFile) else {
                throw ValidationError("--secret-key-file \(secretKeyFile): cannot read it")
            }
            fileKey = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        guard let id = secretId ?? env["TENCENTCLOUD_SECRET_ID"], let key = fileKey ?? env["TENCENTCLOUD_SECRET_KEY"] else {
            throw ValidationError(
                "no credentials: pass --secret-id and --secret-key-file, or set TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY")
        }
        return (endpoint ?? env["IMC_ENDPOINT"] ?? "127.0.0.1:8080", id, key, region ?? env["TENCENTCLOUD_REGION"] ?? "ap-guangzhou")
    }

    /// Runs `body` with a client, shutting it down after; API errors become a message and exit 1.
    func with<T>(_ body: (APIClient) async throws -> T) async throws -> T {
        let client = try client()
        do {
            let result = try await body(client)
            try await client.shutdown()
            return result
        } catch let e as APIError {
            try? await client.shutdown()
            if json { print(Self.render(["Error": ["Code": e.code, "Message": e.message]] as [String: [String: String]])) }
            FileHandle.standardError.write(Data("imc: error: \(e.code): \(e.message)\n".utf8))
            throw ExitCode(1)
        } catch {
            try? await client.shutdown()
            throw error
        }
    }

    /// JSON for scripts: the API's own field names, indented, sorted.
    static func render(_ value: some Encodable) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(value) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }
}

/// A plain text table.
func table(_ header: [String], _ rows: [[String]]) -> String {
    var widths = header.map(\.count)
    for row in rows { for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], cell.count) } }
    func line(_ cells: [String]) -> String {
        cells.enumerated().map { i, c in i == cells.count - 1 ? c : c.padding(toLength: widths[i], withPad: " ", startingAt: 0) }.joined(
            separator: "   ")
    }
    return ([line(header)] + rows.map(line)).joined(separator: "\n")
}

/// "3m", "2h", "5d" since an ISO-8601 time.
func age(_ iso: String?) -> String {
    guard let s = iso, let date = try? Date(s, strategy: .iso8601) else { return "-" }
    let seconds = Int(Date().timeIntervalSince(date))
    if seconds < 120 { return "\(max(0, seconds))s" }
    if seconds < 7200 { return "\(seconds / 60)m" }
    if seconds < 172_800 { return "\(seconds / 3600)h" }
    return "\(seconds / 86400)d"
}
