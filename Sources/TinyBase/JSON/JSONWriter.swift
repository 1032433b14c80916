/// Builds compact JSON text.
public struct JSONWriter {
    public private(set) var text = ""
    private var needsComma = false

    public init() {}

    public mutating func beginObject() { separator(); text += "{"; needsComma = false }
    public mutating func endObject() { text += "}"; needsComma = true }
    public mutating func beginArray() { separator(); text += "["; needsComma = false }
    public mutating func endArray() { text += "]"; needsComma = true }

    /// A member name; the value follows with one of the value calls.
    public mutating func key(_ name: String) {
        separator()
        appendQuoted(name)
        text += ":"
        needsComma = false
    }

    public mutating func string(_ value: String) { separator(); appendQuoted(value); needsComma = true }
    public mutating func integer<T: BinaryInteger>(_ value: T) { separator(); text += "\(value)"; needsComma = true }
    public mutating func bool(_ value: Bool) { separator(); text += value ? "true" : "false"; needsComma = true }
    public mutating func null() { separator(); text += "null"; needsComma = true }
    /// A value that is already JSON text (written by another `JSONWriter`).
    public mutating func raw(_ json: String) { separator(); text += json; needsComma = true }

    public mutating func value(_ value: JSONValue) {
        switch value {
        case .null: null()
        case .bool(let b): bool(b)
        case .integer(let i): integer(i)
        case .number(let n): separator(); text += n; needsComma = true
        case .string(let s): string(s)
        case .array(let items):
            beginArray()
            for item in items { self.value(item) }
            endArray()
        case .object(let members):
            beginObject()
            for (k, v) in members { key(k); self.value(v) }
            endObject()
        }
    }

    private mutating func separator() {
        if needsComma { text += "," }
        needsComma = false
    }

    private mutating func appendQuoted(_ value: String) {
        text += "\""
        var plainStart = value.utf8.startIndex
        var index = plainStart
        let hex: [Character] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "a", "b", "c", "d", "e", "f"]
        while index != value.utf8.endIndex {
            let byte = value.utf8[index]
            if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") || byte < 0x20 {
                text += String(value[plainStart..<index])
                switch byte {
                case UInt8(ascii: "\""): text += "\\\""
                case UInt8(ascii: "\\"): text += "\\\\"
                case 0x0A: text += "\\n"
                case 0x0D: text += "\\r"
                case 0x09: text += "\\t"
                default:
                    text += "\\u00"
                    text.append(hex[Int(byte >> 4)])
                    text.append(hex[Int(byte & 0xF)])
                }
                plainStart = value.utf8.index(after: index)
            }
            index = value.utf8.index(after: index)
        }
        text += String(value[plainStart..<index])
        text += "\""
    }
}
