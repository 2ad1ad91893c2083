import Foundation
import IMCModel
import Testing

struct TimestampTests {
    @Test(arguments: [
        ("2023-11-14T22:13:20Z", 1_700_000_000.0),
        ("2023-11-14T22:13:20.25Z", 1_700_000_000.25),
        ("2023-11-15T06:13:20+08:00", 1_700_000_000.0),
        ("2023-11-14t22:13:20.000000005z", 1_700_000_000.000000005),
    ])
    func rfc3339IsRead(text: String, seconds: Double) throws {
        let date = try #require(Date(rfc3339: text))
        #expect(abs(date.timeIntervalSince1970 - seconds) < 1e-6)
    }

    @Test(arguments: [
        "", "yesterday", "2023-11-14", "2023-11-14T22:13:20", "2023-13-14T22:13:20Z", "2023-11-31T22:13:20Z", "2023-11-14T22:13:20.Z",
        "2023-11-14 22:13:20Z", "2023-11-14T22:13:20Z trailing",
    ])
    func whatIsNotRfc3339IsNil(text: String) {
        #expect(Date(rfc3339: text) == nil)
    }

    @Test func writtenAndReadBack() {
        let date = Date(timeIntervalSince1970: 1_765_000_000)
        #expect(Date(rfc3339: date.rfc3339) == date)
    }
}
