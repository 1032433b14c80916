import TinyBase

/// Caps that keep a hostile or broken archive from filling the disk or
/// running for ever.
public struct ExtractionLimits: Equatable, Sendable {
    /// Entries in the archive, counted in the central directory (ignored
    /// ones included).
    public var maximumEntries: Int
    /// Total uncompressed bytes of the `SmartMeter/` entries: declared sizes
    /// are checked before anything is written, and the bytes really written
    /// are held to each entry's declared size.
    public var maximumBytes: Int64
    /// An entry larger than `ratioFloor` (1 MiB) may unpack to at most this
    /// many times its compressed size; smaller entries may compress as well
    /// as they like (a small file of zeros is not a bomb).
    public var maximumRatio: Int64
    /// Free space to leave on the file system of the staging folder.
    public var reserveBytes: Int64

    public static let ratioFloor: Int64 = 1 << 20

    public init(maximumEntries: Int = 10_000, maximumBytes: Int64 = 512 << 20,
                maximumRatio: Int64 = 100, reserveBytes: Int64 = 16 << 20) {
        self.maximumEntries = maximumEntries
        self.maximumBytes = maximumBytes
        self.maximumRatio = maximumRatio
        self.reserveBytes = reserveBytes
    }
}

/// What an extraction wrote.
public struct Extraction: Equatable, Sendable {
    /// Regular files written (`SmartMeter/`, the CA, the programs).
    public var files: Int
    /// Folders created under the staging folder, `SmartMeter` included.
    public var folders: Int
    /// Bytes written.
    public var bytes: Int64
    /// Entries not unpacked, in archive order, each once: top-level ones
    /// (e.g. `__MACOSX/`, `README.txt`) by their top name, ones under `certs/`
    /// and `bin/` whole (e.g. `bin/helper.sh`).
    public var ignored: [String]
    /// `SmartMeter/tinyagent.json`, when the archive has one.
    public var manifest: UpdateManifest?

    public init(files: Int = 0, folders: Int = 0, bytes: Int64 = 0, ignored: [String] = [], manifest: UpdateManifest? = nil) {
        self.files = files
        self.folders = folders
        self.bytes = bytes
        self.ignored = ignored
        self.manifest = manifest
    }
}
