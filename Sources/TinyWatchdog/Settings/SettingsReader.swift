import TinyBase

/// Reads a settings object member by member, so that one mistake costs as
/// little as possible and its message says where it is (line:column) and
/// which key it is in:
/// - a missing "," between two members, and a "," before the closing "}"
///   (the two commonest slips when editing by hand), are reported and read
///   past: every member is kept;
/// - any other break ends the reading there: the members before it are
///   kept, the rest get their defaults, and the message says so;
/// - a key given twice: the first is kept.
package struct SettingsReader {
    package struct Member {
        package var key: String
        package var value: JSONValue
        /// Where its key is, for messages about its value.
        package var position: TextPosition
    }

    package var members: [Member] = []
    /// What was wrong with the text itself: the file is not what was meant.
    package var errors: [String] = []
    /// Read past, nothing lost.
    package var warnings: [String] = []

    package init(_ bytes: UnsafeRawBufferPointer, file: String) { read(bytes, file: file) }

    private mutating func read(_ bytes: UnsafeRawBufferPointer, file: String) {
        var s = JSONScanner(bytes)
        func at(_ offset: Int) -> TextPosition { TextPosition(of: offset, in: bytes) }
        guard (try? s.peek()) == UInt8(ascii: "{") else {
            return errors.append("\(file): not a JSON object (at \(at(s.offset))); using defaults")
        }
        s.offset += 1
        if (try? s.consume(UInt8(ascii: "}"))) == true { return finish(&s, bytes, file) }
        var last: String?
        while true {
            _ = try? s.peek()
            let keyOffset = s.offset
            let key: String
            do {
                key = s.decode(try s.string())
                try s.expect(UInt8(ascii: ":"))
                let value = try JSONValue.parseValue(&s)
                if members.contains(where: { $0.key == key }) {
                    warnings.append("\(file): \"\(AgentSettings.shown(key))\" given again at \(at(keyOffset)); the first one kept")
                } else {
                    members.append(Member(key: key, value: value, position: at(keyOffset)))
                }
            } catch {
                let place = last.map { " after \"\(AgentSettings.shown($0))\"" } ?? ""
                return broken(file, at(error.offset ?? s.offset), place, error.explanation(in: bytes))
            }
            last = key
            if (try? s.consume(UInt8(ascii: ","))) == true {
                if (try? s.peek()) == UInt8(ascii: "}") {
                    warnings.append("\(file): a \",\" before the closing \"}\" at \(at(s.offset)) (ignored)")
                    s.offset += 1
                    return finish(&s, bytes, file)
                }
                continue
            }
            if (try? s.consume(UInt8(ascii: "}"))) == true { return finish(&s, bytes, file) }
            if (try? s.peek()) == UInt8(ascii: "\"") {
                errors.append("\(file): a \",\" is missing at \(at(s.offset)) after \"\(AgentSettings.shown(key))\" (read as if it were there)")
                continue
            }
            // The value itself runs on ("3OO"): it is not what was meant either.
            if s.offset < bytes.count, members.last?.key == key { members.removeLast() }
            return broken(file, at(s.offset), " in \"\(AgentSettings.shown(key))\"", s.offset < bytes.count
                          ? "expected \",\" or \"}\", found \(JSONError.shown(s.offset, in: bytes))" : "the file ends before the closing \"}\"")
        }
    }

    private mutating func finish(_ s: inout JSONScanner, _ bytes: UnsafeRawBufferPointer, _ file: String) {
        s.skipWhitespace()
        if s.offset < bytes.count {
            warnings.append("\(file): text after the closing \"}\" at \(TextPosition(of: s.offset, in: bytes)) (ignored)")
        }
    }

    private mutating func broken(_ file: String, _ position: TextPosition, _ place: String, _ what: String) {
        let kept = members.isEmpty ? "using defaults" :
            "keeping the \(members.count) setting\(members.count == 1 ? "" : "s") before it, defaults for the rest"
        errors.append("\(file): not valid JSON at \(position)\(place): \(what); \(kept)")
    }
}

