import TinyBase

/// Why a state file was not used.
public enum StateFileError: Error, Equatable {
    /// Not opened, or not believed (`FileError.untrusted`: another user wrote it or could).
    case unreadable(FileError)
    /// Not JSON, a format this agent does not read, or a field missing.
    case malformed(String)

    public var reason: String {
        switch self {
        case .unreadable(let error): return "unreadable: \(error)"
        case .malformed(let why): return "malformed: \(why)"
        }
    }
}

/// The layout of a state file: one JSON object whose `format` member says
/// which version of the layout the rest is in.
public struct StateFormat: Sendable {
    /// The version written.
    public let current: Int64
    /// The oldest version still read (an agent upgraded in place reads what
    /// its predecessor wrote).
    public let oldest: Int64
    /// The version a file without a `format` member is read as: files
    /// written before the member existed. nil: such a file is malformed.
    public let unversioned: Int64?

    public init(_ current: Int64, readsFrom oldest: Int64? = nil, unversioned: Int64? = nil) {
        self.current = current
        self.oldest = oldest ?? current
        self.unversioned = unversioned
    }

    /// `{"format":N,` then what `fields` writes, `}` and a newline.
    public func encode(_ fields: (inout JSONWriter) -> Void) -> String {
        var w = JSONWriter()
        w.beginObject()
        w.key("format"); w.integer(current)
        fields(&w)
        w.endObject()
        return w.text + "\n"
    }

    /// Parses `bytes` and hands the document and its version to `body`; a
    /// version outside `oldest...current` is refused before `body` sees it
    /// (a newer agent's file may mean something this one would misread).
    public func decode<T>(_ bytes: [UInt8], _ body: (_ document: JSONValue, _ format: Int64) throws(StateFileError) -> T)
        throws(StateFileError) -> T {
        let document: JSONValue
        do { document = try JSONValue.parse(bytes) } catch { throw .malformed(error.reason) }
        guard document.objectValue != nil else { throw .malformed("not a JSON object") }
        let format: Int64
        if let member = document["format"] {
            guard let n = member.integerValue else { throw .malformed("format is not a number") }
            format = n
        } else {
            guard let unversioned else { throw .malformed("no format") }
            format = unversioned
        }
        guard format >= oldest && format <= current else {
            throw .malformed("unknown format \(format) (this agent reads \(oldest) to \(current))")
        }
        return try body(document, format)
    }
}

/// One of the agent's state files in `wdog/` (DESIGN.md §3): believed only
/// when it is the agent's own (root's), 0600, one name, and not a link — opened
/// relative to a folder descriptor with O_NOFOLLOW and checked with `fstat`
/// (`Folder.readTrusted`); written atomically (`name.new`, fsync, rename,
/// fsync the folder: `Folder.writeAtomically`). A file that cannot be used
/// is set aside as `NAME.bad` with one log line, and the agent goes on
/// without it.
public struct StateFile {
    /// The file's path, for messages.
    public let path: String
    package let name: String
    package let format: StateFormat
    /// The folder the caller holds open; nil: opened by its path at each use.
    private let held: Folder?
    private let folderPath: String
    package static let mode: UInt32 = 0o600

    public init(path: String, format: StateFormat) {
        self.path = path
        self.name = Files.name(of: path)
        self.folderPath = Files.parent(of: path)
        self.format = format
        self.held = nil
    }

    /// `name` in a folder the caller keeps open (and closes).
    public init(_ name: String, in folder: Folder, format: StateFormat) {
        self.path = "\(folder.path)/\(name)"
        self.name = name
        self.folderPath = folder.path
        self.format = format
        self.held = folder
    }

    /// The decoded file; nil when there is none.
    package func read<T>(_ decode: (_ document: JSONValue, _ format: Int64) throws(StateFileError) -> T) throws(StateFileError) -> T? {
        let bytes: [UInt8]?
        do { bytes = try inFolder { (folder) throws(FileError) in try folder.readTrusted(name) } } catch {
            throw .unreadable(error)
        }
        guard let bytes else { return nil }
        return try format.decode(bytes, decode)
    }

    /// `read`, but a file that cannot be used is set aside as `NAME.bad`
    /// (replacing an older one; kept for a person to look at, and the next
    /// start does not trip over it again) and reads as none. `consequence`
    /// says what the agent does without it.
    public func load<T>(logger: Logger, ifBad consequence: String,
                        _ decode: (_ document: JSONValue, _ format: Int64) throws(StateFileError) -> T) -> T? {
        do { return try read(decode) } catch {
            logger.error("\(path): \(error.reason); \(consequence) (kept as \(name).bad)")
            try? inFolder { (folder) throws(FileError) -> Void in
                do throws(Errno) { try folder.rename(name, to: name + ".bad") } catch { throw .system(error) }
            }
            return nil
        }
    }

    /// Replaces the file with `text` (made by `format.encode`), root's 0600.
    public func write(_ text: String) throws(FileError) {
        try inFolder { (folder) throws(FileError) in try folder.writeAtomically(name, bytes: Array(text.utf8), mode: StateFile.mode) }
    }

    /// Removes the file (what it held is done with), durably: a power cut
    /// after this does not bring it back.
    public func remove() {
        try? inFolder { (folder) throws(FileError) -> Void in
            folder.remove(name)
            try? folder.fd.sync()
        }
    }

    private func inFolder<T>(_ body: (Folder) throws(FileError) -> T) throws(FileError) -> T {
        if let held { return try body(held) }
        let folder = try Folder.open(folderPath)
        defer { folder.close() }
        return try body(folder)
    }
}
