import Crypto
import Foundation
import IMCDoors

/// The bearer token of an API key for the Kubernetes door: `imc.` + the SecretId + `.` + an
/// HMAC-SHA256 of the SecretId under the SecretKey. Nothing is stored: the server checks a token
/// against the key it names, so a key's tokens die with the key.
public enum KubernetesToken {
    public static func token(secretID: String, secretKey: String) -> String {
        "imc.\(secretID).\(mac(secretID: secretID, secretKey: secretKey))"
    }

    static func mac(secretID: String, secretKey: String) -> String {
        let code = HMAC<SHA256>.authenticationCode(
            for: Data("imc-kubernetes:\(secretID)".utf8), using: SymmetricKey(data: Data(secretKey.utf8)))
        return code.map { String(format: "%02x", $0) }.joined()
    }

    /// The account whose key made `token`, compared in constant time; nil for anything else.
    public static func account(of token: String, accounts: Accounts) -> String? {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "imc", parts[1].count <= 128, let key = accounts.key(for: String(parts[1])) else { return nil }
        let expected = Array(mac(secretID: key.secretID, secretKey: key.secretKey).utf8)
        let given = Array(parts[2].utf8)
        guard expected.count == given.count else { return nil }
        var difference: UInt8 = 0
        for i in expected.indices { difference |= expected[i] ^ given[i] }
        return difference == 0 ? key.account : nil
    }
}
