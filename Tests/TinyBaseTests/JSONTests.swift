import Testing
@testable import TinyBase

@Suite struct JSONTests {
    @Test func documentsParseIntoValues() throws {
        let value = try JSONValue.parse(#"{"a": [1, -2, 3.5, true, false, null], "b": {"c": "d\u00e9\n"}}"#)
        #expect(value["a"] == .array([.integer(1), .integer(-2), .number("3.5"), .bool(true), .bool(false), .null]))
        #expect(value["b"]?["c"]?.stringValue == "dé\n")
    }

    @Test func writerOutputParsesBackToTheSameValue() throws {
        let original = JSONValue.object([
            ("quote\"and\\slash", .string("line\nbreak\ttab \u{1} é 😀")),
            ("n", .integer(Int64.min)), ("list", .array([.null, .bool(true), .object([])])),
        ])
        var w = JSONWriter()
        w.value(original)
        #expect(try JSONValue.parse(w.text) == original)
    }

    @Test func surrogatePairsDecodeToOneScalar() throws {
        #expect(try JSONValue.parse(#""\ud83d\ude00""#).stringValue == "😀")
    }

    @Test(arguments: [
        "", "{", "[1,]", #"{"a":1,}"#, #"{"a" 1}"#, "01", "1.", "-", "1e", "tru", #"{"a":1}{"#,
        #""\x""#, #""\u12""#, #"{"a":1,"a":2}"#, #""\ud800""#,
    ])
    func malformedDocumentsAreRefused(_ text: String) {
        #expect(throws: JSONError.self) { try JSONValue.parse(text) }
    }

    @Test func nestingIsBounded() {
        let deep = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(throws: JSONError.tooDeep) { try JSONValue.parse(deep) }
    }

    @Test func integersBeyondInt64AreKeptAsText() throws {
        #expect(try JSONValue.parse("9223372036854775807") == .integer(Int64.max))
        #expect(try JSONValue.parse("9223372036854775808") == .number("9223372036854775808"))
        #expect(try JSONValue.parse("-9223372036854775808") == .integer(Int64.min))
    }
}
