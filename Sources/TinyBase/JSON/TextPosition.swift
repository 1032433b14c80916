/// Where a byte offset is in a text, as an editor shows it: 1-based line
/// and column (columns count bytes; a tab is one). For messages that point
/// at a mistake in a file or a datagram.
package struct TextPosition: Equatable, CustomStringConvertible {
    package var line: Int
    package var column: Int

    package init(of offset: Int, in bytes: UnsafeRawBufferPointer) {
        var line = 1
        var lineStart = 0
        for i in 0..<min(max(offset, 0), bytes.count) where bytes[i] == 0x0A {
            line += 1
            lineStart = i + 1
        }
        self.line = line
        column = offset - lineStart + 1
    }

    package var description: String { "\(line):\(column)" }
}
